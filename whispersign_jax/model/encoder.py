"""Whisper's encoder layer stack, fed by the skeletal frontend instead of the conv stem."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from whispersign_jax.model.config import ModelConfig
from whispersign_jax.model.dropout import Dropout
from whispersign_jax.model.layers import (
    FeedForward,
    LayerNorm,
    MultiHeadAttention,
    key_padding_mask,
    sinusoids,
)


class EncoderLayer(nn.Module):
    """Pre-LN self-attention with a key-padding mask, then a GELU MLP."""

    config: ModelConfig

    @nn.compact
    def __call__(self, x: jax.Array, attention_mask: jax.Array, train: bool) -> jax.Array:
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        drop = Dropout(cfg.dropout)
        h = LayerNorm(dtype=dtype, name="self_attn_layer_norm")(x)
        h = MultiHeadAttention(cfg.d_model, cfg.num_heads, dtype, name="self_attn")(
            h, h, attention_mask
        )
        x = x + drop(h, deterministic=not train)
        h = LayerNorm(dtype=dtype, name="final_layer_norm")(x)
        h = FeedForward(cfg.d_model, cfg.ffn_dim, cfg.dropout, dtype, name="mlp")(h, train)
        return x + drop(h, deterministic=not train)


class WhisperEncoder(nn.Module):
    """Adds Whisper's sinusoidal positions, runs the layers, applies the final LayerNorm."""

    config: ModelConfig

    @nn.compact
    def __call__(self, embeddings: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
        """embeddings (batch, positions, d_model), mask (batch, positions) bool -> same shape."""
        cfg = self.config
        length = embeddings.shape[1]
        if isinstance(length, int) and length > cfg.max_source_positions:  # int: not symbolic
            raise ValueError(
                f"Input gives {length} encoder positions but the model has "
                f"max_source_positions={cfg.max_source_positions}: use shorter clips or a "
                "larger model.patch_size."
            )
        table = sinusoids(cfg.max_source_positions, cfg.d_model)  # sliced: any length exports
        positions = jax.lax.slice_in_dim(jnp.asarray(table), 0, length)  # (positions, d_model)
        x = (embeddings + positions).astype(cfg.dtype)
        x = Dropout(cfg.dropout)(x, deterministic=not train)
        attention_mask = key_padding_mask(mask)
        for i in range(cfg.encoder_layers):
            x = EncoderLayer(cfg, name=f"layers_{i}")(x, attention_mask, train)
        return LayerNorm(dtype=cfg.dtype, name="layer_norm")(x)
