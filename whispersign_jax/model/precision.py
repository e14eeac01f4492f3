"""bfloat16 matmuls that accumulate and return float32, forward and backward.

XLA's CPU backend runs a bfloat16 x bfloat16 dot with a float32 result about 2.3x faster than
a float32 dot, but a dot with a bfloat16 *result* about 1.4x slower than float32 (measured on
these machines, see docs/benchmarks.md). JAX's own transpose of a mixed dot produces bfloat16
results, so the backward pass here is written out with float32 accumulation too.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

BF16, F32 = jnp.bfloat16, jnp.float32


def _dense_dims(dims, lhs_ndim: int, rhs_ndim: int) -> bool:
    """True for ``(..., in) x (in, out)``: the only contraction ``nn.Dense`` performs."""
    (lhs_contract, rhs_contract), (lhs_batch, rhs_batch) = dims
    return (
        tuple(lhs_contract) == (lhs_ndim - 1,)
        and tuple(rhs_contract) == (0,)
        and rhs_ndim == 2
        and not lhs_batch
        and not rhs_batch
    )


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _bf16_dense_dot(dims, lhs, rhs):
    return lax.dot_general(lhs.astype(BF16), rhs.astype(BF16), dims, preferred_element_type=F32)


def _forward(dims, lhs, rhs):
    return _bf16_dense_dot(dims, lhs, rhs), (lhs, rhs)


def _backward(dims, residuals, grad):
    lhs, rhs = residuals  # lhs (..., in), rhs (in, out); grad (..., out)
    grad = grad.astype(BF16)
    grad_lhs = lax.dot_general(
        grad, rhs.astype(BF16), (((grad.ndim - 1,), (1,)), ((), ())), preferred_element_type=F32
    )  # (..., in)
    flat_lhs = lhs.reshape(-1, lhs.shape[-1]).astype(BF16)  # (rows, in)
    flat_grad = grad.reshape(-1, grad.shape[-1])  # (rows, out)
    grad_rhs = lax.dot_general(
        flat_lhs, flat_grad, (((0,), (0,)), ((), ())), preferred_element_type=F32
    )  # (in, out)
    return grad_lhs.astype(lhs.dtype), grad_rhs.astype(rhs.dtype)


_bf16_dense_dot.defvjp(_forward, _backward)


def mixed_dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """A ``lax.dot_general`` for ``nn.Dense``: bfloat16 operands, float32 result."""
    del precision, preferred_element_type
    if _dense_dims(dimension_numbers, lhs.ndim, rhs.ndim):
        return _bf16_dense_dot(dimension_numbers, lhs, rhs)
    return lax.dot_general(
        lhs.astype(BF16), rhs.astype(BF16), dimension_numbers, preferred_element_type=F32
    )
