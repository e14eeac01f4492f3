"""Dropout whose mask comes from a counter-based hash instead of materialised random bits.

``nn.Dropout`` draws one 32-bit random number per element with ``jax.random``; on the CPU
backend that generator is a separate, memory-bound kernel which took about a fifth of the
base train step (docs/benchmarks.md). Here the mask is ``hash(element index, key)``: a few
integer operations that XLA fuses into the multiply that applies the mask, so no random array
is ever written. The hash is Chris Wellons' ``lowbias32`` (a well-tested 32-bit integer
finaliser) applied twice around two 32-bit words of the Flax dropout key: masks are
deterministic for a key, differ between keys and layers, and keep each element with
probability ``1 - rate`` to within 2^-32.
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def lowbias32(x: jax.Array) -> jax.Array:
    """A 32-bit integer hash with low bias (xor-shift-multiply, two rounds); uint32 -> uint32."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(0x7FEB352D)
    x = x ^ (x >> 15)
    x = x * jnp.uint32(0x846CA68B)
    return x ^ (x >> 16)


def keep_mask(key: jax.Array, shape: Sequence[int], rate: float) -> jax.Array:
    """bool ``shape``: True with probability ``1 - rate``, a pure function of ``key``."""
    size = int(np.prod(shape))
    if size >= 2**32:
        raise ValueError(f"Dropout over {size} elements exceeds the 32-bit element counter.")
    seeds = jax.random.bits(key, (2,), jnp.uint32)
    counter = jax.lax.iota(jnp.uint32, size).reshape(shape)  # element index, fused by XLA
    bits = lowbias32(lowbias32(counter ^ seeds[0]) + seeds[1])
    threshold = jnp.uint32(min(round(rate * 2.0**32), 2**32 - 1))
    return bits >= threshold


class Dropout(nn.Module):
    """Drop-in for ``nn.Dropout`` (same arguments, same ``dropout`` RNG stream) that uses
    :func:`keep_mask`. ``broadcast_dims`` share one mask value along those axes."""

    rate: float
    broadcast_dims: Sequence[int] = ()
    rng_collection: str = "dropout"

    @nn.compact
    def __call__(self, inputs: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0.0:
            return inputs
        if self.rate >= 1.0:
            return jnp.zeros_like(inputs)
        mask_shape = list(inputs.shape)
        for dim in self.broadcast_dims:
            mask_shape[dim] = 1
        keep = keep_mask(self.make_rng(self.rng_collection), mask_shape, self.rate)
        keep = jnp.broadcast_to(keep, inputs.shape)
        scale = jnp.asarray(1.0 / (1.0 - self.rate), inputs.dtype)
        return jnp.where(keep, inputs * scale, jnp.zeros((), inputs.dtype))
