"""A workdir on cloud storage (``gs://`` on a local emulator, ``tests/gcs_emulator.py``):
training writes its checkpoints (Orbax through TensorStore), config, results and TensorBoard
events there (etils.epath), a rerun finds it finished, and evaluation reads it back."""

import json
import logging
import os

import numpy as np
import pytest
from conftest import tiny_training_config
from etils import epath
from gcs_emulator import gcs_emulator

from whispersign_jax.runs import trained
from whispersign_jax.training import train
from whispersign_jax.training.evaluator import evaluate_workdir

WORKDIR = "gs://bucket/runs/tiny"

# Opt-in: TensorStore's OCDBT writes through the emulator fail now and then ("Malformed
# StorageGeneration" on manifest.ocdbt: the emulator's object generations are not what
# TensorStore expects), so this cannot be a must-pass CI test. Passed 5 of 6 runs, 2026-12-07.
pytestmark = pytest.mark.skipif(
    os.environ.get("WHISPERSIGN_GCS_EMULATOR_TRAINING") != "1",
    reason="opt-in (WHISPERSIGN_GCS_EMULATOR_TRAINING=1): the GCS emulator is flaky under Orbax",
)


def test_a_workdir_on_gcs_trains_resumes_and_evaluates(tmp_path, monkeypatch, caplog):
    config = tiny_training_config()
    config.run_stages = ("stage1",)
    monkeypatch.chdir(tmp_path)  # a gs:// path opened as a local one would land here
    with gcs_emulator(monkeypatch), caplog.at_level(logging.WARNING):
        results = train.train_and_evaluate(config, WORKDIR)
        assert "has no file locks" in caplog.text
        workdir = epath.Path(WORKDIR)
        assert json.loads((workdir / "results.json").read_text()) == results
        assert json.loads((workdir / "config.json").read_text())["run_stages"] == ["stage1"]
        steps = [p.name for p in (workdir / "stage1" / "checkpoints" / "best").glob("*")]
        assert steps and all(name.isdigit() for name in steps)
        assert list((workdir / "stage1").glob("*/events.out.tfevents.*")) or list(
            (workdir / "stage1").glob("events.out.tfevents.*")
        )
        run = trained.load(WORKDIR)
        assert run.stage == "stage1" and run.step == max(map(int, steps))

        caplog.clear()
        with caplog.at_level(logging.INFO):
            assert train.train_and_evaluate(config, WORKDIR) == results  # already finished
        again = trained.load(WORKDIR)
        np.testing.assert_array_equal(jax_leaves(run.variables)[0], jax_leaves(again.variables)[0])
        summary = evaluate_workdir(WORKDIR, split="test")
        assert summary["report"].startswith(WORKDIR)
        assert (epath.Path(summary["report"]) / "metrics.json").is_file()
    assert not (tmp_path / "gs:").exists()


def jax_leaves(tree):
    import jax

    return jax.tree.leaves(tree)
