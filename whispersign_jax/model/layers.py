"""Building blocks shared by the encoder and decoder: attention, MLP, norms, masks."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.model.dropout import Dropout
from whispersign_jax.model.inference_layout import (
    MLP_HALVES,
    MLP_OUTPUT_BIAS,
    TRANSPOSED_KERNEL,
)
from whispersign_jax.model.precision import matmul, matmul_transposed

# Whisper (PyTorch) uses exact-erf GELU and LayerNorm eps 1e-5; Flax's defaults differ.
gelu = functools.partial(jax.nn.gelu, approximate=False)
LayerNorm = functools.partial(nn.LayerNorm, epsilon=1e-5, param_dtype=jnp.float32)
WEIGHT_INIT = nn.initializers.normal(stddev=0.02)  # Whisper's init_std


class Dense(nn.Module):
    """``x @ kernel + bias`` with float32 parameters named as ``nn.Dense`` names them
    (kernel (in, out), bias (out,)), so checkpoints and Whisper's converted weights fit.

    In bfloat16 compute the matmul takes bfloat16 operands and returns float32. Variables in
    the inference layout (inference_layout.py) hold ``kernel_t`` (out, in) instead.
    """

    features: int
    dtype: jnp.dtype = jnp.float32
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        """x (..., in) -> (..., features), float32."""
        if self.has_variable("params", TRANSPOSED_KERNEL):
            y = matmul_transposed(x, self.get_variable("params", TRANSPOSED_KERNEL), self.dtype)
        else:
            shape = (x.shape[-1], self.features)
            y = matmul(x, self.param("kernel", WEIGHT_INIT, shape, jnp.float32), self.dtype)
        if self.use_bias:
            bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
            y = y + bias.astype(self.dtype)
        return y


def dense(features: int, dtype, use_bias: bool = True, name: str | None = None) -> Dense:
    return Dense(features, dtype=dtype, use_bias=use_bias, name=name)


def key_padding_mask(key_mask: jax.Array) -> jax.Array:
    """(batch, keys) bool -> (batch, 1, 1, keys): every query may see the valid keys."""
    return key_mask[:, None, None, :]


def causal_mask(length: int) -> jax.Array:
    """(1, 1, length, length) bool: position i sees positions <= i."""
    return jnp.tril(jnp.ones((length, length), dtype=bool))[None, None]


def sinusoids(length: int, channels: int, max_timescale: float = 10000.0) -> np.ndarray:
    """Whisper's fixed encoder positions, (length, channels): sin half, then cos half."""
    if channels % 2:
        raise ValueError(f"Sinusoidal positions need an even width, got {channels}.")
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = np.exp(-log_timescale_increment * np.arange(channels // 2))
    scaled_time = np.arange(length)[:, None] * inv_timescales[None, :]  # (length, channels/2)
    return np.concatenate([np.sin(scaled_time), np.cos(scaled_time)], axis=1).astype(np.float32)


class MultiHeadAttention(nn.Module):
    """Whisper attention: q/k/v/out projections (no bias on k), scaled dot product."""

    d_model: int
    num_heads: int
    dtype: jnp.dtype = jnp.float32

    def setup(self) -> None:
        self.q_proj = dense(self.d_model, self.dtype)
        self.k_proj = dense(self.d_model, self.dtype, use_bias=False)
        self.v_proj = dense(self.d_model, self.dtype)
        self.out_proj = dense(self.d_model, self.dtype)

    def split_heads(self, x: jax.Array) -> jax.Array:
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.num_heads, -1)  # (batch, length, heads, head_dim)

    def project_kv(self, inputs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(batch, keys, d_model) -> keys and values, each (batch, keys, heads, head_dim)."""
        return self.split_heads(self.k_proj(inputs)), self.split_heads(self.v_proj(inputs))

    def attend(self, queries: jax.Array, keys: jax.Array, values: jax.Array, mask) -> jax.Array:
        """Attention of ``queries`` (batch, q, d_model) over projected keys and values."""
        q = self.split_heads(self.q_proj(queries))
        keys, values = keys.astype(q.dtype), values.astype(q.dtype)
        out = jax.nn.dot_product_attention(q, keys, values, mask=mask)  # (batch, q, heads, dim)
        batch, length = out.shape[:2]
        return self.out_proj(out.reshape(batch, length, -1))

    def __call__(self, queries: jax.Array, inputs: jax.Array, mask: jax.Array) -> jax.Array:
        keys, values = self.project_kv(inputs)
        return self.attend(queries, keys, values, mask)


class FeedForward(nn.Module):
    """Whisper's MLP: fc1 -> GELU -> dropout -> fc2 (or its two halves, summed, in the
    inference layout)."""

    d_model: int
    ffn_dim: int
    dropout: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.has_variable("params", MLP_HALVES):
            out = sum(self._half(x, half) for half in self.get_variable("params", MLP_HALVES))
            return out + self.get_variable("params", MLP_OUTPUT_BIAS).astype(self.dtype)
        x = gelu(dense(self.ffn_dim, self.dtype, name="fc1")(x))
        x = Dropout(self.dropout)(x, deterministic=not train)
        return dense(self.d_model, self.dtype, name="fc2")(x)

    def _half(self, x: jax.Array, half: dict) -> jax.Array:
        """x (..., d_model) through half of the MLP's width -> (..., d_model), no fc2 bias."""
        h = matmul_transposed(x, half["fc1_kernel_t"], self.dtype)
        h = gelu(h + half["fc1_bias"].astype(self.dtype))
        return matmul_transposed(h, half["fc2_kernel_t"], self.dtype)
