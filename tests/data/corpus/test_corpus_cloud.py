"""A corpus written to cloud storage (``gs://`` on a local emulator, ``tests/gcs_emulator.py``)
holds what the same preparation writes to a local folder, and training reads its shards there
(ArrayRecord's GCS reader) into the batches the local corpus gives."""

from __future__ import annotations

import ml_collections
import numpy as np
from corpus_checks import assert_same_corpus, failures, mp_data_folder
from etils import epath
from gcs_emulator import gcs_emulator

from whispersign_jax.data import sources
from whispersign_jax.data.augment import AugmentConfig
from whispersign_jax.data.batching import TrainBatches, eval_batches
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus import beam
from whispersign_jax.data.corpus.jobs import (
    ClipMaker,
    synthetic_config,
    synthetic_counts,
    synthetic_jobs,
    write_jobs,
)
from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.corpus.writer import CorpusWriter
from whispersign_jax.data.prepare.cli import main as prepare


def download(remote: str, local) -> None:
    """Copies the files of ``remote`` (gs://...) and of its subfolders to ``local``."""
    for path in [*epath.Path(remote).glob("*"), *epath.Path(remote).glob("*/*")]:
        if path.is_file():
            target = local / str(path)[len(remote) + 1 :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())


def test_corpus_prepared_to_gcs_equals_the_local_corpus(tmp_path, monkeypatch, capsys):
    data = mp_data_folder(tmp_path / "MP_Data")
    argv = ["--format", "mp_data", "--data_dir", str(data), "--layout", "corpus"]
    assert prepare([*argv, "--output_dir", str(tmp_path / "local")]) == 0
    monkeypatch.chdir(tmp_path)  # a gs:// path opened as a local one would land here
    with gcs_emulator(monkeypatch):
        assert prepare([*argv, "--clips_per_shard", "4", "--output_dir", "gs://bucket/c"]) == 0
        assert "to gs://bucket/c (corpus layout)" in capsys.readouterr().out
        remote = Corpus("gs://bucket/c")  # its small files, read through epath
        assert remote.vocabulary.label_map() == Corpus(tmp_path / "local").vocabulary.label_map()
        assert len(list(epath.Path("gs://bucket/c/train").glob("*.array_record"))) == 3
        download("gs://bucket/c", tmp_path / "downloaded")
        assert_reads_alike(remote, Corpus(tmp_path / "local"))
    assert not (tmp_path / "gs:").exists()
    assert_same_corpus(tmp_path / "local", tmp_path / "downloaded")
    assert failures(tmp_path / "downloaded") == failures(tmp_path / "local")
    assert not list((tmp_path / "downloaded").rglob(".corpus.json*"))  # written whole


def test_beam_with_two_processes_writes_to_gcs_the_corpus_of_one_local_process(
    tmp_path, monkeypatch
):
    config = synthetic_config(14)
    jobs, maker = (
        synthetic_jobs(config, synthetic_counts(config, 14)),
        ClipMaker("hands", synthetic=config),
    )
    with CorpusWriter(tmp_path / "one", "hands", clips_per_shard=4) as writer:
        write_jobs(jobs, writer, maker)
    monkeypatch.chdir(tmp_path)
    two_processes = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    with gcs_emulator(monkeypatch):  # its settings reach the worker processes too
        written = beam.run_pipeline(
            jobs, maker, "gs://bucket/beam", clips_per_shard=4, beam_args=two_processes
        )
        assert written["failures"] == 0 and sum(written.values()) == len(jobs)
        assert not list(epath.Path("gs://bucket/beam").glob(".jobs-*"))  # removed when done
        download("gs://bucket/beam", tmp_path / "beam")
    assert not (tmp_path / "gs:").exists()
    assert_same_corpus(tmp_path / "one", tmp_path / "beam")


def assert_reads_alike(remote: Corpus, local: Corpus) -> None:
    """Every clip, the training batches of two epochs and the evaluation batches read from
    the remote shards equal the local corpus's."""
    for split in SPLITS:
        assert len(remote.split(split)) == len(local.split(split)) > 0, split
        for one, other in zip(remote.split(split), local.split(split), strict=True):
            np.testing.assert_array_equal(one.keypoints, other.keypoints)
            np.testing.assert_array_equal(one.labels, other.labels)
    preprocess = local.preprocessor(True, True)
    settings = dict(batch_size=4, buckets=(8,), max_labels=1, seed=3,
                    augmentation=AugmentConfig(), preprocess=preprocess)  # fmt: skip
    far, near = (
        TrainBatches(remote.split("train"), **settings),
        TrainBatches(local.split("train"), **settings),
    )
    for step in range(2 * near.steps_per_epoch):
        assert_batches_equal(far[step], near[step], f"at step {step}")
    for (rows, one), (same_rows, other) in zip(eval_batches(remote.split("test"), 4, (8,), 1),
                                               eval_batches(local.split("test"), 4, (8,), 1),
                                               strict=True):  # fmt: skip
        np.testing.assert_array_equal(rows, same_rows)
        assert_batches_equal(one, other)
    data = ml_collections.ConfigDict({"source": "corpus", "dir": str(remote.root), "name": "",
                                      "keypoints": "hands", "normalize_hands": True,
                                      "standardize": True})  # fmt: skip
    vocabulary, splits = sources.load_splits(data)  # what training opens
    assert vocabulary.label_map() == local.vocabulary.label_map()
    assert sources.fit_preprocessor(data, splits["train"]) == local.preprocessor(True, True)


def assert_batches_equal(one: dict, two: dict, message: str = "") -> None:
    assert one.keys() == two.keys()
    for name in one:
        np.testing.assert_array_equal(one[name], two[name], err_msg=f"{name} {message}")
