"""The bfloat16 inference layout holds the same parameters and computes the same outputs."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.inference_layout import inference_params
from whispersign_jax.model.layers import Dense
from whispersign_jax.runs.trained import inference_variables

CONFIG = ModelConfig(
    num_glosses=9,
    d_model=64,
    encoder_layers=2,
    decoder_layers=2,
    num_heads=4,
    ffn_dim=96,
    dtype="bfloat16",
)


@pytest.fixture(scope="module")
def variables():
    return init_variables(WhisperSign(CONFIG), jax.random.key(0))


def test_dense_has_the_parameters_of_flax_dense():
    """Same names, shapes and initial values: checkpoints and Whisper's weights fit."""
    x = jnp.ones((2, 5, 16))
    ours = Dense(8).init(jax.random.key(3), x)
    flax = nn.Dense(8, kernel_init=nn.initializers.normal(0.02)).init(jax.random.key(3), x)
    assert jax.tree.structure(ours) == jax.tree.structure(flax)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(flax), strict=True):
        np.testing.assert_array_equal(a, b)


def test_layout_is_an_exact_rearrangement(variables):
    params = variables["params"]
    layout = inference_params(params)
    q_proj = params["encoder"]["layers_0"]["self_attn"]["q_proj"]
    moved = layout["encoder"]["layers_0"]["self_attn"]["q_proj"]
    np.testing.assert_array_equal(moved["kernel_t"], q_proj["kernel"].T)  # (out, in)
    np.testing.assert_array_equal(moved["bias"], q_proj["bias"])
    mlp, halves = params["encoder"]["layers_1"]["mlp"], layout["encoder"]["layers_1"]["mlp"]
    first, second = halves["halves"]
    assert first["fc1_kernel_t"].shape == (48, 64) and first["fc2_kernel_t"].shape == (64, 48)
    fc1 = np.concatenate([first["fc1_kernel_t"], second["fc1_kernel_t"]]).T
    fc2 = np.concatenate([first["fc2_kernel_t"], second["fc2_kernel_t"]], axis=1).T
    np.testing.assert_array_equal(fc1, mlp["fc1"]["kernel"])
    np.testing.assert_array_equal(fc2, mlp["fc2"]["kernel"])
    np.testing.assert_array_equal(halves["fc2_bias"], mlp["fc2"]["bias"])
    assert layout["ctc_head"]["kernel_t"].shape == (10, 64)
    # the depthwise conv kernel (3-D) and the whole attention decoder keep their layout
    assert layout["frontend"]["conv_spe"]["depthwise"]["kernel"].shape == (31, 1, 64)
    assert layout["decoder"] is params["decoder"]
    count = sum(leaf.size for leaf in jax.tree.leaves(params))
    assert sum(leaf.size for leaf in jax.tree.leaves(layout)) == count


def test_inference_variables_compute_what_training_variables_compute(variables):
    model = WhisperSign(CONFIG)
    fast = inference_variables(variables, "bfloat16")
    assert {leaf.dtype for leaf in jax.tree.leaves(fast["params"])} == {jnp.dtype("bfloat16")}
    keypoints = jax.random.normal(jax.random.key(1), (2, 40, 42, 7))
    mask = jnp.arange(40)[None] < jnp.array([[40], [23]])
    tokens = jnp.array([[10, 3, 4], [10, 5, 6]])
    slow_out = model.apply(variables, keypoints, mask, tokens)
    fast_out = model.apply(fast, keypoints, mask, tokens)
    for key in ("ctc_logits", "decoder_logits"):
        assert slow_out[key].dtype == fast_out[key].dtype
        a, b = np.asarray(slow_out[key], np.float32), np.asarray(fast_out[key], np.float32)
        # the same bfloat16 products; float32 sums in another order, weights rounded once
        assert np.abs(a - b).max() < 0.02 * np.abs(a).max()
        assert (a.argmax(-1) == b.argmax(-1)).mean() > 0.95
    encoder_out, encoder_mask, _ = model.apply(fast, keypoints, mask, method="encode")
    cache = model.apply(fast, encoder_out, 4, method="init_cache")
    step, _ = model.apply(fast, tokens[:, 0], 0, cache, encoder_mask, method="decode_step")
    step, teacher_forced = np.asarray(step, np.float32), fast_out["decoder_logits"][:, 0]
    np.testing.assert_allclose(step, np.asarray(teacher_forced, np.float32), atol=0.02)


def test_float32_inference_keeps_the_training_layout(variables):
    assert inference_variables(variables, "float32") is variables
