"""A workdir's checkpoints are checked against the run and the data by their own records
(model config, label map, joint set, preprocessing), with or without ``config.json``: a rerun
of another run is refused instead of passing as "already finished", and evaluation refuses
data with another vocabulary or joint set (issue 26, item 3)."""

import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest
from conftest import REPO, tiny_training_config

from whispersign_jax import evaluate
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.model import ModelConfig
from whispersign_jax.runs.checkpointing import StageCheckpoints
from whispersign_jax.runs.record import CheckpointMismatchError, CheckpointRecord
from whispersign_jax.training import plan, train
from whispersign_jax.vocab import Vocabulary

FOUR_GLOSSES = "[synthetic_00, synthetic_01, synthetic_02, synthetic_03] (4 glosses)"
SIX_GLOSSES = (
    "[synthetic_00, synthetic_01, synthetic_02, synthetic_03, synthetic_04, synthetic_05] "
    "(6 glosses)"
)


def stage1_config():
    config = tiny_training_config()  # 4 synthetic glosses, d_model 32
    config.run_stages = ("stage1",)
    return config


@pytest.fixture(scope="module")
def finished_workdir(tmp_path_factory) -> Path:
    """A workdir whose stage1 is finished: each test works on a copy of it."""
    workdir = tmp_path_factory.mktemp("finished") / "run"
    train.train_and_evaluate(stage1_config(), str(workdir))
    return workdir


def copy_without_config(finished_workdir: Path, tmp_path: Path) -> Path:
    workdir = shutil.copytree(finished_workdir, tmp_path / "run")
    (workdir / "config.json").unlink()
    return workdir


def checkpoint_steps(workdir: Path) -> list[str]:
    return sorted(str(p.relative_to(workdir)) for p in workdir.glob("stage1/checkpoints/*/*"))


def test_metadata_mismatch_of_another_label_set_is_refused_in_one_line(finished_workdir, tmp_path):
    """The hostile probe: config.json deleted, the training command rerun on 6 glosses."""
    workdir = copy_without_config(finished_workdir, tmp_path)
    steps = checkpoint_steps(workdir)
    tiny_model = [f"--config.model.{name}={value}" for name, value in
                  (("d_model", 32), ("num_heads", 2), ("ffn_dim", 64),
                   ("encoder_layers", 1), ("decoder_layers", 1))]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "whispersign_jax.main", "--config=configs/demo.py:quick",
         f"--workdir={workdir}", *tiny_model],  # demo.py:quick has 6 glosses
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    line = result.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: {workdir}/stage1/checkpoints/")
    assert f"another label map: checkpoint {FOUR_GLOSSES} vs this run {SIX_GLOSSES}" in line
    assert "new --workdir" in line
    assert not (workdir / "config.json").exists()  # not rewritten with the other run's config
    assert checkpoint_steps(workdir) == steps


def test_metadata_mismatch_of_another_model_size_is_refused(finished_workdir, tmp_path):
    workdir = copy_without_config(finished_workdir, tmp_path)
    config = stage1_config()
    config.model.d_model = 48
    with pytest.raises(CheckpointMismatchError) as refusal:
        train.train_and_evaluate(config, str(workdir))
    message = str(refusal.value)
    assert "\n" not in message
    assert (
        "the checkpoint of stage stage1 at step 6 has another model config than this run: "
        "checkpoint d_model=32 vs this run d_model=48. " in message
    )
    assert not (workdir / "config.json").exists()


def evaluate_args(workdir: Path):
    return types.SimpleNamespace(workdir=str(workdir), split="test", stage="", dtype="",
                                 decoder="ctc_greedy", beam_size=4, ctc_weight=0.3)  # fmt: skip


def rewrite_data_config(workdir: Path, change) -> None:
    """config.json's data changed behind the checkpoints' back (as a rerun used to do)."""
    saved = json.loads((workdir / "config.json").read_text())
    change(saved["data"])
    (workdir / "config.json").write_text(json.dumps(saved))


def test_metadata_mismatch_evaluate_refuses_data_with_another_vocabulary(
    finished_workdir, tmp_path, capsys
):
    workdir = shutil.copytree(finished_workdir, tmp_path / "run")
    rewrite_data_config(workdir, lambda data: data["synthetic"].update(num_glosses=6))
    with pytest.raises(SystemExit) as refusal:
        evaluate.run_command(evaluate_args(workdir))
    assert str(refusal.value) == (
        f"error: {workdir}: the stage1 checkpoint at step 6 was trained with labels "
        f"{FOUR_GLOSSES} but the workdir's config.data has {SIX_GLOSSES}. Evaluate on the "
        "data it was trained with (restore the workdir's config.json), or train a new "
        "--workdir on this data."
    )
    assert capsys.readouterr().out == ""  # no scores printed
    assert not (workdir / "eval").exists()  # and no report written


def test_metadata_mismatch_is_not_claimed_for_the_same_run(finished_workdir, tmp_path, caplog):
    """The run rerun unchanged, with and without config.json, is already finished."""
    workdir = shutil.copytree(finished_workdir, tmp_path / "run")
    saved = (workdir / "config.json").read_text()
    for _ in ("with config.json", "without"):
        caplog.clear()
        with caplog.at_level(logging.INFO):
            results = train.train_and_evaluate(stage1_config(), str(workdir))
        assert "stage1: already finished (6 steps), skipping." in caplog.text
        assert (
            results["stage1"]
            == json.loads((finished_workdir / "results.json").read_text())["stage1"]
        )
        assert (workdir / "config.json").read_text() == saved  # written again when missing
        (workdir / "config.json").unlink()


def test_metadata_mismatch_of_another_joint_set_is_refused(finished_workdir, tmp_path):
    """Training: the checkpoints' own model, labels and preprocessing on hands_pose keypoints
    (synthetic data has hands only, so the run's side is built from the record). Evaluation:
    config.json naming hands_pose, refused before any data is read."""
    checkpoints = StageCheckpoints(finished_workdir / "stage1")
    record = StageCheckpoints.record(checkpoints.latest)
    checkpoints.close()
    config = stage1_config()
    config.data.keypoints = "hands_pose"
    with pytest.raises(CheckpointMismatchError) as refusal:
        plan.refuse_other_workdir_checkpoints(
            config,
            finished_workdir,
            ModelConfig.from_dict(record.model_config),
            Vocabulary.from_label_map(record.label_map),
            Preprocessor.from_dict(record.preprocessing),
        )
    assert str(refusal.value).startswith(
        f"{finished_workdir}/stage1/checkpoints/latest: the checkpoint of stage stage1 at step "
        "6 has another joint set than this run: checkpoint hands vs this run hands_pose. "
    )

    workdir = shutil.copytree(finished_workdir, tmp_path / "run")
    rewrite_data_config(workdir, lambda data: data.update(keypoints="hands_pose"))
    with pytest.raises(SystemExit, match=r"^error: .* the stage1 checkpoint at step 6 was "
                       r"trained on hands keypoints but the workdir's config\.data has "
                       r"hands_pose keypoints\. "):  # fmt: skip
        evaluate.run_command(evaluate_args(workdir))


def test_metadata_mismatch_skips_what_an_older_record_lacks():
    """A record without a label map, a model field added since (num_joints) or a joint set
    (hands, the old default) is compared on what it has; statistics to a relative 1e-5."""
    model = ModelConfig(num_glosses=4, d_model=32, num_heads=2).to_dict()
    label_map = Vocabulary.from_names(["a", "b", "c", "d"]).label_map()
    standardised = Preprocessor(False, (0.5,) * 6, (0.25,) * 6).to_dict()
    old = CheckpointRecord.from_json({
        "stage": "stage2", "step": 9, "label_map": {}, "preprocessing": standardised,
        "model_config": {k: v for k, v in model.items() if k != "num_joints"},
    })  # fmt: skip
    rounded = Preprocessor(False, (0.5 * (1 + 1e-7),) * 6, (0.25,) * 6).to_dict()
    assert old.mismatch({**model, "num_joints": 42}, label_map, "hands", rounded) is None
    assert "another joint set" in old.mismatch(model, label_map, "hands_pose", standardised)
    unstandardised = Preprocessor(False).to_dict()
    assert old.mismatch(model, label_map, "hands", unstandardised) == (
        "the checkpoint of stage stage2 at step 9 has another preprocessing than this run: "
        "checkpoint normalize_hands=False, standardised with mean [0.5, 0.5, 0.5, 0.5, 0.5, "
        "0.5] vs this run normalize_hands=False, no standardisation"
    )
    current = dataclasses.replace(old, label_map=label_map)
    assert current.mismatch(model, {**label_map, "d": 3, "c": 4}) == (
        "the checkpoint of stage stage2 at step 9 has another label map than this run: "
        "checkpoint [a, b, c, d] (4 glosses) vs this run [a, b, d, c] (4 glosses)"
    )
    eight = Vocabulary.from_names([f"g{i}" for i in range(8)]).label_map()
    current = dataclasses.replace(old, label_map=eight, model_config={})
    assert current.mismatch(model, {**eight, "g6": 8, "g7": 7}).endswith(
        "checkpoint [g0, g1, g2, g3, g4, g5, ...] (8 glosses) with id 7 'g6' vs this run "
        "[g0, g1, g2, g3, g4, g5, ...] (8 glosses) with id 7 'g7'"
    )
