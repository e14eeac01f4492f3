"""One stage's training loop: ``train_stage(plan, previous, stop)``.

The loop is the Flax examples' shape: jit the pure ``train_step``, then for each step of the
stage run it and hand its metrics to the actions (``actions.py``): the logging window,
validation (best checkpoint, early stopping), the latest checkpoint, the stop on a signal.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import jax
import ml_collections

from whispersign_jax.data import input_pipeline
from whispersign_jax.model.config import ModelConfig
from whispersign_jax.pictures import rendering
from whispersign_jax.runs.checkpointing import StageCheckpoints
from whispersign_jax.training import compile_log, distributed, metric_writers, sharding
from whispersign_jax.training.actions import (
    LogWindow,
    NonFiniteSteps,
    Validation,
    diverged_advice,
    no_best_error,
    save_latest,
    stop_if_asked,
)
from whispersign_jax.training.evaluator import Evaluator
from whispersign_jax.training.plan import StagePlan
from whispersign_jax.training.resume import starting_state
from whispersign_jax.training.steps import make_train_step
from whispersign_jax.training.stop_signals import StopSignals


def train_stage(plan: StagePlan, previous: str | None, stop: StopSignals) -> dict[str, Any]:
    """Trains ``plan``'s stage from where it stands (``resume.starting_state``) to its last
    step or an early stop; returns its best validation metrics."""
    if plan.finished():
        if not plan.checkpoints.best.all_steps():  # the next stage would start from nothing
            raise no_best_error(plan, [])
        logging.info("%s: already finished (%d steps), skipping.", plan.name, plan.total_steps)
        return best_metrics(plan)
    state, origin = starting_state(plan, previous)
    start_step = int(state.step)
    logging.info("%s: %s %s", plan.name, "resuming at" if start_step else "starting from", origin)
    # The early-stopping state of the step resumed from (not of a newer, damaged one).
    resumed = StageCheckpoints.record(plan.checkpoints.latest, start_step) if start_step else None
    plan.early_stopping.restore(resumed.early_stopping if resumed else None)

    state_shardings = jax.tree.map(lambda x: x.sharding, state)
    base_rng = jax.random.key(plan.config.seed + 1)
    train_step = jax.jit(
        make_train_step(
            plan.model, plan.optimizer, plan.stage, plan.config.label_smoothing, base_rng
        ),
        in_shardings=(state_shardings, plan.batch_sharding),
        out_shardings=(state_shardings, sharding.replicated(plan.mesh)),
        donate_argnums=0,
    )
    compiles = compile_log.FirstCompiles(plan.name)
    train_step = compiles.wrap(train_step, "train step")
    put_batch = lambda batch: sharding.global_batch(batch, plan.batch_sharding)
    evaluator = Evaluator(
        plan.model, plan.splits["val"], plan.preprocessor, plan.config.data,
        alpha=float(plan.stage.alpha), put_batch=put_batch, wrap=compiles.wrap,
        rows=input_pipeline.process_rows(
            plan.config.data.eval_batch_size, jax.process_index(), jax.process_count()
        ),
    )  # fmt: skip

    # Event files only: the log gets the lines of the actions, each value once.
    writer = metric_writers.create_writer(
        str(plan.dir) if distributed.is_main_process() else None, log_values=False
    )
    announce(plan, start_step, writer)
    best = best_metrics(plan) or None
    log_window = LogWindow(plan, writer, compiles)
    validation = Validation(plan, evaluator, writer, best)
    nonfinite = NonFiniteSteps(
        plan.config.max_consecutive_nonfinite, plan.describe_batch, diverged_advice(plan)
    )
    batches = training_batches(plan, start_step)
    with contextlib.closing(batches):  # an early stop cancels the batches ahead
        for step, host_batch in zip(range(start_step, plan.total_steps), batches, strict=True):
            state, metrics = train_step(state, put_batch(host_batch))
            done = step + 1
            nonfinite.push(step, metrics["nonfinite"])  # checks the step before
            if done == plan.total_steps:
                nonfinite.flush()
            log_window(done, metrics)
            stopped_early = False
            if validation.due(done):
                stopped_early = validation(done, state)
                log_window.restart()
            save_latest(plan, done, state, stopped_early)
            if stopped_early:
                logging.info(
                    "%s: stopped early at step %d of %d: %s.",
                    plan.name, done, plan.total_steps, plan.early_stopping.reason(),
                )  # fmt: skip
                writer.write_scalars(done, {"early_stop_step": done})
                break
            stop_if_asked(plan, stop, done, state, nonfinite)
    plan.checkpoints.wait()
    writer.flush()
    if not plan.checkpoints.best.all_steps():
        raise no_best_error(plan, validation.unusable_steps)
    return best_metrics(plan)


def best_metrics(plan: StagePlan) -> dict[str, Any]:
    """The validation metrics of the stage's best checkpoint ({} before there is one)."""
    best = plan.best_record()
    return best.metrics if best else {}


def announce(plan: StagePlan, start_step: int, writer: metric_writers.MetricWriter) -> None:
    """The stage's hyperparameters and plan in the log; at step 0 also the hparams and a sheet
    of validation clips in the event files."""
    stage_hparams = hparams(plan.config, plan.name, plan.model.config)
    logging.info("%s hyperparameters: %s", plan.name, metric_writers.format_scalars(stage_hparams))
    if start_step == 0:
        writer.write_hparams(stage_hparams)
        if distributed.is_main_process():
            write_samples(plan, writer)
    patience = plan.early_stopping.patience
    logging.info(
        "%s: %d steps (%d per epoch, %.1f epochs), batch %d, validation every %d steps, %s",
        plan.name,
        plan.total_steps,
        plan.batches.steps_per_epoch,
        plan.total_steps / plan.batches.steps_per_epoch,
        plan.stage.batch_size,
        plan.eval_every,
        f"early stop after {patience} validations without a lower loss"
        if patience
        else "no early stopping",
    )


def training_batches(plan: StagePlan, start_step: int):
    """The stage's batches from ``start_step`` on, built by ``config.data.loader``."""
    data = plan.config.data
    where = dict(process_index=jax.process_index(), process_count=jax.process_count())
    if data.get("loader", "threads") == "grain":
        return input_pipeline.grain_batches(
            plan.batches, start_step, plan.total_steps, **where,
            workers=data.grain_workers, prefetch=data.prefetch,
        )  # fmt: skip
    return input_pipeline.train_batches(
        plan.batches, start_step, plan.total_steps, **where,
        parallel_calls=data.parallel_calls, prefetch=data.prefetch,
    )  # fmt: skip


def write_samples(plan: StagePlan, writer: metric_writers.MetricWriter) -> None:
    """A few validation clips (raw keypoints, reference glosses) as an image at step 0, to
    check in TensorBoard what the stage trains on."""
    sheet = rendering.samples_sheet(plan.splits["val"], plan.vocabulary.glosses)
    if sheet is not None:
        writer.write_images(0, {"val_samples": sheet[None]})  # (1, height, width, 3)


def hparams(
    config: ml_collections.ConfigDict, stage_name: str, model_config: ModelConfig
) -> dict[str, Any]:
    """A stage's hyperparameters for TensorBoard and the log: the model as built (a size
    preset's or the pretrained checkpoint's dimensions, not the config's 0 placeholders), the
    stage's settings, the data source and the seed."""
    stage = config.stages[stage_name]
    flat = {"model.size": config.model.size}
    flat.update({f"model.{k}": v for k, v in model_config.to_dict().items()})
    flat.update({f"{stage_name}.{k}": v for k, v in stage.items() if k != "trainable"})
    flat[f"{stage_name}.trainable"] = ",".join(stage.trainable)
    flat["data.source"] = config.data.source
    flat["seed"] = config.seed
    return flat
