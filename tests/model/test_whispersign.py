"""Behaviour of the assembled model: shapes, masking, KV cache, compute dtype."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from whispersign_jax.model import ModelConfig, WhisperSign, init_variables, whispersign
from whispersign_jax.model.frontend import DepthwiseConv1D, patch_frames

CONFIG = ModelConfig(
    num_glosses=9, d_model=64, encoder_layers=2, decoder_layers=2, num_heads=4, ffn_dim=128
)


@pytest.fixture(scope="module")
def variables():
    return init_variables(WhisperSign(CONFIG), jax.random.key(0))


def random_keypoints(batch: int, frames: int, seed: int = 1) -> jax.Array:
    return jax.random.normal(jax.random.key(seed), (batch, frames, 42, 7))


def test_forward_shapes_and_lengths(variables):
    model = WhisperSign(CONFIG)
    frames = 37
    mask = jnp.arange(frames)[None] < jnp.array([[37], [20]])
    tokens = jnp.array([[10, 3, 4], [10, 5, 11]])
    out, _ = model.apply(
        variables,
        random_keypoints(2, frames),
        mask,
        tokens,
        train=True,
        rngs={"dropout": jax.random.key(2)},
        mutable=["batch_stats"],
    )
    assert out["ctc_logits"].shape == (2, 10, 10)  # ceil(37 / 4) positions, blank + 9 glosses
    assert out["decoder_logits"].shape == (2, 3, 13)  # 9 glosses + blank + sos/eos/pad
    np.testing.assert_array_equal(out["encoder_mask"].sum(axis=1), [10, 5])  # ceil(20 / 4)


def test_patch_frames_zeroes_padding_and_marks_partial_patches():
    keypoints = jnp.ones((1, 6, 42, 7))
    mask = jnp.array([[True, True, True, True, True, False]])
    patches, patch_mask = patch_frames(keypoints, mask, patch_size=4)
    assert patches.shape == (1, 2, 4 * 42 * 7)
    np.testing.assert_array_equal(patch_mask, [[True, True]])
    second = patches[0, 1].reshape(4, 42, 7)
    np.testing.assert_array_equal(second[0], 1.0)
    np.testing.assert_array_equal(second[1:], 0.0)  # masked frame 5 and the two pad frames


def test_outputs_at_valid_frames_ignore_appended_padding(variables):
    model = WhisperSign(CONFIG)
    keypoints = random_keypoints(1, 30)
    short = model.apply(variables, keypoints, jnp.ones((1, 30), bool), method="encode")
    padded_keypoints = jnp.concatenate([keypoints, 5.0 * random_keypoints(1, 26, seed=9)], 1)
    padded_mask = jnp.arange(56)[None] < 30
    long = model.apply(variables, padded_keypoints, padded_mask, method="encode")
    valid = short[1].sum()
    assert long[1].sum() == valid == 8
    for a, b in zip(short, long, strict=True):
        np.testing.assert_allclose(a[:, :valid], b[:, :valid], atol=1e-5)


def test_batch_norm_statistics_use_valid_frames_only(variables):
    model = WhisperSign(CONFIG)
    keypoints = random_keypoints(2, 16)
    mask = jnp.array([[True] * 16, [True] * 8 + [False] * 8])
    junk = keypoints.at[1, 8:].set(1e3)  # padded frames hold garbage
    _, a = model.apply(
        variables,
        keypoints,
        mask,
        jnp.zeros((2, 1), jnp.int32),
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": jax.random.key(0)},
    )
    _, b = model.apply(
        variables,
        junk,
        mask,
        jnp.zeros((2, 1), jnp.int32),
        train=True,
        mutable=["batch_stats"],
        rngs={"dropout": jax.random.key(0)},
    )
    stats_a, stats_b = a["batch_stats"]["frontend"], b["batch_stats"]["frontend"]
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-6), stats_a, stats_b)
    initial = variables["batch_stats"]["frontend"]["batch_norm"]["mean"]
    assert not np.allclose(stats_a["batch_norm"]["mean"], initial)


def test_kv_cache_decoding_matches_teacher_forced_logits(variables):
    model = WhisperSign(CONFIG)
    frames = 24
    mask = jnp.arange(frames)[None] < jnp.array([[24], [13]])
    encoder_out, encoder_mask, _ = model.apply(
        variables, random_keypoints(2, frames), mask, method="encode"
    )
    tokens = jnp.array([[10, 3, 4, 8, 1], [10, 9, 9, 2, 11]])
    full = model.apply(variables, tokens, encoder_out, encoder_mask, method="decode")
    cache = model.apply(variables, encoder_out, 8, method="init_cache")
    for position in range(tokens.shape[1]):
        step_logits, cache = model.apply(
            variables, tokens[:, position], position, cache, encoder_mask, method="decode_step"
        )
        np.testing.assert_allclose(step_logits, full[:, position], atol=1e-5)


def test_bfloat16_compute_stays_close_to_float32(variables):
    bf16 = WhisperSign(ModelConfig(**{**CONFIG.to_dict(), "dtype": "bfloat16"}))
    f32 = WhisperSign(CONFIG)
    mask = jnp.ones((2, 32), bool)
    tokens = jnp.array([[10, 3, 4], [10, 5, 6]])
    args = (random_keypoints(2, 32), mask, tokens)
    out32 = f32.apply(variables, *args)
    out16 = bf16.apply(variables, *args)
    # bfloat16 matmuls return float32 (precision.py), so the path differs only in rounding
    assert out16["ctc_logits"].dtype == jnp.float32
    assert not np.array_equal(out16["ctc_logits"], out32["ctc_logits"])
    for key in ("ctc_logits", "decoder_logits"):
        a, b = np.asarray(out32[key]), np.asarray(out16[key], np.float32)
        assert np.abs(a - b).max() < 0.1 * np.abs(a).max()
        assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.999


def test_parameters_are_float32_for_bfloat16_compute():
    config = ModelConfig(**{**CONFIG.to_dict(), "dtype": "bfloat16"})
    shapes = jax.eval_shape(lambda rng: init_variables(WhisperSign(config), rng), jax.random.key(0))
    dtypes = {leaf.dtype for leaf in jax.tree.leaves(shapes)}
    assert dtypes == {jnp.dtype("float32")}


def test_init_variables_is_the_jitted_model_init_compiled_once_per_model(variables):
    def model_init(rng):  # what init_variables compiled before it was cached per model
        keypoints, frame_mask = jnp.zeros((1, 16, 42, 7)), jnp.ones((1, 16), bool)
        tokens = jnp.zeros((1, 2), jnp.int32)
        return WhisperSign(CONFIG).init({"params": rng}, keypoints, frame_mask, tokens, train=False)

    reference = jax.jit(model_init)(jax.random.key(0))
    assert jax.tree.structure(reference) == jax.tree.structure(variables)
    for expected, actual in zip(
        jax.tree.leaves(reference), jax.tree.leaves(variables), strict=True
    ):
        assert expected.dtype == actual.dtype
        np.testing.assert_array_equal(np.asarray(expected), np.asarray(actual))  # bitwise
    programs = whispersign._init_program._cache_size()
    again = init_variables(WhisperSign(CONFIG), jax.random.key(0))  # an equal model
    assert whispersign._init_program._cache_size() == programs
    np.testing.assert_array_equal(
        again["params"]["ctc_head"]["kernel"], reference["params"]["ctc_head"]["kernel"]
    )


def test_too_long_inputs_raise_clear_errors(variables):
    model = WhisperSign(CONFIG)
    frames = 4 * CONFIG.max_source_positions + 4
    with pytest.raises(ValueError, match="max_source_positions=1500"):
        jax.eval_shape(
            lambda k, m: model.apply(variables, k, m, method="encode"),
            jax.ShapeDtypeStruct((1, frames, 42, 7), jnp.float32),
            jax.ShapeDtypeStruct((1, frames), bool),
        )


@pytest.mark.parametrize("length", [10, 45])
def test_depthwise_conv_matches_a_grouped_convolution(length):
    """The shifted-sum conv equals nn.Conv with one group per channel, same parameters."""
    x = jax.random.normal(jax.random.key(0), (3, length, 16))
    layer = DepthwiseConv1D(kernel_size=31, dtype=jnp.float32)
    variables = layer.init(jax.random.key(1), x)
    variables["params"]["bias"] = jnp.arange(16.0)
    reference = nn.Conv(16, kernel_size=(31,), feature_group_count=16, padding="SAME")
    expected = reference.apply(variables, x)
    np.testing.assert_allclose(layer.apply(variables, x), expected, atol=1e-5)
