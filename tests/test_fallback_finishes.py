"""A rerun after a damaged newest checkpoint falls back to the step before it, moves the
damaged step to the quarantine and trains on to the end, equal to an uninterrupted run
(issue 26, item 1)."""

import json
import os
import shutil
import signal

import jax
import numpy as np
import pytest
from checkpoint_damage import damage
from conftest import tiny_training_config

from whispersign_jax.data import input_pipeline
from whispersign_jax.runs import trained
from whispersign_jax.runs.checkpointing import NOTE, QUARANTINE, StageCheckpoints
from whispersign_jax.training import train
from whispersign_jax.training.stop_signals import TrainingStoppedError

STOP_AT = 9  # SIGTERM after step 9 leaves latest/{6, 9}


def config():
    """18 steps of stage 2, a checkpoint and a validation every 3; early stopping that never
    stops but counts: only a 90% lower validation loss is an improvement, so its state (the
    validations since the best) differs when a validation is counted twice."""
    config = tiny_training_config(stage2=3)
    config.run_stages = ("stage2",)
    config.checkpoint_every_steps = 3
    config.eval_every_steps = 3
    config.early_stopping.patience = 0
    config.early_stopping.min_delta = 0.9
    return config


def final_state(workdir):
    """The best model, the last latest checkpoint's record and its parameters."""
    checkpoints = StageCheckpoints(workdir / "stage2")
    record = StageCheckpoints.record(checkpoints.latest)
    target = trained.load_trained(workdir)
    latest = StageCheckpoints.restore(checkpoints.latest, target.variables)
    checkpoints.close()
    return target, record, latest[0]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("straight")
    train.train_and_evaluate(config(), str(workdir))
    return workdir


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """A workdir stopped by SIGTERM after step 9: latest/{6, 9}."""
    workdir = tmp_path_factory.mktemp("stopped")
    original = input_pipeline.train_batches

    def terminate_after_step_9(batches, start_step, total_steps, **kwargs):
        pipeline = original(batches, start_step, total_steps, **kwargs)
        for step, batch in zip(range(start_step, total_steps), pipeline, strict=True):
            if step == STOP_AT - 1:
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch

    input_pipeline.train_batches = terminate_after_step_9
    try:
        with pytest.raises(TrainingStoppedError, match=f"stopped stage2 at step {STOP_AT}"):
            train.train_and_evaluate(config(), str(workdir))
    finally:
        input_pipeline.train_batches = original
    checkpoints = StageCheckpoints(workdir / "stage2")
    assert checkpoints.latest.all_steps() == [6, STOP_AT]
    checkpoints.close()
    return workdir


@pytest.mark.parametrize("how", ["truncate", "overwrite"])
def test_a_fallback_finishes_equal_to_an_uninterrupted_run(
    tmp_path, caplog, straight, stopped, how
):
    workdir = tmp_path / "run"
    shutil.copytree(stopped, workdir)
    latest_dir = workdir / "stage2" / "checkpoints" / "latest"
    damage(latest_dir / str(STOP_AT), how)
    with caplog.at_level("WARNING"):
        train.train_and_evaluate(config(), str(workdir))  # used to stop at step 9

    (moved,) = (latest_dir / QUARANTINE).iterdir()
    assert moved.name.startswith(f"{STOP_AT}-")
    assert (moved / str(STOP_AT) / "metadata").is_dir()  # the whole step, as it was
    note = (moved / NOTE).read_text()
    assert f"latest/{STOP_AT}" in note and "The run went on from step 6." in note
    assert f"Moved step {STOP_AT} of {latest_dir} to {moved}" in caplog.text

    expected, expected_record, expected_latest = final_state(straight)
    resumed, resumed_record, resumed_latest = final_state(workdir)
    assert resumed_record.step == expected_record.step == 18
    for a, b in zip(jax.tree.leaves(expected_latest), jax.tree.leaves(resumed_latest), strict=True):
        np.testing.assert_array_equal(a, b)  # the data position and RNG follow the step
    assert resumed.step == expected.step
    for a, b in zip(
        jax.tree.leaves(expected.variables), jax.tree.leaves(resumed.variables), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    assert json.loads((workdir / "results.json").read_text()) == json.loads(
        (straight / "results.json").read_text()
    )


def test_a_fallback_finishes_with_the_early_stopping_state_of_the_step_it_restored(
    tmp_path, straight, stopped
):
    """Step 9's metadata stays readable (its arrays are altered), and it already counts the
    validation at step 9; the rerun validates step 9 again and must count it once."""
    workdir = tmp_path / "run"
    shutil.copytree(stopped, workdir)
    checkpoints = StageCheckpoints(workdir / "stage2")
    at_stop = StageCheckpoints.record(checkpoints.latest).early_stopping
    at_six = StageCheckpoints.record(checkpoints.latest, 6).early_stopping
    checkpoints.close()
    assert at_stop["stale"] == at_six["stale"] + 1  # the states differ
    damage(workdir / "stage2" / "checkpoints" / "latest" / str(STOP_AT), "overwrite")
    train.train_and_evaluate(config(), str(workdir))
    _, expected, _ = final_state(straight)
    _, resumed, _ = final_state(workdir)
    assert resumed.early_stopping == expected.early_stopping
    assert expected.early_stopping["stale"] == 5  # validations 6 to 18 did not count
