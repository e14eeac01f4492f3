"""Metric writers: the TensorFlow-free writer's events read back exactly like CLU's (tags,
steps, values, plugins, images, hparams); progress reports every few steps and at the end."""

import io

import numpy as np
import pytest
from PIL import Image

from whispersign_jax import metric_writers

SCALARS = {"loss/total": 1.2345678, "val/accuracy": 0.75, "samples": 300, "lr": 1e-5}
HPARAMS = {"model.d_model": 64, "stage2.lr": 1e-3, "data.source": "synthetic", "flag": True}


def write_everything(writer) -> None:
    rng = np.random.default_rng(0)
    writer.write_hparams(HPARAMS)
    writer.write_scalars(1, SCALARS)
    writer.write_scalars(7, {"loss/total": 0.5})
    image = rng.integers(0, 256, (1, 6, 9, 3), dtype=np.uint8)  # (batch, height, width, rgb)
    writer.write_images(7, {"confusion_matrix": image})
    writer.close()


def read_events(logdir) -> dict[str, list]:
    """{tag: [(step, plugin, value)]}: scalars as floats, images as (width, height, pixels),
    hparams as their dict."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import metadata as hparams_metadata
    from tensorboard.util.tensor_util import make_ndarray

    events = EventAccumulator(str(logdir), size_guidance={"tensors": 0}).Reload()
    read = {}
    for tag in events.Tags()["tensors"]:
        plugin = events.SummaryMetadata(tag).plugin_data
        values = []
        for event in events.Tensors(tag):
            value = make_ndarray(event.tensor_proto)
            if plugin.plugin_name == "images":
                width, height, *pngs = value.tolist()
                pixels = [np.asarray(Image.open(io.BytesIO(png))) for png in pngs]
                value = (width, height, np.stack(pixels).tolist())
            elif plugin.plugin_name == "hparams":
                info = hparams_metadata.parse_session_start_info_plugin_data(plugin.content)
                value = {name: str(hparam) for name, hparam in info.hparams.items()}
            else:
                assert value.dtype == np.float32 and value.shape == ()
                value = float(value)
            values.append((event.step, plugin.plugin_name, value))
        read[tag] = values
    return read


def test_event_writer_reads_back_like_clus_writer(tmp_path):
    pytest.importorskip("tensorflow")
    clu_writer = metric_writers.create_writer(str(tmp_path / "clu"))
    assert not isinstance(clu_writer, metric_writers.EventFileWriter)  # TensorFlow is here
    write_everything(clu_writer)
    write_everything(metric_writers.EventFileWriter(str(tmp_path / "plain")))

    clu, plain = read_events(tmp_path / "clu"), read_events(tmp_path / "plain")
    assert set(plain) == {*SCALARS, "confusion_matrix", "_hparams_/session_start_info"}
    assert plain == clu
    assert plain["loss/total"] == [(1, "scalars", np.float32(1.2345678)), (7, "scalars", 0.5)]
    assert plain["confusion_matrix"][0][2][:2] == (b"9", b"6")  # width, height


def test_just_logging_writes_no_files(tmp_path, caplog):
    writer = metric_writers.EventFileWriter(None)
    with caplog.at_level("INFO"):
        write_everything(writer)
    assert list(tmp_path.iterdir()) == []
    assert "[1] loss/total=1.23457, lr=1e-05, samples=300, val/accuracy=0.75" in caplog.text


class RecordingWriter:
    def __init__(self):
        self.written = []

    def write_scalars(self, step, scalars):
        self.written.append((step, sorted(scalars)))


def test_progress_reports_every_few_steps_and_at_the_end(caplog):
    writer = RecordingWriter()
    progress = metric_writers.ReportProgress(num_train_steps=9, writer=writer, every_steps=4)
    with caplog.at_level("INFO"):
        reported = [step for step in range(3, 10) if progress(step)]  # resumed at step 2
    assert reported == [4, 8, 9]  # the first call (step 3) starts the clock
    assert writer.written == [(step, ["steps_per_sec", "uptime"]) for step in reported]
    assert "(8/9), ETA: 0m" in caplog.text
    assert metric_writers.format_seconds(123456.7) == "1d10h17m"
