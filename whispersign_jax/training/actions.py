"""What the stage loop does around its train steps, each a small named piece (as CLU's
periodic actions): the logging window, validation with the best checkpoint and early
stopping, the latest checkpoint, the watch on skipped steps and the stop on a signal."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from typing import Any

import jax
import numpy as np
from clu import metrics as clu_metrics

from whispersign_jax.runs import checkpointing
from whispersign_jax.training import distributed, metric_writers
from whispersign_jax.training.compile_log import FirstCompiles
from whispersign_jax.training.eval_report import confusion_image
from whispersign_jax.training.evaluator import Evaluator
from whispersign_jax.training.plan import StagePlan
from whispersign_jax.training.state import TrainState
from whispersign_jax.training.stop_signals import StopSignals, TrainingStoppedError

# config.best_metric -> a key that sorts the better validation result first.
BEST_METRICS = {
    "wer": lambda m: (m["wer"], -m["accuracy"]),  # ties: higher accuracy
    "accuracy": lambda m: (-m["accuracy"], m["wer"]),  # ties: lower WER
    "loss": lambda m: (m["loss/total"],),  # validation loss of the stage's own objective
}
COUNTED_METRICS = ("ctc_infeasible", "nonfinite")  # summed over a logging window, not averaged


def is_better(best_metric: str, metrics: dict[str, Any], best: dict[str, Any] | None) -> bool:
    """Whether ``metrics`` beat ``best`` by ``config.best_metric`` (``BEST_METRICS``)."""
    rank = BEST_METRICS[best_metric]
    return best is None or rank(metrics) < rank(best)


class LogWindow:
    """Every ``config.log_every_steps`` steps (and at the last): the window's scalars to the
    event files and one log line (``metric_writers.ReportProgress``); the speed leaves out
    compilation (``compiles.seconds``)."""

    def __init__(self, plan: StagePlan, writer, compiles: FirstCompiles):
        self.plan, self.writer, self.compiles = plan, writer, compiles
        self.progress = metric_writers.ReportProgress(
            num_train_steps=plan.total_steps,
            writer=writer,
            every_steps=plan.config.log_every_steps,
            name=plan.name,
            excluded_seconds=lambda: compiles.seconds,
            may_stop_early=bool(plan.early_stopping.patience),
        )
        self.history: list[dict[str, Any]] = []
        self.restart()

    def clock(self) -> float:
        """Seconds that stand still while a step compiles."""
        return time.perf_counter() - self.compiles.seconds

    def restart(self) -> None:
        """A new window starts now (after validation, whose time is not a step's)."""
        self.start = self.clock()

    def __call__(self, done: int, metrics: dict[str, jax.Array]) -> None:
        self.history.append(metrics)
        if done % self.plan.config.log_every_steps and done != self.plan.total_steps:
            self.progress(done)
            return
        scalars = summarise(jax.device_get(self.history), self.clock() - self.start)
        scalars["lr"] = float(self.plan.optimizer.schedule(done - 1))
        self.writer.write_scalars(done, scalars)
        self.progress(done, shown_scalars(scalars))
        self.history = []
        self.restart()


class Validation:
    """Every ``plan.eval_every`` steps (and at the last): the evaluator on the validation
    split; a better result (``config.best_metric``) becomes the best checkpoint with its
    confusion matrix; the validation loss feeds early stopping. A result that is not finite
    (``unusable``) never becomes the best; ``unusable_steps`` lists those validations."""

    def __init__(self, plan: StagePlan, evaluator: Evaluator, writer, best: dict | None):
        self.plan, self.evaluator, self.writer, self.best = plan, evaluator, writer, best
        self.unusable_steps: list[int] = []

    def due(self, done: int) -> bool:
        return done % self.plan.eval_every == 0 or done == self.plan.total_steps

    def __call__(self, done: int, state: TrainState) -> bool:
        """Validates at ``done``; True when early stopping ends the stage there."""
        plan = self.plan
        model_vars = state.validated_vars()  # the weight average where the stage keeps one
        val, alignments = self.evaluator(model_vars)
        self.writer.write_scalars(done, {f"val/{k}": v for k, v in val.items()})
        why_not = unusable(val, model_vars)
        better = not why_not and is_better(plan.config.best_metric, val, self.best)
        shown = metric_writers.format_scalars(val)
        marker = " (best so far)" if better else ""
        logging.info("%s step %d: val %s%s", plan.name, done, shown, marker)
        if why_not:
            self.unusable_steps.append(done)
            logging.warning(
                "%s step %d: %s, so these weights can never be the best checkpoint (a learning "
                "rate too high for the stage, config.stages.%s.lr=%g?).",
                plan.name, done, why_not, plan.name, plan.stage.lr,
            )  # fmt: skip
        if better:
            self.best = val
            if distributed.is_main_process():  # the new best's confusions
                image = confusion_image(alignments, plan.vocabulary)
                self.writer.write_images(done, {"val/confusion_matrix": image[None]})
            plan.checkpoints.save_best(
                done, model_vars, state.train_vars(), plan.record(done, val).to_json()
            )
        return plan.early_stopping.update(val["loss/total"], done)


def unusable(metrics: dict[str, Any], model_vars) -> str:
    """Why a validation cannot make its weights the best checkpoint ("" when it can): weights,
    or outputs on the validation split (its loss, its metrics), that are not finite."""
    if not checkpointing.all_finite(model_vars):
        return "the weights hold NaN or infinite values"
    bad = {k: v for k, v in metrics.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:
        return f"the validation gave non-finite {metric_writers.format_scalars(bad)}"
    return ""


def diverged_advice(plan: StagePlan) -> str:
    """What to do when a stage diverged: train it again, from its start, with a lower learning
    rate in the same workdir (``workdir.check_config`` lets an untrained stage's settings
    change; the stages before it are kept)."""
    return (
        f"To train {plan.name} again with a lower learning rate, move its folder aside (mv "
        f"{plan.dir} {plan.dir}.diverged) and rerun the same command with "
        f"--config.stages.{plan.name}.lr=<a value below {plan.stage.lr:g}>."
    )


def no_best_error(plan: StagePlan, unusable_steps: list[int]) -> FloatingPointError:
    """A stage that ended without a best checkpoint: its next stage would start from nothing."""
    if unusable_steps:
        steps = ", ".join(map(str, unusable_steps))
        at = f"at step {steps}" if len(unusable_steps) == 1 else f"at steps {steps}"
        why = f"its validation {at} was not finite"
    else:
        why = "its validations were not finite, or its best checkpoints were removed"
    return FloatingPointError(
        f"{plan.name} has no best checkpoint in {plan.checkpoints.best.directory}: {why}, so no "
        f"weights of it are fit to use. {diverged_advice(plan)}"
    )


def save_latest(plan: StagePlan, done: int, state: TrainState, stopped_early: bool) -> None:
    """Every ``config.checkpoint_every_steps`` steps, at the last and at an early stop: the
    latest checkpoint, which a rerun resumes from."""
    config = plan.config
    if stopped_early or done % config.checkpoint_every_steps == 0 or done == plan.total_steps:
        record = plan.record(done, {}, stopped_early=stopped_early)
        plan.checkpoints.save_latest(done, state.model_vars(), state.train_vars(), record.to_json())


def stop_if_asked(
    plan: StagePlan, stop: StopSignals, done: int, state: TrainState, nonfinite: NonFiniteSteps
) -> None:
    """After a SIGTERM / SIGINT (or, across processes, JAX's preemption notice): checks the
    last step's flag, saves the latest checkpoint at ``done`` and raises
    ``TrainingStoppedError``."""
    checkpoints = plan.checkpoints
    preempted = jax.process_count() > 1 and checkpoints.latest.reached_preemption(done)
    if not (stop.requested or preempted) or done == plan.total_steps:
        return
    nonfinite.flush()
    if checkpoints.latest.latest_step() != done:
        record = plan.record(done, {})
        checkpoints.save_latest(done, state.model_vars(), state.train_vars(), record.to_json())
    checkpoints.wait()
    raise TrainingStoppedError(stop.requested or "preemption notice", plan.name, done)


class NonFiniteSteps:
    """Counts consecutive train steps that the jitted step skipped for a non-finite loss,
    gradient or update; after ``limit`` of them in a row, stops training with the steps and
    samples and ``advice`` (``diverged_advice``).

    Each step's flag is read one step later, when it is ready, so the device never waits."""

    def __init__(self, limit: int, describe_batch: Callable[[int], str], advice: str = ""):
        if limit < 1:
            raise ValueError(f"config.max_consecutive_nonfinite must be >= 1, got {limit}.")
        self.limit, self.describe_batch, self.advice = limit, describe_batch, advice
        self.pending: tuple[int, Any] | None = None
        self.streak: list[int] = []  # the steps of the current run of skipped steps

    def push(self, step: int, flag) -> None:
        """Records step ``step``'s flag (a device scalar) and checks the previous one."""
        previous, self.pending = self.pending, (step, flag)
        if previous is not None:
            self._check(*previous)

    def flush(self) -> None:
        if self.pending is not None:
            self._check(*self.pending)
            self.pending = None

    def _check(self, step: int, flag) -> None:
        if not int(flag):
            self.streak = []
            return
        self.streak.append(step)
        logging.warning(
            "step %d skipped: non-finite loss, gradient or update (%s)",
            step + 1,
            self.describe_batch(step),
        )
        if len(self.streak) >= self.limit:
            raise FloatingPointError(
                f"{len(self.streak)} consecutive steps ({self.streak[0] + 1} to {step + 1}) had a "
                f"non-finite loss, gradient or update and were skipped; the last batch held "
                f"{self.describe_batch(step)}. No checkpoint holds a non-finite value, but the "
                "same rerun would diverge the same way. If those samples hold no extreme "
                f"values, the learning rate is too high. {self.advice}".strip()
            )


def summarise(history: list[dict[str, np.ndarray]], elapsed: float) -> dict[str, float]:
    """One logging window's scalars: each step metric as a CLU ``Average`` over the applied
    (finite) steps, the counts of ``COUNTED_METRICS``, and throughput."""
    applied = np.array([not m["nonfinite"] for m in history])
    scalars = {}
    for key in history[0]:
        if key in COUNTED_METRICS or key == "valid_frames":
            continue
        values = np.array([m[key] for m in history], np.float32)
        average = clu_metrics.Average.from_model_output(values, mask=applied)
        scalars[key] = float(average.compute()) if applied.any() else float("nan")
    scalars.update({key: float(np.sum([m[key] for m in history])) for key in COUNTED_METRICS})
    scalars["steps_per_s"] = len(history) / elapsed
    scalars["frames_per_s"] = float(np.sum([m["valid_frames"] for m in history])) / elapsed
    return scalars


def shown_scalars(scalars: dict[str, float]) -> dict[str, float]:
    """A logging window's scalars as the log shows them: the losses first, then the rest by
    name; the ``COUNTED_METRICS`` only when not zero."""
    shown = {k: v for k, v in scalars.items() if v or k not in COUNTED_METRICS}
    order = sorted(shown, key=lambda k: (not k.startswith("loss/"), k != "loss/total", k))
    return {key: shown[key] for key in order}
