"""End-to-end training, freezing and exact resume on tiny configs."""

import json
import logging
import os
import signal

import jax
import numpy as np
import optax
import pytest
from conftest import event_accumulator, read_scalars, scalar_tags, tiny_training_config

from whispersign_jax.data import input_pipeline
from whispersign_jax.data.batching import TrainBatches
from whispersign_jax.data.sources import load_splits
from whispersign_jax.model import WhisperSign
from whispersign_jax.runs import trained
from whispersign_jax.runs.checkpointing import StageCheckpoints
from whispersign_jax.training import actions, evaluator, loop, optim, train
from whispersign_jax.training.plan import StagePlan
from whispersign_jax.training.resume import starting_state, starting_variables
from whispersign_jax.training.sharding import global_batch, make_mesh
from whispersign_jax.training.steps import make_train_step
from whispersign_jax.training.stop_signals import TrainingStoppedError


def leaves_equal(a, b) -> bool:
    return all(
        np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def test_schedule_peaks_after_warmup_and_ends_at_one_percent():
    schedule = optim.learning_rate_schedule(1e-3, warmup_steps=10, total_steps=110)
    assert float(schedule(0)) == 0.0
    np.testing.assert_allclose(schedule(5), 5e-4, rtol=1e-6)
    np.testing.assert_allclose(schedule(10), 1e-3, rtol=1e-6)
    np.testing.assert_allclose(schedule(60), (1e-3 + 1e-5) / 2, rtol=1e-5)  # cosine midpoint
    np.testing.assert_allclose(schedule(110), 1e-5, rtol=1e-6)


def plan_parts(config):
    """The model, vocabulary, splits and mesh that ``StagePlan`` takes after its name."""
    vocabulary, splits = load_splits(config.data)
    model = WhisperSign(train.build_model_config(config, vocabulary.num_glosses))
    return model, vocabulary, splits, make_mesh()


def first_train_step(config, stage: str, workdir):
    """The stage's initial state and the state and metrics after its first train step."""
    plan = StagePlan(config, stage, workdir, *plan_parts(config))
    state, _ = starting_state(plan, previous=None)
    before = jax.device_get(state)
    step = jax.jit(
        make_train_step(
            plan.model, plan.optimizer, plan.stage, config.label_smoothing, jax.random.key(0)
        )
    )
    state, metrics = step(state, global_batch(plan.batches[0], plan.batch_sharding))
    plan.close()
    return before, jax.device_get(state), metrics


def test_stage1_step_updates_only_frontend_and_ctc_head(tmp_path):
    config = tiny_training_config()
    config.stages.stage1.warmup_steps = 0  # the warm-up's first learning rate is 0
    initial, state, metrics = first_train_step(config, "stage1", tmp_path)
    before, after = initial.params, state.params
    for part in ("encoder", "decoder"):
        assert leaves_equal(before[part], after[part]), part
    for part in ("frontend", "ctc_head"):
        changed = [
            not np.array_equal(x, y)
            for x, y in zip(
                jax.tree.leaves(before[part]), jax.tree.leaves(after[part]), strict=True
            )
        ]
        assert all(changed), part
    adam = state.opt_state.inner_states["trainable"].inner_state[1][0]
    assert isinstance(adam.mu["encoder"]["layers_0"]["mlp"]["fc1"]["kernel"], optax.MaskedNode)
    assert adam.mu["frontend"]["patch_in"]["kernel"].shape == (4 * 42 * 7, 32)
    assert float(metrics["loss/ctc"]) > 0 and "loss/attention" not in metrics


def test_three_stages_train_checkpoint_and_evaluate(tmp_path):
    """Stage 1 for one epoch and stage 2 as in ``stage2_config()``, like this file's other
    runs: each program is compiled once (tests/conftest.py keeps them for the session)."""
    config = tiny_training_config(stage2=3)
    results = train.train_and_evaluate(config, str(tmp_path))
    assert list(results) == ["stage1", "stage2", "stage3"]
    for stage in ("stage1", "stage2", "stage3"):
        assert list((tmp_path / stage).glob("events.out.tfevents.*")), stage
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["stage2"]["samples"] == 16  # 4 glosses x 1 val signer x 4 samples
    run = trained.load_trained(tmp_path)
    assert run.stage == "stage3" and run.vocabulary.num_glosses == 4
    metrics = evaluator.evaluate_workdir(str(tmp_path), split="test")
    assert {"accuracy", "wer", "samples", "top5_accuracy"} <= set(metrics)
    assert metrics["samples"] == 16


def test_loss_falls_during_training(tmp_path):
    config = tiny_training_config(stage2=12)
    config.run_stages = ("stage2",)
    config.stages.stage2.lr = 3e-3
    config.data.augment_enabled = False
    train.train_and_evaluate(config, str(tmp_path))
    losses = read_scalars(tmp_path / "stage2", "loss/total")
    assert len(losses) == 72  # 12 epochs x 6 steps, logged every step
    assert np.mean(losses[-6:]) < 0.7 * np.mean(losses[:6])
    assert {
        "lr",
        "grad_norm",
        "loss/ctc",
        "loss/attention",
        "frames_per_s",
        "val/wer",
        "val/accuracy",
        "val/top5_accuracy",
        "val/loss/total",
        "val/loss/ctc",
        "val/loss/attention",
        "val_samples",  # the image of a few validation clips
        "val/confusion_matrix",  # the image of each new best validation's confusions
    } <= set(scalar_tags(tmp_path / "stage2"))
    confusions = event_accumulator(tmp_path / "stage2").Tensors("val/confusion_matrix")
    bests = read_scalars(tmp_path / "stage2", "val/wer")
    could_improve = sum(wer <= min(bests[:i], default=np.inf) for i, wer in enumerate(bests))
    assert 1 <= len(confusions) <= could_improve  # a new best never has a higher WER
    val_losses = read_scalars(tmp_path / "stage2", "val/loss/total")
    assert len(val_losses) == 12 and val_losses[-1] < val_losses[0]  # one per epoch, falling


def test_best_checkpoint_follows_config_best_metric(tmp_path):
    config = tiny_training_config()
    lower_wer = {"wer": 0.5, "accuracy": 0.4, "loss/total": 2.0}
    lower_loss = {"wer": 0.6, "accuracy": 0.5, "loss/total": 1.0}
    assert config.best_metric == "wer"  # the default
    assert actions.is_better("wer", lower_wer, lower_loss)
    assert not actions.is_better("wer", lower_loss, lower_wer)
    assert actions.is_better("loss", lower_loss, lower_wer)
    assert actions.is_better("accuracy", lower_loss, lower_wer)
    config.best_metric = "bleu"
    with pytest.raises(ValueError, match=r"config\.best_metric='bleu'"):
        train.train_and_evaluate(config, str(tmp_path / "run"))


def stage2_config():
    config = tiny_training_config(stage2=3)
    config.run_stages = ("stage2",)
    return config


@pytest.fixture(scope="module")
def straight_stage2(tmp_path_factory):
    """The best model of an uninterrupted ``stage2_config()`` run: what a resumed run equals."""
    workdir = tmp_path_factory.mktemp("straight")
    train.train_and_evaluate(stage2_config(), str(workdir))
    return trained.load_trained(workdir)


def test_rerun_resumes_exactly(tmp_path, monkeypatch, straight_stage2):
    config = stage2_config()

    original = input_pipeline.train_batches

    def stop_at_step_4(batches, start_step, total_steps, **kwargs):
        pipeline = original(batches, start_step, total_steps, **kwargs)
        for step, batch in zip(range(start_step, total_steps), pipeline, strict=True):
            if step == 4:  # a checkpoint was written after step 4
                raise KeyboardInterrupt("simulated preemption")
            yield batch

    monkeypatch.setattr(input_pipeline, "train_batches", stop_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        train.train_and_evaluate(config, str(tmp_path / "resumed"))
    monkeypatch.setattr(input_pipeline, "train_batches", original)
    train.train_and_evaluate(config, str(tmp_path / "resumed"))

    resumed = trained.load_trained(tmp_path / "resumed")
    assert straight_stage2.step == resumed.step
    assert leaves_equal(straight_stage2.variables, resumed.variables)


def test_stage_order_is_the_configs_not_alphabetical():
    config = tiny_training_config()
    config.stages.warmup = config.stages.stage1
    config.stages.joint = config.stages.stage2
    config.stage_order = ("warmup", "joint")  # alphabetically "joint" comes first
    config.run_stages = ("warmup", "joint")
    assert train.stage_sequence(config) == [("warmup", None), ("joint", "warmup")]
    config.run_stages = ("joint",)
    assert train.stage_sequence(config) == [("joint", "warmup")]
    config.run_stages = ("joint", "warmup")
    with pytest.raises(ValueError, match=r"must follow config\.stage_order"):
        train.stage_sequence(config)
    config.run_stages = ("stage9",)
    with pytest.raises(ValueError, match="unknown: \\['stage9'\\]"):
        train.stage_sequence(config)


@pytest.mark.parametrize("update", [True, False])
def test_batch_norm_statistics_follow_the_stage_config(tmp_path, update):
    config = tiny_training_config()
    config.stages.stage2.update_batch_norm = update
    initial, state, metrics = first_train_step(config, "stage2", tmp_path)
    assert leaves_equal(initial.batch_stats, state.batch_stats) is not update
    assert "loss/attention" in metrics  # stage 2 runs the decoder


def test_starting_points_that_cannot_be_right_are_warned_about(tmp_path, caplog):
    config = tiny_training_config()
    vocabulary, splits = load_splits(config.data)
    model = WhisperSign(train.build_model_config(config, vocabulary.num_glosses))
    mesh = make_mesh()
    stage2 = StagePlan(config, "stage2", tmp_path, model, vocabulary, splits, mesh)
    with caplog.at_level("WARNING"):
        _, description = starting_variables(stage2, "stage1")
    assert description == "fresh initialisation"
    assert "has no best checkpoint of stage1" in caplog.text
    assert "--config.init_checkpoint" in caplog.text
    assert "stay random" not in caplog.text  # nothing is frozen in stage 2

    caplog.clear()
    config.stages.stage1.trainable = ("frontend/.*",)
    stage1 = StagePlan(config, "stage1", tmp_path, model, vocabulary, splits, mesh)
    with caplog.at_level("WARNING"):
        starting_variables(stage1, None)
    assert "stage1 freezes ctc_head, decoder, encoder" in caplog.text
    assert "--config.pretrained=openai/whisper-base" in caplog.text


def test_max_steps_caps_a_stage_and_validation_follows_steps(tmp_path):
    config = tiny_training_config(stage2=12)
    plan = StagePlan(config, "stage2", tmp_path, *plan_parts(config))
    per_epoch = plan.batches.steps_per_epoch
    assert (plan.total_steps, plan.eval_every) == (12 * per_epoch, per_epoch)
    plan.close()
    config.stages.stage2.max_steps = 5
    config.eval_every_steps = 2
    plan = StagePlan(config, "stage2", tmp_path, *plan_parts(config))
    assert (plan.total_steps, plan.eval_every) == (5, 2)
    plan.close()


def test_early_stopping_ends_a_stage_for_good(tmp_path, caplog):
    config = tiny_training_config(stage2=12)
    config.run_stages = ("stage2",)
    config.eval_every_steps = 2
    config.early_stopping.patience = 1
    config.early_stopping.min_delta = 0.9  # only a 90% lower validation loss counts
    with caplog.at_level(logging.INFO):
        train.train_and_evaluate(config, str(tmp_path))
    assert "stage2: stopped early at step 4 of" in caplog.text
    assert len(read_scalars(tmp_path / "stage2", "val/loss/total")) == 2
    checkpoints = StageCheckpoints(tmp_path / "stage2")
    latest = StageCheckpoints.record(checkpoints.latest)
    best = StageCheckpoints.record(checkpoints.best)
    checkpoints.close()
    assert (latest.step, latest.stopped_early) == (4, True)
    assert latest.early_stopping["best_step"] == 2 and latest.early_stopping["stale"] == 1
    assert best.step in (2, 4)

    caplog.clear()
    with caplog.at_level(logging.INFO):
        train.train_and_evaluate(config, str(tmp_path))  # the rerun does not train on
    assert "stage2: already finished" in caplog.text


def test_a_non_finite_step_changes_nothing_but_the_step(tmp_path):
    config = tiny_training_config()
    plan = StagePlan(config, "stage2", tmp_path, *plan_parts(config))
    state, _ = starting_state(plan, previous=None)
    step = jax.jit(
        make_train_step(
            plan.model, plan.optimizer, plan.stage, config.label_smoothing, jax.random.key(0)
        )
    )
    batch = plan.batches[0]
    poisoned = {**batch, "keypoints": batch["keypoints"].copy()}
    poisoned["keypoints"][0, 3, 5, 0] = np.nan
    before = jax.device_get(state)
    skipped, metrics = step(state, global_batch(poisoned, plan.batch_sharding))
    assert int(metrics["nonfinite"]) == 1 and not np.isfinite(float(metrics["loss/total"]))
    skipped = jax.device_get(skipped)
    assert int(skipped.step) == int(before.step) + 1
    assert leaves_equal(
        (skipped.params, skipped.batch_stats, skipped.opt_state),
        (before.params, before.batch_stats, before.opt_state),
    )
    updated, metrics = step(skipped, global_batch(batch, plan.batch_sharding))
    updated, metrics = step(updated, global_batch(batch, plan.batch_sharding))  # lr(0) is 0
    assert int(metrics["nonfinite"]) == 0
    assert not leaves_equal(jax.device_get(updated).params, before.params)


def test_non_finite_steps_in_a_row_stop_training_and_never_reach_a_checkpoint(
    tmp_path, monkeypatch
):
    config = tiny_training_config(stage2=12)
    config.run_stages = ("stage2",)
    config.max_consecutive_nonfinite = 2
    original_rows = TrainBatches.rows

    def poisoned_from_step_3(self, step, rows):
        batch = original_rows(self, step, rows)
        if step >= 3:
            batch["keypoints"][:, :, :, 0] = np.inf
        return batch

    monkeypatch.setattr(TrainBatches, "rows", poisoned_from_step_3)
    with pytest.raises(
        FloatingPointError, match=r"2 consecutive steps \(4 to 5\).*training samples \["
    ):
        train.train_and_evaluate(config, str(tmp_path))
    checkpoints = StageCheckpoints(tmp_path / "stage2")
    steps = checkpoints.latest.all_steps()
    assert 4 in steps  # saved after the first skipped step, with the step-3 parameters
    target = StagePlan(config, "stage2", tmp_path, *plan_parts(config))
    restored = StageCheckpoints.restore(checkpoints.latest, target.abstract_variables)
    target.close()
    checkpoints.close()
    assert all(np.isfinite(x).all() for x in jax.tree.leaves(restored[0]))


def test_checkpoints_refuse_non_finite_values(tmp_path):
    checkpoints = StageCheckpoints(tmp_path)
    good = {"w": np.ones(3, np.float32)}
    with pytest.raises(FloatingPointError, match="Refusing to save step 7"):
        checkpoints.save_latest(7, {"w": np.array([1.0, np.nan], np.float32)}, {}, {})
    checkpoints.save_latest(8, good, {"step": np.int32(8)}, {})
    checkpoints.wait()
    assert checkpoints.latest.all_steps() == [8]
    checkpoints.close()


def test_a_workdir_refuses_another_config_and_keeps_its_files(tmp_path):
    config = tiny_training_config()
    config.run_stages = ("stage1",)
    train.train_and_evaluate(config, str(tmp_path))
    saved = (tmp_path / "config.json").read_text()
    config.model.d_model = 48
    with pytest.raises(ValueError, match=r"model\.d_model: 32 -> 48"):
        train.train_and_evaluate(config, str(tmp_path))
    assert (tmp_path / "config.json").read_text() == saved


def test_sigterm_saves_stops_and_the_rerun_ends_bitwise_equal(
    tmp_path, monkeypatch, straight_stage2
):
    config = stage2_config()
    config.checkpoint_every_steps = 100  # the stop itself must save (a run-only field)

    original = input_pipeline.train_batches

    def terminate_at_step_3(batches, start_step, total_steps, **kwargs):
        pipeline = original(batches, start_step, total_steps, **kwargs)
        for step, batch in zip(range(start_step, total_steps), pipeline, strict=True):
            if step == 3:
                os.kill(os.getpid(), signal.SIGTERM)
            yield batch

    monkeypatch.setattr(input_pipeline, "train_batches", terminate_at_step_3)
    with pytest.raises(TrainingStoppedError, match="SIGTERM: stopped stage2 at step 4"):
        train.train_and_evaluate(config, str(tmp_path / "resumed"))
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers restored
    monkeypatch.setattr(input_pipeline, "train_batches", original)
    checkpoints = StageCheckpoints(tmp_path / "resumed" / "stage2")
    assert checkpoints.latest.all_steps() == [4]
    checkpoints.close()
    train.train_and_evaluate(config, str(tmp_path / "resumed"))

    resumed = trained.load_trained(tmp_path / "resumed")
    assert straight_stage2.step == resumed.step
    assert leaves_equal(straight_stage2.variables, resumed.variables)


def test_a_checkpoint_of_another_label_map_is_refused(tmp_path):
    config = tiny_training_config()
    config.run_stages = ("stage1",)
    train.train_and_evaluate(config, str(tmp_path / "four"))
    config.data.synthetic.num_glosses = 5
    config.run_stages = ("stage2",)
    config.init_checkpoint = str(tmp_path / "four" / "stage1")
    with pytest.raises(ValueError, match=r"has another model config than this run: checkpoint"):
        train.train_and_evaluate(config, str(tmp_path / "five"))


def test_a_missing_later_stage_is_named(tmp_path, caplog):
    config = tiny_training_config()
    config.run_stages = ("stage1",)
    train.train_and_evaluate(config, str(tmp_path))
    saved = json.loads((tmp_path / "config.json").read_text())
    saved["run_stages"] = ["stage1", "stage2"]  # as if stage 2 had been meant to run
    (tmp_path / "config.json").write_text(json.dumps(saved))
    with caplog.at_level(logging.WARNING):
        model = trained.load_trained(tmp_path)
    assert model.stage == "stage1"
    assert "has no best checkpoint for stage2: using stage1's" in caplog.text


def test_hparams_hold_the_model_as_built_not_the_size_placeholders():
    from configs import default

    config = default.get_config()  # model.size="base": its dimensions are 0 in the config
    model_config = train.build_model_config(config, num_glosses=5)
    flat = loop.hparams(config, "stage2", model_config)
    assert config.model.d_model == 0 and flat["model.size"] == "base"
    assert [flat[f"model.{name}"] for name in ("d_model", "encoder_layers", "num_heads")] == [
        512, 6, 8
    ]  # fmt: skip
    assert flat["model.num_glosses"] == 5 and flat["stage2.trainable"] == ".*"


def test_a_logging_window_shows_the_losses_first_and_counters_only_when_not_zero():
    scalars = {"ctc_infeasible": 0.0, "grad_norm": 2.5, "loss/ctc": 1.5, "loss/total": 1.0,
               "lr": 1e-3, "nonfinite": 2.0, "steps_per_s": 9.0}  # fmt: skip
    assert list(actions.shown_scalars(scalars)) == [
        "loss/total", "loss/ctc", "grad_norm", "lr", "nonfinite", "steps_per_s"
    ]  # fmt: skip


def test_a_logging_window_averages_applied_steps_and_counts_the_rest():
    """``summarise``: CLU Averages over the finite steps only; counts and throughput over all."""
    step = {"nonfinite": np.int32(0), "ctc_infeasible": np.int32(0), "valid_frames": np.int32(100)}
    history = [
        {**step, "loss/total": np.float32(2.0), "ctc_infeasible": np.int32(1)},
        {**step, "loss/total": np.float32(np.nan), "nonfinite": np.int32(1)},
        {**step, "loss/total": np.float32(4.0), "valid_frames": np.int32(50)},
    ]
    assert actions.summarise(history, elapsed=2.0) == {
        "loss/total": 3.0, "ctc_infeasible": 1.0, "nonfinite": 1.0,
        "steps_per_s": 1.5, "frames_per_s": 125.0,
    }  # fmt: skip
    assert np.isnan(actions.summarise(history[1:2], elapsed=1.0)["loss/total"])
