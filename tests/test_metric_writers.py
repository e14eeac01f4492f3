"""Metric writers: the TensorFlow-free writer's events read back exactly like CLU's (tags,
steps, values, plugins, images, hparams) and import no TensorFlow; progress reports every few
steps and at the end with an ETA that leaves compilations out."""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from whispersign_jax.training import metric_writers

SCALARS = {"loss/total": 1.2345678, "val/accuracy": 0.75, "samples": 300, "lr": 1e-5}
HPARAMS = {"model.d_model": 64, "stage2.lr": 1e-3, "data.source": "synthetic", "flag": True}
HPARAMS_TAG = "_hparams_/session_start_info"


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
    from clu.metric_writers import create_default_writer

    write_everything(create_default_writer(str(tmp_path / "clu")))
    write_everything(metric_writers.EventFileWriter(str(tmp_path / "plain")))

    clu, plain = read_events(tmp_path / "clu"), read_events(tmp_path / "plain")
    assert set(plain) == {*SCALARS, "confusion_matrix", HPARAMS_TAG}
    assert plain == clu
    assert plain["loss/total"] == [(1, "scalars", np.float32(1.2345678)), (7, "scalars", 0.5)]
    assert plain["confusion_matrix"][0][2][:2] == (b"9", b"6")  # width, height


def test_a_writer_without_a_folder_logs_and_opens_no_event_file(tmp_path, caplog, monkeypatch):
    """Processes other than the first get ``create_writer(None)``: the log lines, no file.
    Run from ``tmp_path``, where a relative fallback ("None", ".", "runs") would land; the
    same writes with a folder show what an event file there looks like."""
    monkeypatch.chdir(tmp_path)
    opened = []
    real_event_file = metric_writers.EventFile
    monkeypatch.setattr(
        metric_writers, "EventFile", lambda logdir: opened.append(logdir) or real_event_file(logdir)
    )
    with caplog.at_level("INFO"):
        write_everything(metric_writers.create_writer(None))
    assert opened == [] and list(tmp_path.iterdir()) == []
    assert "[1] loss/total=1.23457, lr=1e-05, samples=300, val/accuracy=0.75" in caplog.text

    write_everything(metric_writers.create_writer("events", log_values=False))
    assert opened == ["events"] and [p.name for p in tmp_path.iterdir()] == ["events"]
    assert read_events(tmp_path / "events")["loss/total"] == [
        (1, "scalars", np.float32(1.2345678)),
        (7, "scalars", 0.5),
    ]


WRITE_WITHOUT_TENSORFLOW = """
import sys
from whispersign_jax.training import metric_writers
from test_metric_writers import write_everything
write_everything(metric_writers.create_writer(sys.argv[1]))
loaded = sorted(name for name in sys.modules if name.split(".")[0] == "tensorflow")
print(loaded)
"""


def test_the_writer_never_imports_tensorflow(tmp_path):
    """Even where TensorFlow is installed: importing it costs seconds and prints C++ INFO
    lines (the oneDNN notice) into the training log."""
    pytest.importorskip("tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", WRITE_WITHOUT_TENSORFLOW, str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == "[]"
    assert set(read_events(tmp_path)) == {*SCALARS, "confusion_matrix", HPARAMS_TAG}


def test_a_writer_without_log_values_logs_nothing(tmp_path, caplog):
    with caplog.at_level("INFO"):
        write_everything(metric_writers.create_writer(str(tmp_path), log_values=False))
    assert caplog.text == ""
    assert read_events(tmp_path)["loss/total"] == [
        (1, "scalars", np.float32(1.2345678)),
        (7, "scalars", 0.5),
    ]


class RecordingWriter:
    def __init__(self):
        self.written = []

    def write_scalars(self, step, scalars):
        self.written.append((step, sorted(scalars)))


class FakeClock:
    """``time.monotonic``, moved by hand."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_every_few_steps_and_at_the_end(caplog):
    writer = RecordingWriter()
    progress = metric_writers.ReportProgress(num_train_steps=9, writer=writer, every_steps=4)
    with caplog.at_level("INFO"):
        reported = [step for step in range(3, 10) if progress(step)]  # resumed at step 2
    assert reported == [4, 8, 9]  # the first call (step 3) starts the clock
    assert writer.written == [(step, ["steps_per_sec", "uptime"]) for step in reported]
    assert "step 8/9 (89%, ETA " in caplog.text and "steps/s" in caplog.text


def test_progress_line_holds_the_scalars_and_an_eta_without_compile_time(caplog, monkeypatch):
    """Two steps a second, and a 30 s compilation at step 11 that the ETA leaves out."""
    clock, compiled = FakeClock(), [0.0]
    monkeypatch.setattr(metric_writers.time, "monotonic", clock)
    progress = metric_writers.ReportProgress(
        num_train_steps=250, writer=RecordingWriter(), every_steps=10, name="stage2",
        excluded_seconds=lambda: compiled[0],
    )  # fmt: skip
    with caplog.at_level("INFO"):
        for step in range(1, 21):
            if step == 11:
                clock.now += 30.0
                compiled[0] += 30.0
            clock.now += 0.5
            progress(
                step, {"loss/total": 1.234567, "frames_per_s": 15442.4} if step == 20 else None
            )
    lines = caplog.text.splitlines()
    assert lines[0].endswith("stage2 step 10/250 (4%, ETA 2 min): 2.0 steps/s")
    assert lines[1].endswith("stage2 step 20/250 (8%, ETA 1 min 55 s): loss/total=1.235, "
                             "frames_per_s=15442")  # fmt: skip
    progress.may_stop_early = True
    clock.now += 5.0
    with caplog.at_level("INFO"):
        progress(30)
    assert "(12%, ETA at most 1 min 50 s)" in caplog.text


@pytest.mark.parametrize(
    "seconds, shown",
    [(0.2, "1 s"), (12.0, "12 s"), (59.4, "1 min"), (200, "3 min 20 s"), (3600, "1 h 00 min"),
     (7500, "2 h 05 min"), (123456.7, "1 d 10 h")],
)  # fmt: skip
def test_durations_read_as_a_person_says_them(seconds, shown):
    assert metric_writers.format_duration(seconds) == shown


def test_scalars_show_their_tags_once_with_four_digits():
    shown = metric_writers.format_scalars(
        {"loss/total": 0.123456, "frames_per_s": 15442.4, "lr": 9.6e-4, "samples": 200}
    )
    assert shown == "loss/total=0.1235, frames_per_s=15442, lr=0.00096, samples=200"
