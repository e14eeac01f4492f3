"""The mixed bfloat16 matmul matches float32 maths to bfloat16 rounding, gradients included."""

import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.model.precision import matmul, matmul_transposed


def test_mixed_matmul_and_its_gradients_match_float32():
    rng = np.random.default_rng(0)
    lhs = jnp.asarray(rng.normal(size=(2, 5, 8)), jnp.float32)
    rhs = jnp.asarray(rng.normal(size=(8, 3)), jnp.float32)

    def loss(dtype):
        return lambda a, b: jnp.sum(jnp.sin(matmul(a, b, dtype)))

    out = matmul(lhs, rhs, jnp.bfloat16)
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, jnp.einsum("bti,io->bto", lhs, rhs), rtol=0.03, atol=0.05)
    mixed = jax.grad(loss(jnp.bfloat16), argnums=(0, 1))(lhs, rhs)
    exact = jax.grad(loss(jnp.float32), argnums=(0, 1))(lhs, rhs)
    for got, want in zip(mixed, exact, strict=True):
        assert got.dtype == jnp.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=0.05, atol=0.1)
        assert np.corrcoef(np.ravel(got), np.ravel(want))[0, 1] > 0.999


def test_transposed_kernel_gives_the_same_product():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(3, 45, 64)), jnp.float32)
    kernel = jnp.asarray(rng.normal(size=(64, 96)), jnp.float32)  # (in, out)
    for dtype in (jnp.float32, jnp.bfloat16):
        got = matmul_transposed(x, kernel.T, dtype)
        assert got.dtype == jnp.float32 and got.shape == (3, 45, 96)
        np.testing.assert_allclose(got, matmul(x, kernel, dtype), rtol=1e-5, atol=1e-4)
