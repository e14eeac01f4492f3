"""``TrainedModel``: a model ready to use (config, variables, vocabulary, preprocessing, joint
set), whatever it was loaded from (``trained.load``, ``model_folder.load``)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections

from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.keypoints import DEFAULT_JOINT_SET
from whispersign_jax.model import WhisperSign
from whispersign_jax.model.inference_layout import inference_params
from whispersign_jax.vocab import Vocabulary


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
    joint_set: str = DEFAULT_JOINT_SET  # the keypoints it takes (data.keypoints)
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
