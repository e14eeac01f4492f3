"""A trained model ready to use: config, vocabulary, preprocessing and the variables of a
checkpoint, loaded from a workdir (best checkpoint of a stage), a checkpoint folder, a model
folder (``model_folder.py``) or the Hugging Face hub id of one."""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from pathlib import Path
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

from whispersign_jax import storage
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.runs import model_folder
from whispersign_jax.runs.checkpointing import StageCheckpoints, read_step
from whispersign_jax.runs.record import (
    CheckpointMismatchError,
    CheckpointRecord,
    describe_label_maps,
)
from whispersign_jax.runs.trained_model import TrainedModel, inference_variables
from whispersign_jax.runs.workdir import CONFIG_FILE
from whispersign_jax.vocab import Vocabulary

__all__ = [
    "TrainedModel",
    "inference_variables",
    "load",
    "load_data_splits",
    "load_trained",
    "read_config",
]


def read_config(workdir: Path) -> ml_collections.ConfigDict:
    path = workdir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: {workdir} is not a training workdir (run "
            "`python -m whispersign_jax.main --config=... --workdir=...` first)."
        )
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def load_trained(
    workdir: str | Path, stage: str | None = None, dtype: str | None = None
) -> TrainedModel:
    """The best checkpoint of ``stage``, by default the last stage (in ``config.stage_order``)
    that has one, with a warning naming any later stage of the run without one; ``dtype``
    overrides the compute dtype it was trained with (parameters stay float32)."""
    workdir = storage.path(workdir)
    config = read_config(workdir)
    order = config.get("stage_order", config.run_stages)
    candidates = [stage] if stage else list(reversed(order))
    for name in candidates:
        checkpoints = StageCheckpoints(workdir / name)
        try:
            restored = StageCheckpoints.restore(checkpoints.best, _model_target(dtype))
        finally:
            checkpoints.close()
        if restored is not None:
            skipped = candidates[: candidates.index(name)]
            missing = [later for later in skipped if later in config.run_stages]
            if missing:
                logging.warning(
                    "%s has no best checkpoint for %s: using %s's (pass --stage to choose).",
                    workdir,
                    ", ".join(missing),
                    name,
                )
            return _trained_model(*restored, config, dtype)
    raise FileNotFoundError(
        f"No best checkpoint for {candidates} under {workdir}: train first, or pass --stage."
    )


def load_data_splits(run: TrainedModel, workdir: str | Path) -> dict[str, Any]:
    """The splits of ``run.config.data`` (the workdir's ``config.json``), refused
    (``CheckpointMismatchError``, one line naming both sides) when they are not the data the
    checkpoint knows: another joint set, or another vocabulary. A vocabulary must be the
    checkpoint's label map exactly, a subset too: scores and the confusion matrix name the
    model's glosses by id, and one equal map is the only check that needs no trust in how
    another dataset numbered its glosses."""
    from whispersign_jax.data.sources import config_joint_set, load_splits

    checkpoint = f"{workdir}: the {run.stage} checkpoint at step {run.step}"
    fix = (
        "Evaluate on the data it was trained with (restore the workdir's config.json), or "
        "train a new --workdir on this data."
    )
    data_joint_set = config_joint_set(run.config.data)
    if data_joint_set != run.joint_set:
        raise CheckpointMismatchError(
            f"{checkpoint} was trained on {run.joint_set} keypoints but the workdir's "
            f"config.data has {data_joint_set} keypoints. {fix}"
        )
    vocabulary, splits = load_splits(run.config.data)
    if vocabulary.label_map() != run.vocabulary.label_map():
        trained_with, data_has = describe_label_maps(
            run.vocabulary.label_map(), vocabulary.label_map()
        )
        raise CheckpointMismatchError(
            f"{checkpoint} was trained with labels {trained_with} but the workdir's "
            f"config.data has {data_has}. {fix}"
        )
    return splits


def load(path: str | Path, stage: str | None = None, dtype: str | None = None) -> TrainedModel:
    """A workdir (``config.json`` inside), a stage folder, a ``checkpoints/{best,latest}``
    folder or one step folder of it, a model folder, or the hub id of a model folder. The model
    config, label map and preprocessing come with the checkpoint or folder.
    ``dtype`` (``float32`` / ``bfloat16``) overrides the compute dtype."""
    if model_folder.looks_like_hub_id(path):
        path = model_folder.resolve(path)
    path = storage.path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist: pass a training workdir, a checkpoint, a model folder or "
            "the Hugging Face hub id of one."
        )
    if model_folder.is_model_folder(path):
        restored = model_folder.load(path, dtype)
        if stage and stage != restored.stage:
            raise ValueError(f"{path} holds the {restored.stage} model only; leave --stage out.")
        return restored
    if (path / CONFIG_FILE).is_file():
        return load_trained(path, stage, dtype)
    step = None
    if (path / "checkpoints" / "best").is_dir():
        directory = path / "checkpoints" / "best"
    elif path.name.isdecimal() and (path / "metadata").exists():
        directory, step = path.parent, int(path.name)
    else:
        directory = path
    if not any(child.name.isdecimal() for child in directory.iterdir()):
        raise FileNotFoundError(
            f"{path} is neither a training workdir (no {CONFIG_FILE}) nor a checkpoint folder "
            "(no numbered step folders); pass runs/NAME or runs/NAME/stage3/checkpoints/best."
        )
    manager = ocp.CheckpointManager(
        directory if storage.is_remote(directory) else directory.absolute()
    )
    try:
        if step is None:
            restored = StageCheckpoints.restore(manager, _model_target(dtype))
        else:
            restored = read_step(manager, step, _model_target(dtype))
        workdir = next((p for p in directory.parents if (p / CONFIG_FILE).is_file()), None)
        config = read_config(workdir) if workdir else ml_collections.ConfigDict()
        return _trained_model(*restored, config, dtype)
    finally:
        manager.close()


def _model_config(record: CheckpointRecord, dtype: str | None) -> ModelConfig:
    model_config = ModelConfig.from_dict(record.model_config)
    return dataclasses.replace(model_config, dtype=dtype) if dtype else model_config


def _model_target(dtype: str | None):
    """The restore target of a checkpoint's variables, from its metadata."""

    def target(metadata: dict[str, Any]):
        model = WhisperSign(_model_config(CheckpointRecord.from_json(metadata), dtype))
        return jax.eval_shape(functools.partial(init_variables, model), jax.random.key(0))

    return target


def _trained_model(model_vars, _, metadata, config, dtype=None) -> TrainedModel:
    """A TrainedModel from a restored checkpoint and its metadata."""
    record = CheckpointRecord.from_json(metadata)
    model_config = _model_config(record, dtype)
    return TrainedModel(
        model=WhisperSign(model_config),
        variables=inference_variables(model_vars, model_config.dtype),
        vocabulary=Vocabulary.from_label_map(record.label_map),
        config=config,
        stage=str(record.stage),
        step=int(record.step),
        metrics=record.metrics,
        preprocessor=Preprocessor.from_dict(record.preprocessing),
        joint_set=record.joint_set,
        trained_dtype=record.model_config.get("dtype", "float32"),
    )
