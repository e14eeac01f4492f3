"""``StagePlan``: everything fixed about one stage before its first step: the model, its data
and batches, its budget (steps, validation interval, early stopping), its optimizer, its
checkpoint folders and the mesh it runs on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import ml_collections

from whispersign_jax import storage
from whispersign_jax.data import augment
from whispersign_jax.data.batching import TrainBatches
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.keypoints import FPS, recorded_joint_set
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.runs.checkpointing import StageCheckpoints
from whispersign_jax.runs.record import CheckpointMismatchError, CheckpointRecord
from whispersign_jax.training import budget, optim, sharding
from whispersign_jax.vocab import Vocabulary


class StagePlan:
    """Stage ``name`` of ``config`` in ``workdir / name``."""

    def __init__(
        self,
        config: ml_collections.ConfigDict,
        name: str,
        workdir: Path,
        model: WhisperSign,
        vocabulary: Vocabulary,
        splits: dict[str, list],
        mesh,
        preprocessor: Preprocessor | None = None,
    ):
        self.config, self.name, self.model, self.mesh = config, name, model, mesh
        self.stage = config.stages[name]
        self.vocabulary, self.splits = vocabulary, splits
        self.preprocessor = preprocessor or Preprocessor()
        self.dir = storage.path(workdir) / name
        self.batches = train_batches(config, name, splits["train"], self.preprocessor)
        self.data_fingerprint = self.batches.source.index.fingerprint()  # exact resume needs it
        per_epoch = self.batches.steps_per_epoch
        self.total_steps = budget.stage_steps(self.stage.epochs, self.stage.max_steps, per_epoch)
        self.eval_every = budget.validation_interval(
            config.eval_every_epochs, config.eval_every_steps, per_epoch
        )
        self.early_stopping = budget.EarlyStopping(**config.early_stopping)
        self.batch_sharding = sharding.batch_sharding(mesh)
        # (shapes and dtypes of {"params", "batch_stats"}: the target of every restore)
        self.abstract_variables = jax.eval_shape(lambda: init_variables(model, jax.random.key(0)))
        self.optimizer = optim.stage_optimizer(
            self.abstract_variables["params"], self.stage, self.total_steps, config.clip_norm
        )
        self.checkpoints = StageCheckpoints(self.dir, keep_latest=config.keep_checkpoints)

    def record(
        self, step: int, metrics: dict[str, Any], stopped_early: bool = False
    ) -> CheckpointRecord:
        """The record saved with the checkpoint of ``step``."""
        return CheckpointRecord(
            stage=self.name,
            step=step,
            total_steps=self.total_steps,
            model_config=self.model.config.to_dict(),
            joint_set=self.joint_set,
            label_map=self.vocabulary.label_map(),
            preprocessing=self.preprocessor.to_dict(),
            metrics=metrics,
            early_stopping=self.early_stopping.state(),
            stopped_early=stopped_early,
            data_fingerprint=self.data_fingerprint,
        )

    @property
    def joint_set(self) -> str:
        return recorded_joint_set(self.config.data.get("keypoints"))

    def latest_record(self) -> CheckpointRecord | None:
        return StageCheckpoints.record(self.checkpoints.latest)

    def best_record(self) -> CheckpointRecord | None:
        return StageCheckpoints.record(self.checkpoints.best)

    def finished(self) -> bool:
        """Whether the stage ran all its steps or stopped early (a rerun skips it); a
        ``CheckpointMismatchError`` when its checkpoints are another run's
        (``refuse_other_checkpoints``), so that no other model passes for this run's."""
        refuse_other_checkpoints(
            self.checkpoints, self.model.config, self.vocabulary, self.joint_set, self.preprocessor
        )
        latest = self.latest_record()
        return latest is not None and (latest.step >= self.total_steps or latest.stopped_early)

    def describe_batch(self, step: int) -> str:
        """The training samples of batch ``step``, for error messages."""
        return f"training samples {sorted(self.batches.chosen(step).tolist())}"

    def close(self) -> None:
        self.checkpoints.wait()
        self.checkpoints.close()


def refuse_other_checkpoints(
    checkpoints: StageCheckpoints,
    model_config: ModelConfig,
    vocabulary: Vocabulary,
    joint_set: str,
    preprocessor: Preprocessor,
) -> None:
    """A ``CheckpointMismatchError`` naming both sides when the newest ``latest`` or ``best``
    checkpoint of a stage was trained with another model config, label map, joint set or
    preprocessing than this run's: its own record decides, with or without the workdir's
    ``config.json`` (which a rerun rewrites). Fields an older record lacks are not compared."""
    for kind in ("latest", "best"):
        manager = getattr(checkpoints, kind)
        record = StageCheckpoints.record(manager)
        mismatch = record and record.mismatch(
            model_config.to_dict(), vocabulary.label_map(), joint_set, preprocessor.to_dict()
        )
        if mismatch:
            raise CheckpointMismatchError(
                f"{manager.directory}: {mismatch}. This workdir holds another run: train in a "
                "new --workdir, or rerun with the config and data it was trained with."
            )


def refuse_other_workdir_checkpoints(
    config: ml_collections.ConfigDict,
    workdir: Path,
    model_config: ModelConfig,
    vocabulary: Vocabulary,
    preprocessor: Preprocessor,
) -> None:
    """``refuse_other_checkpoints`` for every stage of ``config.stage_order`` that has
    checkpoints in ``workdir``: run before the workdir's ``config.json`` is written."""
    joint_set = recorded_joint_set(config.data.get("keypoints"))
    for name in config.stage_order:
        if not (storage.path(workdir) / name / "checkpoints").is_dir():
            continue  # a stage not trained yet: no folders created for it here
        checkpoints = StageCheckpoints(storage.path(workdir) / name)
        try:
            refuse_other_checkpoints(checkpoints, model_config, vocabulary, joint_set, preprocessor)
        finally:
            checkpoints.close()


def train_batches(
    config: ml_collections.ConfigDict, name: str, samples: list, preprocessor: Preprocessor
) -> TrainBatches:
    """Stage ``name``'s training batches: whole clips, or (with ``window_seconds``) sliding
    windows of them; with ``join_share``, that share of batches joins clips into sentences;
    augmented when ``config.data.augment_enabled``."""
    stage, data = config.stages[name], config.data
    window, hop = stage.window_seconds, stage.window_seconds - stage.overlap_seconds
    augmentation = augment.AugmentConfig(**data.augment) if data.augment_enabled else None
    return TrainBatches(
        samples,
        batch_size=stage.batch_size,
        buckets=data.buckets,
        max_labels=data.max_labels,
        seed=config.seed,
        augmentation=augmentation,
        window_frames=round(window * FPS) or None,
        hop_frames=round(hop * FPS) or None,
        preprocess=None if preprocessor.is_identity else preprocessor,
        name=name,
        join_share=float(stage.get("join_share", 0.0)),  # configs from before it: none
        join_signs=int(stage.get("join_signs", 2)),
    )
