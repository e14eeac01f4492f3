"""The mixed bfloat16 dot matches float32 maths to bfloat16 rounding, gradients included."""

import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.model.precision import mixed_dot_general

DENSE_DIMS = (((2,), (0,)), ((), ()))


def test_mixed_dot_and_its_gradients_match_float32():
    rng = np.random.default_rng(0)
    lhs = jnp.asarray(rng.normal(size=(2, 5, 8)), jnp.float32)
    rhs = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)

    def loss(dot):
        return lambda a, b: jnp.sum(jnp.sin(dot(a, b, DENSE_DIMS)))

    out = mixed_dot_general(lhs, rhs, DENSE_DIMS)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, jnp.einsum("bti,io->bto", lhs, rhs), rtol=0.03, atol=0.05)
    mixed = jax.grad(loss(mixed_dot_general), argnums=(0, 1))(lhs, rhs)
    exact = jax.grad(loss(jax.lax.dot_general), argnums=(0, 1))(lhs, rhs)
    for got, want in zip(mixed, exact, strict=True):
        assert got.dtype == jnp.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0.05, atol=0.1)
        assert np.corrcoef(np.ravel(got), np.ravel(want))[0, 1] > 0.999
