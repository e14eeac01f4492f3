"""The hash-based dropout: exact hash, keep rate, independence, determinism, broadcasting."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from whispersign_jax.model.dropout import Dropout, keep_mask, lowbias32


def lowbias32_reference(x: int) -> int:
    mask = 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & mask
    x ^= x >> 15
    x = (x * 0x846CA68B) & mask
    return x ^ (x >> 16)


def test_hash_matches_a_python_reference():
    values = np.random.default_rng(0).integers(0, 2**32, 1000, dtype=np.uint64).astype(np.uint32)
    got = np.asarray(lowbias32(jnp.asarray(values)))
    assert [int(v) for v in got] == [lowbias32_reference(int(v)) for v in values]


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_keep_rate_and_independence(rate):
    keep = np.asarray(keep_mask(jax.random.key(0), (64, 45, 512), rate)).ravel()
    p = 1 - rate
    sigma = np.sqrt(p * (1 - p) / keep.size)  # binomial standard deviation of the share
    assert abs(keep.mean() - p) < 5 * sigma
    # Neighbouring elements are independent: both kept with probability p^2.
    assert abs(np.mean(keep[1:] & keep[:-1]) - p * p) < 5 * np.sqrt(p * p / keep.size)
    other = np.asarray(keep_mask(jax.random.key(1), (64, 45, 512), rate)).ravel()
    agreement = p * p + (1 - p) * (1 - p)  # two independent masks agree this often
    assert abs(np.mean(keep == other) - agreement) < 5 * np.sqrt(agreement / keep.size)


def test_same_key_same_mask_and_rate_zero_keeps_everything():
    key = jax.random.key(3)
    np.testing.assert_array_equal(keep_mask(key, (7, 9), 0.3), keep_mask(key, (7, 9), 0.3))
    assert bool(keep_mask(key, (7, 9), 0.0).all())


def test_module_scales_kept_values_and_uses_the_dropout_rng():
    x = jnp.ones((4, 50, 32))
    layer = Dropout(0.25)
    out = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    np.testing.assert_allclose(np.unique(np.asarray(out)), [0.0, 1 / 0.75], rtol=1e-6)
    again = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
    other = layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(1)})
    np.testing.assert_array_equal(out, again)
    assert np.mean(np.asarray(out) != np.asarray(other)) > 0.2
    np.testing.assert_array_equal(layer.apply({}, x, deterministic=True), x)


def test_broadcast_dims_share_the_mask():
    x = jnp.ones((3, 40, 16))
    out = Dropout(0.5, broadcast_dims=(1,)).apply(
        {}, x, deterministic=False, rngs={"dropout": jax.random.key(2)}
    )
    out = np.asarray(out)
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))
    assert 0 < np.mean(out[:, 0] == 0) < 1


def test_two_layers_in_one_model_get_different_masks():
    class Two(nn.Module):
        @nn.compact
        def __call__(self, x):
            return Dropout(0.5)(x, False), Dropout(0.5)(x, False)

    first, second = Two().apply({}, jnp.ones((1000,)), rngs={"dropout": jax.random.key(0)})
    assert np.mean(np.asarray(first) != np.asarray(second)) > 0.3
