"""Three-stage training: ``train_and_evaluate(config, workdir)`` runs ``config.run_stages``.

Each stage has its own folder in the workdir with Orbax checkpoints and TensorBoard events.
Where a stage starts (big_vision's resume order): its own latest checkpoint (exact resume:
step, optimizer state, RNG and data position are all functions of the step), else the best
parameters of the previous stage in this workdir, else ``config.init_checkpoint``, else
Whisper weights from ``config.pretrained``, else a fresh initialisation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
from clu import metrics as clu_metrics

from whispersign_jax import (
    budget,
    compile_log,
    distributed,
    evaluation,
    losses,
    metric_writers,
    optim,
    rendering,
    sharding,
)
from whispersign_jax.checkpointing import StageCheckpoints
from whispersign_jax.data import augment, input_pipeline
from whispersign_jax.data.batching import TrainBatches
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.data.sources import load_splits
from whispersign_jax.keypoints import FPS, joint_set
from whispersign_jax.metrics import RecognitionMetrics
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.config import SIZE_FIELDS
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.stop_signals import StopSignals, TrainingStoppedError
from whispersign_jax.vocab import Vocabulary
from whispersign_jax.workdir import CONFIG_FILE, WorkdirLock, check_config

# config.best_metric -> a key that sorts the better validation result first.
BEST_METRICS = {
    "wer": lambda m: (m["wer"], -m["accuracy"]),  # ties: higher accuracy
    "accuracy": lambda m: (-m["accuracy"], m["wer"]),  # ties: lower WER
    "loss": lambda m: (m["loss/total"],),  # validation loss of the stage's own objective
}


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any

    def model_vars(self) -> dict[str, Any]:
        return {"params": self.params, "batch_stats": self.batch_stats}


def build_model_config(config: ml_collections.ConfigDict, num_glosses: int) -> ModelConfig:
    """``config.model`` -> ModelConfig; ``config.pretrained`` fixes the sizes to its own; the
    input's joint count is that of ``config.data.keypoints``."""
    settings = {**config.model, "num_joints": joint_set(config.data.keypoints).num_joints}
    if not config.pretrained:
        return ModelConfig.from_settings(settings, num_glosses)
    from whispersign_jax.model import pretrained

    other = {k: v for k, v in settings.items() if k != "size" and k not in SIZE_FIELDS}
    revision = config.pretrained_revision
    return pretrained.whisper_model_config(config.pretrained, num_glosses, revision, **other)


def make_train_step(model: WhisperSign, optimizer, labels, stage, config, base_rng):
    """The pure train step of one stage; the loss decides whether the decoder runs."""
    alpha = float(stage.alpha)
    num_glosses = model.config.num_glosses
    run_decoder = losses.uses_decoder(alpha)

    def loss_fn(params, state: TrainState, batch, rng):
        params = optim.freeze(params, labels)
        variables = {"params": params, "batch_stats": state.batch_stats}
        inputs, targets, target_mask = teacher_forcing(
            batch["labels"], batch["label_mask"], num_glosses
        )
        outputs, updates = model.apply(
            variables,
            batch["keypoints"],
            batch["frame_mask"],
            inputs if run_decoder else None,
            train=True,
            rngs={"dropout": rng},
            mutable=["batch_stats"],
        )
        loss, metrics = losses.hybrid_loss(
            outputs,
            batch["labels"],
            batch["label_mask"],
            targets,
            target_mask,
            alpha,
            label_smoothing=config.label_smoothing,
        )
        return loss, (metrics, updates["batch_stats"])

    def train_step(state: TrainState, batch):
        rng = jax.random.fold_in(base_rng, state.step)
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_, (metrics, batch_stats)), grads = grad_fn(state.params, state, batch, rng)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if not stage.update_batch_norm:
            batch_stats = state.batch_stats
        grad_norm = optax.tree.norm(grads)
        # A non-finite loss or gradient changes nothing but the step (the batch is consumed).
        finite = jnp.isfinite(metrics["loss/total"]) & jnp.isfinite(grad_norm)
        keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(finite, new, old))
        metrics = {**metrics, "grad_norm": grad_norm, "nonfinite": 1 - finite.astype(jnp.int32)}
        metrics["valid_frames"] = batch["frame_mask"].sum()
        new_state = state.replace(
            step=state.step + 1,
            params=keep(params, state.params),
            batch_stats=keep(batch_stats, state.batch_stats),
            opt_state=keep(opt_state, state.opt_state),
        )
        return new_state, metrics

    return train_step


class StageRunner:
    """Trains one stage in its folder of the workdir."""

    def __init__(
        self,
        config,
        stage_name: str,
        workdir: Path,
        model: WhisperSign,
        vocabulary: Vocabulary,
        splits,
        mesh,
        preprocessor: Preprocessor | None = None,
        stop: StopSignals | None = None,
    ):
        self.config, self.name, self.model = config, stage_name, model
        self.stage = config.stages[stage_name]
        self.vocabulary, self.splits, self.mesh = vocabulary, splits, mesh
        self.preprocessor = preprocessor or Preprocessor()
        self.stop = stop or StopSignals(install=False)
        self.val_samples = preprocess_samples(splits["val"], self.preprocessor)
        self.dir = workdir / stage_name
        self.checkpoints = StageCheckpoints(self.dir, keep_latest=config.keep_checkpoints)
        window = self.stage.window_seconds
        hop = window - self.stage.overlap_seconds
        self.batches = TrainBatches(
            splits["train"],
            batch_size=self.stage.batch_size,
            buckets=config.data.buckets,
            max_labels=config.data.max_labels,
            seed=config.seed,
            augmentation=augment.AugmentConfig(**config.data.augment)
            if config.data.augment_enabled
            else None,
            window_frames=round(window * FPS) or None,
            hop_frames=round(hop * FPS) or None,
            preprocess=None if self.preprocessor.is_identity else self.preprocessor,
            name=stage_name,
        )
        steps_per_epoch = self.batches.steps_per_epoch
        self.total_steps = budget.stage_steps(
            self.stage.epochs, self.stage.max_steps, steps_per_epoch
        )
        self.eval_every = budget.validation_interval(
            config.eval_every_epochs, config.eval_every_steps, steps_per_epoch
        )
        self.early_stopping = budget.EarlyStopping(**config.early_stopping)
        self.nonfinite = NonFiniteSteps(config.max_consecutive_nonfinite, self.describe_batch)
        self.batch_sharding = sharding.batch_sharding(mesh)
        # (shapes and dtypes of {"params", "batch_stats"}: the target of every restore)
        self.abstract_variables = jax.eval_shape(lambda: init_variables(model, jax.random.key(0)))

    # ---- state ------------------------------------------------------------------------
    def _optimizer(self, params):
        labels = optim.trainable_labels(params, self.stage.trainable)
        schedule = optim.learning_rate_schedule(
            self.stage.lr, self.stage.warmup_steps, self.total_steps
        )
        optimizer = optim.make_optimizer(
            params, labels, schedule, self.stage.weight_decay, self.config.clip_norm
        )
        return labels, schedule, optimizer

    def _shard(self, tree):
        shardings = sharding.state_sharding(self.mesh, tree)
        return jax.device_put(tree, shardings)

    def initial_model_vars(self, previous: str | None, labels) -> tuple[dict, str]:
        """Parameters to start from when this stage has no checkpoint of its own."""
        target = self.abstract_variables
        sources = []
        if previous:
            sources.append((self.dir.parent / previous, f"best of {previous}"))
        if self.config.init_checkpoint:
            sources.append((Path(self.config.init_checkpoint), self.config.init_checkpoint))
        for stage_dir, description in sources:
            checkpoints = StageCheckpoints(stage_dir)
            try:
                restored = StageCheckpoints.restore(checkpoints.best, self._matching(target))
            finally:
                checkpoints.close()
            if restored is not None:
                return restored[0], description
        if previous:
            logging.warning(
                "%s: %s has no best checkpoint of %s, so this stage does NOT start from its "
                "result. Run %s first with the same --workdir (e.g. --config=configs/%s.py), "
                "or pass --config.init_checkpoint=<other workdir>/%s.",
                self.name,
                self.dir.parent,
                previous,
                previous,
                previous,
                previous,
            )
        variables = init_variables(self.model, jax.random.key(self.config.seed))
        if self.config.pretrained:
            from whispersign_jax.model import pretrained

            params, report = pretrained.load_whisper_weights(
                variables["params"], self.model.config, self.config.pretrained,
                self.config.pretrained_revision,
            )  # fmt: skip
            logging.info("%s", report.summary())
            return {**variables, "params": params}, f"Whisper {self.config.pretrained}"
        frozen = optim.frozen_parts(labels)
        if frozen:
            logging.warning(
                "%s freezes %s, which start from a random initialisation and so stay random. "
                "Pass --config.pretrained=openai/whisper-base (or a local Whisper folder), "
                "--config.init_checkpoint=<workdir>/<stage>, or train them with "
                "--config.stages.%s.trainable.",
                self.name,
                ", ".join(frozen),
                self.name,
            )
        return variables, "fresh initialisation"

    def initial_state(self, previous: str | None) -> tuple[TrainState, Any, Any, Any]:
        target = self.abstract_variables
        labels, schedule, optimizer = self._optimizer(target["params"])
        opt_target = jax.eval_shape(optimizer.init, target["params"])
        train_target = {"step": jax.ShapeDtypeStruct((), jnp.int32), "opt_state": opt_target}
        restored = StageCheckpoints.restore(
            self.checkpoints.latest,
            self._matching(target),
            self._abstract_sharded(train_target),
        )
        if restored is not None:
            model_vars, train_vars, _ = restored
            logging.info("%s: resuming at step %d", self.name, int(train_vars["step"]))
            state = TrainState(
                train_vars["step"],
                model_vars["params"],
                model_vars["batch_stats"],
                train_vars["opt_state"],
            )
            return state, labels, schedule, optimizer
        model_vars, description = self.initial_model_vars(previous, labels)
        logging.info("%s: starting from %s", self.name, description)
        model_vars = self._shard(model_vars)
        opt_state = jax.jit(
            optimizer.init, out_shardings=sharding.state_sharding(self.mesh, opt_target)
        )(model_vars["params"])
        step = jax.device_put(jnp.zeros((), jnp.int32), sharding.replicated(self.mesh))
        state = TrainState(step, model_vars["params"], model_vars["batch_stats"], opt_state)
        return state, labels, schedule, optimizer

    def _matching(self, target):
        """The restore target of a checkpoint that must hold this run's model and labels:
        anything else is refused with both sides named."""
        shaped = self._abstract_sharded(target)

        def checked(metadata: dict[str, Any]):
            ours = {
                "model config": _shape_fields(self.model.config.to_dict()),
                "label map": self.vocabulary.label_map(),
            }
            theirs = {
                "model config": _shape_fields(metadata.get("model_config", {})),
                "label map": metadata.get("label_map"),
            }
            for what, value in ours.items():
                if theirs[what] != value:
                    raise ValueError(
                        f"{self.name}: the checkpoint of stage {metadata.get('stage')} at step "
                        f"{metadata.get('step')} has another {what} than this run: checkpoint "
                        f"{theirs[what]} vs this run {value}. Train in a new --workdir, or "
                        "start from a checkpoint of this model and dataset."
                    )
            return shaped

        return checked

    def _abstract_sharded(self, tree):
        shardings = sharding.state_sharding(self.mesh, tree)
        return jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), tree, shardings
        )

    # ---- loop -------------------------------------------------------------------------
    def metadata(
        self, step: int, metrics: dict[str, Any], stopped_early: bool = False
    ) -> dict[str, Any]:
        return {
            "stage": self.name,
            "step": step,
            "total_steps": self.total_steps,
            "model_config": self.model.config.to_dict(),
            "joint_set": self.config.data.keypoints,  # keypoints.JOINT_SETS; absent: hands
            "label_map": self.vocabulary.label_map(),
            "preprocessing": self.preprocessor.to_dict(),
            "metrics": metrics,
            "early_stopping": self.early_stopping.state(),
            "stopped_early": stopped_early,
        }

    def finished(self) -> bool:
        metadata = StageCheckpoints.metadata(self.checkpoints.latest)
        if metadata is None:
            return False
        return metadata["step"] >= self.total_steps or bool(metadata.get("stopped_early"))

    def validate(self, state: TrainState) -> tuple[dict[str, Any], RecognitionMetrics]:
        """The validation metrics, and their alignments (for the confusion matrix)."""
        data = self.config.data
        alignments = RecognitionMetrics()
        metrics = evaluation.evaluate_samples(
            self.eval_step,
            state.model_vars(),
            self.val_samples,
            data.eval_batch_size,
            data.buckets,
            data.max_labels,
            put_batch=lambda b: sharding.global_batch(b, self.batch_sharding),
            metrics=alignments,
            loss_step=self.loss_step,
            alpha=float(self.stage.alpha),
        )
        return metrics, alignments

    def is_better(self, metrics: dict[str, Any], best: dict[str, Any] | None) -> bool:
        """Whether ``metrics`` beat ``best`` by ``config.best_metric`` (``BEST_METRICS``)."""
        rank = BEST_METRICS[self.config.best_metric]
        return best is None or rank(metrics) < rank(best)

    def run(self, previous: str | None) -> dict[str, Any]:
        config = self.config
        if self.finished():
            logging.info("%s: already finished (%d steps), skipping.", self.name, self.total_steps)
            return (StageCheckpoints.metadata(self.checkpoints.best) or {}).get("metrics", {})
        state, labels, schedule, optimizer = self.initial_state(previous)
        latest = StageCheckpoints.metadata(self.checkpoints.latest) if int(state.step) else None
        self.early_stopping.restore((latest or {}).get("early_stopping"))
        base_rng = jax.random.key(config.seed + 1)
        state_shardings = jax.tree.map(lambda x: x.sharding, state)
        train_step = jax.jit(
            make_train_step(self.model, optimizer, labels, self.stage, config, base_rng),
            in_shardings=(state_shardings, self.batch_sharding),
            out_shardings=(state_shardings, sharding.replicated(self.mesh)),
            donate_argnums=0,
        )
        self.compiles = compile_log.FirstCompiles(self.name)
        train_step = self.compiles.wrap(train_step, "train step")
        self.eval_step = self.compiles.wrap(
            evaluation.make_eval_step(self.model), "validation decoder"
        )
        self.loss_step = self.compiles.wrap(
            evaluation.make_loss_step(self.model, float(self.stage.alpha)), "validation loss"
        )
        best_metadata = StageCheckpoints.metadata(self.checkpoints.best)
        best = best_metadata["metrics"] if best_metadata else None

        # Event files only: the log gets the lines below, each value once.
        events_dir = str(self.dir) if distributed.is_main_process() else None
        writer = metric_writers.create_writer(events_dir, log_values=False)
        start_step = int(state.step)
        stage_hparams = hparams(config, self.name, self.model.config)
        logging.info(
            "%s hyperparameters: %s", self.name, metric_writers.format_scalars(stage_hparams)
        )
        if start_step == 0:
            writer.write_hparams(stage_hparams)
            if distributed.is_main_process():
                self.write_samples(writer)
        patience = self.early_stopping.patience
        logging.info(
            "%s: %d steps (%d per epoch, %.1f epochs), batch %d, validation every %d steps, %s",
            self.name,
            self.total_steps,
            self.batches.steps_per_epoch,
            self.total_steps / self.batches.steps_per_epoch,
            self.stage.batch_size,
            self.eval_every,
            f"early stop after {patience} validations without a lower loss"
            if patience
            else "no early stopping",
        )
        batches = input_pipeline.train_batches(
            self.batches,
            start_step,
            self.total_steps,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            parallel_calls=config.data.parallel_calls,
            prefetch=config.data.prefetch,
        )
        with contextlib.closing(batches):  # an early stop cancels the batches ahead
            self._loop(state, batches, start_step, train_step, schedule, writer, best)
        self.checkpoints.wait()
        writer.flush()
        return (StageCheckpoints.metadata(self.checkpoints.best) or {}).get("metrics", {})

    def write_samples(self, writer: metric_writers.MetricWriter) -> None:
        """A few validation clips (raw keypoints, reference glosses) as an image at step 0,
        to check in TensorBoard what the stage trains on."""
        sheet = rendering.samples_sheet(self.splits["val"], self.vocabulary.glosses)
        if sheet is not None:
            writer.write_images(0, {"val_samples": sheet[None]})  # (1, height, width, 3)

    def _loop(self, state, batches, start_step, train_step, schedule, writer, best) -> None:
        """Steps ``start_step ..`` to the end of the stage or an early stop."""
        config = self.config
        progress = metric_writers.ReportProgress(
            num_train_steps=self.total_steps,
            writer=writer,
            every_steps=config.log_every_steps,
            name=self.name,
            excluded_seconds=lambda: self.compiles.seconds,
            may_stop_early=bool(self.early_stopping.patience),
        )
        history, window_start = [], self._clock()
        for step, host_batch in zip(range(start_step, self.total_steps), batches, strict=True):
            batch = sharding.global_batch(host_batch, self.batch_sharding)
            state, metrics = train_step(state, batch)
            history.append(metrics)
            self.nonfinite.push(step, metrics["nonfinite"])  # checks the step before
            done = step + 1
            if done == self.total_steps:
                self.nonfinite.flush()
            if done % config.log_every_steps == 0 or done == self.total_steps:
                elapsed = self._clock() - window_start
                scalars = summarise(jax.device_get(history), elapsed)
                scalars["lr"] = float(schedule(done - 1))
                writer.write_scalars(done, scalars)
                progress(done, shown_scalars(scalars))
                history, window_start = [], self._clock()
            else:
                progress(done)
            stop = False
            if done % self.eval_every == 0 or done == self.total_steps:
                val, alignments = self.validate(state)
                writer.write_scalars(done, {f"val/{k}": v for k, v in val.items()})
                better = self.is_better(val, best)
                logging.info(
                    "%s step %d: val %s%s",
                    self.name,
                    done,
                    metric_writers.format_scalars(val),
                    " (best so far)" if better else "",
                )
                if better:
                    best = val
                    if distributed.is_main_process():  # the new best's confusions
                        image = evaluation.confusion_image(alignments, self.vocabulary)
                        writer.write_images(done, {"val/confusion_matrix": image[None]})
                    self.checkpoints.save_best(
                        done,
                        state.model_vars(),
                        self._train_vars(state),
                        self.metadata(done, val),
                    )
                stop = self.early_stopping.update(val["loss/total"], done)
                window_start = self._clock()
            if stop or done % config.checkpoint_every_steps == 0 or done == self.total_steps:
                self.checkpoints.save_latest(
                    done,
                    state.model_vars(),
                    self._train_vars(state),
                    self.metadata(done, {}, stopped_early=stop),
                )
            if stop:
                logging.info(
                    "%s: stopped early at step %d of %d: %s.",
                    self.name,
                    done,
                    self.total_steps,
                    self.early_stopping.reason(),
                )
                writer.write_scalars(done, {"early_stop_step": done})
                return
            self._stop_if_asked(done, state)

    def _clock(self) -> float:
        """Seconds that stand still while a step compiles: a logging window's speed leaves
        out the compilation of its first steps."""
        return time.perf_counter() - self.compiles.seconds

    def _stop_if_asked(self, done: int, state: TrainState) -> None:
        """After a SIGTERM / SIGINT (or, across processes, JAX's preemption notice): saves
        the latest checkpoint at ``done`` and raises ``TrainingStoppedError``."""
        preempted = jax.process_count() > 1 and self.checkpoints.latest.reached_preemption(done)
        if not (self.stop.requested or preempted) or done == self.total_steps:
            return
        self.nonfinite.flush()
        if self.checkpoints.latest.latest_step() != done:
            self.checkpoints.save_latest(
                done, state.model_vars(), self._train_vars(state), self.metadata(done, {})
            )
        self.checkpoints.wait()
        raise TrainingStoppedError(self.stop.requested or "preemption notice", self.name, done)

    def describe_batch(self, step: int) -> str:
        """The training samples of batch ``step``, for error messages."""
        return f"training samples {sorted(self.batches.chosen(step).tolist())}"

    @staticmethod
    def _train_vars(state: TrainState) -> dict[str, Any]:
        return {"step": state.step, "opt_state": state.opt_state}

    def close(self) -> None:
        self.checkpoints.wait()
        self.checkpoints.close()


RUN_ONLY_MODEL_FIELDS = ("dropout", "channel_dropout", "dtype")  # shape nothing stored


def _shape_fields(model_config: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in model_config.items() if k not in RUN_ONLY_MODEL_FIELDS}


class NonFiniteSteps:
    """Counts consecutive train steps that the jitted step skipped for a non-finite loss or
    gradient; after ``limit`` of them in a row, stops training with the steps and samples.

    Each step's flag is read one step later, when it is ready, so the device never waits."""

    def __init__(self, limit: int, describe_batch: Callable[[int], str]):
        if limit < 1:
            raise ValueError(f"config.max_consecutive_nonfinite must be >= 1, got {limit}.")
        self.limit, self.describe_batch = limit, describe_batch
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
            "step %d skipped: non-finite loss or gradient (%s)", step + 1, self.describe_batch(step)
        )
        if len(self.streak) >= self.limit:
            raise FloatingPointError(
                f"{len(self.streak)} consecutive steps ({self.streak[0] + 1} to {step + 1}) had a "
                f"non-finite loss or gradient and were skipped; the last batch held "
                f"{self.describe_batch(step)}. No checkpoint holds a non-finite value, so a rerun "
                "resumes from the last good one: lower the stage's lr, or check those samples "
                "for extreme values."
            )


COUNTED_METRICS = ("ctc_infeasible", "nonfinite")  # summed over a logging window, not averaged


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


def save_config(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """The run's config; the label map and preprocessing travel in every checkpoint."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / CONFIG_FILE).write_text(config.to_json_best_effort(indent=1))


def preprocess_samples(samples: list, preprocessor: Preprocessor) -> list:
    """``samples`` with ``preprocessor`` applied to their keypoints (evaluation inputs)."""
    if preprocessor.is_identity:
        return samples
    return [dataclasses.replace(s, keypoints=preprocessor(s.keypoints)) for s in samples]


def stage_sequence(config: ml_collections.ConfigDict) -> list[tuple[str, str | None]]:
    """``(stage, the stage before it in config.stage_order or None)`` for each of
    ``config.run_stages``; a clear error for a stage that is not configured or out of order."""
    order = tuple(config.stage_order)
    unknown = [name for name in (*order, *config.run_stages) if name not in config.stages]
    if unknown or not set(config.run_stages) <= set(order):
        raise ValueError(
            f"config.run_stages {tuple(config.run_stages)} and config.stage_order {order} "
            f"must name stages of config.stages {tuple(config.stages)}; unknown: {unknown}."
        )
    positions = [order.index(name) for name in config.run_stages]
    if positions != sorted(positions):
        raise ValueError(
            f"config.run_stages {tuple(config.run_stages)} must follow config.stage_order {order}."
        )
    return [(order[i], order[i - 1] if i else None) for i in positions]


def check_batch_sizes(config: ml_collections.ConfigDict, num_devices: int) -> None:
    """Every batch of the run splits evenly over the mesh's devices (and so over the
    processes); a clear error at start otherwise."""
    sizes = {f"config.stages.{name}.batch_size": config.stages[name].batch_size
             for name in config.run_stages}  # fmt: skip
    sizes["config.data.eval_batch_size"] = config.data.eval_batch_size
    uneven = {setting: size for setting, size in sizes.items() if size % num_devices}
    if uneven:
        raise ValueError(
            f"{uneven}: batch sizes must be multiples of the {num_devices} devices of the mesh "
            f"({jax.process_count()} process(es)); set them to a multiple of {num_devices}."
        )


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Runs every stage of ``config.run_stages``; returns each stage's best validation.

    Holds the workdir's lock throughout; SIGTERM / SIGINT end it with a saved checkpoint and
    ``stop_signals.TrainingStoppedError``."""
    if config.best_metric not in BEST_METRICS:
        raise ValueError(
            f"config.best_metric={config.best_metric!r}; choose one of {sorted(BEST_METRICS)}."
        )
    workdir = Path(workdir)
    main = distributed.is_main_process()
    lock = WorkdirLock(workdir) if main else contextlib.nullcontext()
    with lock, StopSignals(install=jax.process_count() == 1) as stop:
        check_config(workdir, config.to_json_best_effort())
        vocabulary, splits = load_splits(config.data)
        logging.info("data: %s", {name: len(samples) for name, samples in splits.items()})
        preprocessor = Preprocessor.fit(
            (sample.keypoints for sample in splits["train"]),
            normalize_hands=config.data.normalize_hands,
            standardize=config.data.standardize,
        )  # statistics of the train split only
        if main:
            save_config(config, workdir)
        model = WhisperSign(build_model_config(config, vocabulary.num_glosses))
        mesh = sharding.make_mesh(config.mesh.data, config.mesh.fsdp)
        check_batch_sizes(config, mesh.size)
        results = {}
        for name, previous in stage_sequence(config):
            runner = StageRunner(
                config, name, workdir, model, vocabulary, splits, mesh, preprocessor, stop
            )
            try:
                results[name] = runner.run(previous)
            finally:
                runner.close()
        if main:
            (workdir / "results.json").write_text(json.dumps(results, indent=1))
    return results
