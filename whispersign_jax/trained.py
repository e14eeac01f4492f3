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
import jax.numpy as jnp
import ml_collections
import orbax.checkpoint as ocp

from whispersign_jax import model_folder
from whispersign_jax.checkpointing import StageCheckpoints, read_step
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.keypoints import DEFAULT_JOINT_SET
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.inference_layout import inference_params
from whispersign_jax.vocab import Vocabulary
from whispersign_jax.workdir import CONFIG_FILE


@dataclasses.dataclass
class TrainedModel:
    model: WhisperSign
    variables: dict[str, Any]
    vocabulary: Vocabulary
    config: ml_collections.ConfigDict
    stage: str
    step: int
    metrics: dict[str, Any]
    preprocessor: Preprocessor = dataclasses.field(default_factory=Preprocessor)
    joint_set: str = DEFAULT_JOINT_SET  # the keypoints it takes (config.data.keypoints)
    trained_dtype: str = "float32"  # the compute dtype it was trained with


def inference_variables(variables: dict[str, Any], dtype: str) -> dict[str, Any]:
    """Variables to run inference with. In bfloat16 compute, float32 arrays become bfloat16
    once here instead of on every call (which costs as much as the matmuls themselves at
    batch 1: 27 -> 13 ms for a base window), and Dense kernels are stored transposed, the
    faster layout for bfloat16 matmuls on CPU (docs/benchmarks.md)."""
    if jnp.dtype(dtype) != jnp.bfloat16:
        return variables
    variables = jax.tree.map(
        lambda x: x.astype(jnp.bfloat16) if x.dtype == jnp.float32 else x, variables
    )
    return {**variables, "params": inference_params(variables["params"])}


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
    workdir = Path(workdir)
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


def load(path: str | Path, stage: str | None = None, dtype: str | None = None) -> TrainedModel:
    """A workdir (``config.json`` inside), a stage folder, a ``checkpoints/{best,latest}``
    folder or one step folder of it, a model folder, or the hub id of a model folder. The model
    config, label map and preprocessing come with the checkpoint or folder.
    ``dtype`` (``float32`` / ``bfloat16``) overrides the compute dtype."""
    if model_folder.looks_like_hub_id(path):
        path = model_folder.resolve(path)
    path = Path(path)
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
    manager = ocp.CheckpointManager(directory.absolute())
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


def _model_config(metadata: dict[str, Any], dtype: str | None) -> ModelConfig:
    model_config = ModelConfig.from_dict(metadata["model_config"])
    return dataclasses.replace(model_config, dtype=dtype) if dtype else model_config


def _model_target(dtype: str | None):
    """The restore target of a checkpoint's variables, from its metadata."""

    def target(metadata: dict[str, Any]):
        model = WhisperSign(_model_config(metadata, dtype))
        return jax.eval_shape(functools.partial(init_variables, model), jax.random.key(0))

    return target


def _trained_model(model_vars, _, metadata, config, dtype=None) -> TrainedModel:
    """A TrainedModel from a restored checkpoint and its metadata."""
    model_config = _model_config(metadata, dtype)
    return TrainedModel(
        model=WhisperSign(model_config),
        variables=inference_variables(model_vars, model_config.dtype),
        vocabulary=Vocabulary.from_label_map(metadata["label_map"]),
        config=config,
        stage=str(metadata["stage"]),
        step=int(metadata["step"]),
        metrics=metadata["metrics"],
        preprocessor=Preprocessor.from_dict(metadata["preprocessing"]),
        joint_set=metadata.get("joint_set", DEFAULT_JOINT_SET),  # older checkpoints: hands
        trained_dtype=metadata["model_config"].get("dtype", "float32"),
    )
