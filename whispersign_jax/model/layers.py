"""Building blocks shared by the encoder and decoder: attention, MLP, norms, masks."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.model.dropout import Dropout
from whispersign_jax.model.precision import mixed_dot_general

# Whisper (PyTorch) uses exact-erf GELU and LayerNorm eps 1e-5; Flax's defaults differ.
gelu = functools.partial(jax.nn.gelu, approximate=False)
LayerNorm = functools.partial(nn.LayerNorm, epsilon=1e-5, param_dtype=jnp.float32)
WEIGHT_INIT = nn.initializers.normal(stddev=0.02)  # Whisper's init_std


def dense(features: int, dtype, use_bias: bool = True, name: str | None = None) -> nn.Dense:
    """Float32 parameters; in bfloat16 compute the matmul is bfloat16 with float32 output."""
    mixed = jnp.dtype(dtype) == jnp.bfloat16
    return nn.Dense(
        features,
        use_bias=use_bias,
        dtype=dtype,
        param_dtype=jnp.float32,
        kernel_init=WEIGHT_INIT,
        dot_general=mixed_dot_general if mixed else jax.lax.dot_general,
        name=name,
    )


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
    """Whisper's MLP: fc1 -> GELU -> dropout -> fc2."""

    d_model: int
    ffn_dim: int
    dropout: float
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        x = gelu(dense(self.ffn_dim, self.dtype, name="fc1")(x))
        x = Dropout(self.dropout)(x, deterministic=not train)
        return dense(self.d_model, self.dtype, name="fc2")(x)
