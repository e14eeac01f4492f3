"""Weights whose validation is not finite never become the best checkpoint, training that
diverged stops in one line whose advice works, and every JSON written is strict (issue 26,
item 2)."""

import json
import logging
import math
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, tiny_training_config

from whispersign_jax.cli import strict_json
from whispersign_jax.decoding.result import Recognition, RecognizedGloss, format_recognition
from whispersign_jax.runs.checkpointing import StageCheckpoints
from whispersign_jax.runs.workdir import ConfigMismatchError, check_config, untrained_stages
from whispersign_jax.training import actions, budget, evaluator, train

HUGE_LR = "1e35"  # steps 1-2 apply finite updates that leave weights near 5e34


def strict_loads(text: str):
    """``json.loads`` that refuses NaN and Infinity, as most JSON readers do."""

    def refuse(token):
        raise ValueError(f"not strict JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def best_steps(stage_dir) -> list[int]:
    checkpoints = StageCheckpoints(stage_dir)
    steps = checkpoints.best.all_steps()
    checkpoints.close()
    return list(steps)


def train_command(workdir, cache, lr: str) -> list[str]:
    return [
        sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py:quick",
        f"--workdir={workdir}", f"--config.compile_cache_dir={cache}",
        "--config.run_stages=stage1", "--config.evaluate_test=False",
        "--config.checkpoint_every_steps=3", f"--config.stages.stage1.lr={lr}",
    ]  # fmt: skip


def test_nonfinite_best_is_never_saved_and_the_printed_advice_works(tmp_path):
    """The quick demo's stage 1 with lr=1e35: its validation loss is NaN; the command ends in
    one line that says how to train the stage again, and doing that ends with a best."""
    workdir, cache = tmp_path / "run", tmp_path / "xla"
    diverged = subprocess.run(
        train_command(workdir, cache, HUGE_LR), cwd=REPO, capture_output=True, text=True
    )
    assert diverged.returncode == 1, diverged.stderr[-3000:]
    assert "Traceback" not in diverged.stderr
    last = diverged.stderr.strip().splitlines()[-1]
    assert last.startswith("error: stage1 has no best checkpoint"), diverged.stderr[-3000:]
    assert "validation at step 9 was not finite" in last
    assert "can never be the best checkpoint" in diverged.stderr  # the validation's warning
    assert best_steps(workdir / "stage1") == []  # latest holds finite weights, best nothing
    assert not (workdir / "results.json").exists()

    # The advice: move the stage aside and rerun with a lower config.stages.stage1.lr.
    moved = re.search(r"\(mv (\S+) (\S+)\)", last)
    assert moved and moved[1] == str(workdir / "stage1"), last
    assert "--config.stages.stage1.lr=<a value below 1e+35>" in last
    shutil.move(moved[1], moved[2])
    rerun = subprocess.run(
        train_command(workdir, cache, "2e-3"), cwd=REPO, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    results = strict_loads((workdir / "results.json").read_text())
    assert math.isfinite(results["stage1"]["loss/total"])
    assert best_steps(workdir / "stage1") == [9]
    assert strict_loads((workdir / "config.json").read_text())["stages"]["stage1"]["lr"] == 2e-3
    assert (workdir / "stage1.diverged" / "checkpoints" / "latest" / "9").is_dir()  # kept


def test_nonfinite_best_steps_in_a_row_stop_with_the_same_advice(tmp_path):
    config = tiny_training_config(stage1=3)
    config.run_stages = ("stage1",)
    config.stages.stage1.lr = float(HUGE_LR)
    config.max_consecutive_nonfinite = 3
    with pytest.raises(FloatingPointError) as stopped:
        train.train_and_evaluate(config, str(tmp_path))
    message = str(stopped.value)
    assert re.match(r"3 consecutive steps \(3 to 5\) had a non-finite loss, gradient or", message)
    assert f"(mv {tmp_path / 'stage1'} {tmp_path / 'stage1.diverged'})" in message
    assert "--config.stages.stage1.lr=<a value below 1e+35>" in message
    assert best_steps(tmp_path / "stage1") == []


def test_nonfinite_best_a_later_nan_validation_keeps_the_earlier_best(
    tmp_path, monkeypatch, caplog
):
    """Validations at steps 2, 4 and 6; from the second on the loss is NaN while the WER is
    perfect (what weights with finite values but overflowing outputs can give): only step 2
    may be the best, and the run finishes with it."""
    config = tiny_training_config()
    config.run_stages = ("stage1",)
    config.eval_every_steps = 2
    config.best_metric = "wer"
    original, calls = evaluator.Evaluator.__call__, []

    def nan_from_the_second(self, variables):
        metrics, alignments = original(self, variables)
        calls.append(1)
        if len(calls) > 1:
            metrics = {**metrics, "loss/total": float("nan"), "wer": 0.0, "accuracy": 1.0}
        return metrics, alignments

    monkeypatch.setattr(evaluator.Evaluator, "__call__", nan_from_the_second)
    with caplog.at_level(logging.WARNING):
        results = train.train_and_evaluate(config, str(tmp_path))
    assert len(calls) == 3
    assert best_steps(tmp_path / "stage1") == [2]
    for step in (4, 6):
        assert f"stage1 step {step}: the validation gave non-finite loss/total=nan" in caplog.text
    assert math.isfinite(results["stage1"]["loss/total"])
    strict_loads((tmp_path / "results.json").read_text())


def test_nonfinite_best_weights_are_never_usable():
    finite = {"loss/total": 1.0, "wer": 0.5}
    assert actions.unusable(finite, {"params": {"w": np.ones(3, np.float32)}}) == ""
    inf_weights = {"params": {"w": np.array([1.0, np.inf], np.float32)}}
    assert actions.unusable(finite, inf_weights) == "the weights hold NaN or infinite values"
    nan_loss = {**finite, "loss/total": float("nan")}
    assert "non-finite loss/total=nan" in actions.unusable(nan_loss, {"w": np.ones(2)})


def test_nonfinite_best_early_stopping_counts_a_nan_validation_as_no_improvement():
    stopper = budget.EarlyStopping(patience=2)
    assert not stopper.update(float("nan"), 2)  # no best yet, and none from NaN
    assert not stopper.update(3.0, 4)
    assert (stopper.best_loss, stopper.best_step, stopper.stale) == (3.0, 4, 0)
    assert not stopper.update(float("nan"), 6)
    assert stopper.update(float("inf"), 8)  # two validations without a lower loss
    assert stopper.best_loss == 3.0


def test_nonfinite_best_json_is_strict():
    assert strict_json.dumps({"a": [1.0, float("nan")], "b": (float("-inf"),)}) == (
        '{"a": [1.0, null], "b": [null]}'
    )
    nothing = Recognition(glosses=(), score=float("-inf"), decoder="ctc_beam")
    line = strict_loads(format_recognition("clip.npy", 30, nothing, as_json=True))
    assert line["scores"] == {"score": None, "ctc": None, "attention": None}
    gloss = RecognizedGloss(1, "hello", float("nan"), 0, 4)
    found = Recognition(glosses=(gloss,), score=-1.23456, decoder="ctc_greedy")
    line = strict_loads(format_recognition("clip.npy", 30, found, as_json=True))
    assert line["scores"]["score"] == -1.2346 and line["glosses"][0]["confidence"] is None
    config = tiny_training_config()
    strict_loads(train.config_json(config))
    config.stages.stage1.lr = float("inf")
    with pytest.raises(ValueError, match=r"config\.stages\.stage1\.lr=inf: every setting"):
        train.config_json(config)


def test_nonfinite_best_advice_needs_an_untrained_stage_to_take_another_lr(tmp_path):
    """The settings of stages without checkpoints (nor any after them) may change."""
    order = ["stage1", "stage2", "stage3"]
    saved = {"seed": 0, "stage_order": order, "stages": {s: {"lr": 1e-3} for s in order}}
    (tmp_path / "config.json").write_text(json.dumps(saved))
    (tmp_path / "stage1" / "checkpoints" / "latest" / "6").mkdir(parents=True)
    assert untrained_stages(tmp_path, order) == ["stage3", "stage2"]
    for stage in ("stage2", "stage3"):
        changed = {**saved, "stages": {**saved["stages"], stage: {"lr": 1e-4}}}
        check_config(tmp_path, json.dumps(changed))
    changed = {**saved, "stages": {**saved["stages"], "stage1": {"lr": 1e-4}}}
    with pytest.raises(ConfigMismatchError, match=r"stages\.stage1\.lr: 0\.001 -> 0\.0001"):
        check_config(tmp_path, json.dumps(changed))
    shutil.move(tmp_path / "stage1", tmp_path / "stage1.diverged")  # the advice
    (tmp_path / "stage2" / "checkpoints" / "best" / "4").mkdir(parents=True)
    assert untrained_stages(tmp_path, order) == ["stage3"]  # stage 1 feeds stage 2's
    with pytest.raises(ConfigMismatchError, match=r"stages\.stage1\.lr"):
        check_config(tmp_path, json.dumps(changed))
