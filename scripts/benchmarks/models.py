"""Randomly initialised models of the configs' settings, and a window of keypoints to feed
them: what the train, infer, export and browser suites time.

The model is ``configs/default.py``'s (``config.model`` at another size and compute dtype)
with ``NUM_GLOSSES`` glosses, taking its joint set (``config.data.keypoints``).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import jax
import ml_collections
import numpy as np

from benchmarks.common import WINDOW_FRAMES, shipped_config
from whispersign_jax import vocab
from whispersign_jax.keypoints import CONFIDENCE, NUM_FEATURES, joint_set
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables

if TYPE_CHECKING:
    from whispersign_jax.runs.trained import TrainedModel

NUM_GLOSSES = 200  # a mid-sized gloss vocabulary
BLANK_BIAS = 8.0  # on the CTC head's blank: a few emissions per window, as a trained model


@functools.cache
def default_joint_set() -> str:
    """The joint set of ``configs/default.py`` (``config.data.keypoints``)."""
    return shipped_config("default").data.keypoints


def model_config(size: str, dtype: str = "float32") -> ModelConfig:
    """``configs/default.py``'s model at Whisper size ``size`` with ``dtype`` compute."""
    config = shipped_config("default")
    settings = {
        **config.model,
        "size": size,
        "dtype": dtype,
        "num_joints": joint_set(config.data.keypoints).num_joints,
    }
    return ModelConfig.from_settings(settings, NUM_GLOSSES)


@functools.cache
def random_variables(size: str) -> dict[str, Any]:
    """``init_variables`` of a ``size`` model (key 0) as host arrays, computed once per size
    on the host CPU: float32 and bfloat16 compute share the float32 parameters, and no
    accelerator compiles the initialisers."""
    model = WhisperSign(model_config(size))
    with jax.default_device(jax.devices("cpu")[0]):
        return jax.device_get(init_variables(model, jax.random.key(0)))


@functools.cache
def inference_variables(size: str, dtype: str) -> dict[str, Any]:
    """``random_variables(size)`` on the device, in the layout ``dtype`` inference uses, with
    the CTC head biased towards the blank (see ``random_model``)."""
    from whispersign_jax.runs import trained

    variables = random_variables(size)
    params = variables["params"]
    ctc_head = {**params["ctc_head"], "bias": params["ctc_head"]["bias"].copy()}
    ctc_head["bias"][vocab.BLANK_ID] = BLANK_BIAS
    variables = jax.device_put({**variables, "params": {**params, "ctc_head": ctc_head}})
    return trained.inference_variables(variables, dtype)


def random_model(size: str, dtype: str) -> TrainedModel:
    """A randomly initialised ``size`` model as a TrainedModel. Its CTC head is biased towards
    the blank, so that, like a trained model on a 3 s window, it emits a few glosses, not one
    per position (the n-best stays short); the attention decoder is left random, so the
    attention beam searches run to their length cap (their worst case)."""
    from whispersign_jax.runs import trained

    return trained.TrainedModel(
        model=WhisperSign(model_config(size, dtype)),
        variables=inference_variables(size, dtype),
        vocabulary=vocab.Vocabulary(tuple(f"g{i}" for i in range(NUM_GLOSSES))),
        config=ml_collections.ConfigDict(),
        stage="random",
        step=0,
        metrics={},
        joint_set=default_joint_set(),
    )


def random_window() -> np.ndarray:
    """One streaming window (``WINDOW_FRAMES``, joints, features) of the default joint set,
    random keypoints that pass the data contract's checks: every feature uniform in [0, 1],
    every joint present (confidence 1)."""
    joints = joint_set(default_joint_set()).num_joints
    shape = (WINDOW_FRAMES, joints, NUM_FEATURES)
    window = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    window[..., CONFIDENCE] = 1.0
    return window
