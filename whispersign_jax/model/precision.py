"""Dense matmuls in float32, or bfloat16 that accumulates and returns float32.

XLA's CPU backend runs a bfloat16 x bfloat16 dot with a float32 result about 2.3x faster than
a float32 dot, but a dot with a bfloat16 *result* about 1.4x slower than float32 (measured on
these machines, see docs/benchmarks.md). JAX's own transpose of a mixed dot produces bfloat16
results, so the backward pass here is written out with float32 accumulation too.

Inference may hold a kernel transposed, (out, in): XLA:CPU's bfloat16 matmuls of a few rows
(a 3 s window has 45 encoder positions) run 5-20% faster with the contraction on the
weights' last axis, while float32 ones run 10-40% slower (docs/benchmarks.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

BF16, F32 = jnp.bfloat16, jnp.float32


def _dims(lhs_ndim: int, rhs_contract: int):
    return ((lhs_ndim - 1,), (rhs_contract,)), ((), ())


@jax.custom_vjp
def _bf16_matmul(lhs, rhs):
    return lax.dot_general(
        lhs.astype(BF16), rhs.astype(BF16), _dims(lhs.ndim, 0), preferred_element_type=F32
    )


def _forward(lhs, rhs):
    return _bf16_matmul(lhs, rhs), (lhs, rhs)


def _backward(residuals, grad):
    lhs, rhs = residuals  # lhs (..., in), rhs (in, out); grad (..., out)
    grad = grad.astype(BF16)
    grad_lhs = lax.dot_general(
        grad, rhs.astype(BF16), _dims(grad.ndim, 1), preferred_element_type=F32
    )  # (..., in)
    flat_lhs = lhs.reshape(-1, lhs.shape[-1]).astype(BF16)  # (rows, in)
    flat_grad = grad.reshape(-1, grad.shape[-1])  # (rows, out)
    grad_rhs = lax.dot_general(
        flat_lhs, flat_grad, (((0,), (0,)), ((), ())), preferred_element_type=F32
    )  # (in, out)
    return grad_lhs.astype(lhs.dtype), grad_rhs.astype(rhs.dtype)


_bf16_matmul.defvjp(_forward, _backward)


def matmul(x: jax.Array, kernel: jax.Array, dtype) -> jax.Array:
    """x (..., in) @ kernel (in, out) -> (..., out) float32, computed in ``dtype``."""
    if jnp.dtype(dtype) == BF16:
        return _bf16_matmul(x, kernel)
    return lax.dot_general(x.astype(dtype), kernel.astype(dtype), _dims(x.ndim, 0))


def matmul_transposed(x: jax.Array, kernel_t: jax.Array, dtype) -> jax.Array:
    """x (..., in) @ kernel_t (out, in)^T -> (..., out) float32, computed in ``dtype``."""
    preferred = F32 if jnp.dtype(dtype) == BF16 else None
    return lax.dot_general(
        x.astype(dtype), kernel_t.astype(dtype), _dims(x.ndim, 1), preferred_element_type=preferred
    )
