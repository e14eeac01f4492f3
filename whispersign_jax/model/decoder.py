"""Whisper's decoder over glosses: teacher-forced pass and cached step-by-step decoding.

The cache is an explicit pytree, so beam search can reorder it with ``jnp.take`` and a jitted
step keeps static shapes:
``{"layers_i": {"self_k", "self_v": (batch, max_length, heads, head_dim),
                "cross_k", "cross_v": (batch, encoder_positions, heads, head_dim)}}``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from whispersign_jax.model.config import ModelConfig
from whispersign_jax.model.dropout import Dropout
from whispersign_jax.model.layers import (
    WEIGHT_INIT,
    FeedForward,
    LayerNorm,
    MultiHeadAttention,
    causal_mask,
    key_padding_mask,
)

Cache = dict[str, dict[str, jax.Array]]


class DecoderLayer(nn.Module):
    """Pre-LN causal self-attention, cross-attention on the encoder output, GELU MLP."""

    config: ModelConfig

    def setup(self) -> None:
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        self.self_attn_layer_norm = LayerNorm(dtype=dtype)
        self.self_attn = MultiHeadAttention(cfg.d_model, cfg.num_heads, dtype)
        self.encoder_attn_layer_norm = LayerNorm(dtype=dtype)
        self.encoder_attn = MultiHeadAttention(cfg.d_model, cfg.num_heads, dtype)
        self.final_layer_norm = LayerNorm(dtype=dtype)
        self.mlp = FeedForward(cfg.d_model, cfg.ffn_dim, cfg.dropout, dtype)
        self.drop = Dropout(cfg.dropout)

    def _cross_and_mlp(self, x, cross_k, cross_v, cross_mask, train: bool) -> jax.Array:
        h = self.encoder_attn.attend(self.encoder_attn_layer_norm(x), cross_k, cross_v, cross_mask)
        x = x + self.drop(h, deterministic=not train)
        h = self.mlp(self.final_layer_norm(x), train)
        return x + self.drop(h, deterministic=not train)

    def __call__(self, x, encoder_out, self_mask, cross_mask, train: bool) -> jax.Array:
        """Teacher-forced pass: x (batch, tokens, d_model)."""
        h = self.self_attn_layer_norm(x)
        h = self.self_attn(h, h, self_mask)
        x = x + self.drop(h, deterministic=not train)
        cross_k, cross_v = self.encoder_attn.project_kv(encoder_out)
        return self._cross_and_mlp(x, cross_k, cross_v, cross_mask, train)

    def init_cache(self, encoder_out: jax.Array, max_length: int) -> dict[str, jax.Array]:
        cross_k, cross_v = self.encoder_attn.project_kv(encoder_out)
        batch, _, heads, head_dim = cross_k.shape
        empty = jnp.zeros((batch, max_length, heads, head_dim), cross_k.dtype)
        return {"self_k": empty, "self_v": empty, "cross_k": cross_k, "cross_v": cross_v}

    def step(self, x, position, cache, cross_mask) -> tuple[jax.Array, dict[str, jax.Array]]:
        """One token: x (batch, 1, d_model) at ``position``; returns output and new cache."""
        h = self.self_attn_layer_norm(x)
        new_k, new_v = self.self_attn.project_kv(h)  # (batch, 1, heads, head_dim)
        self_k = jax.lax.dynamic_update_slice_in_dim(cache["self_k"], new_k, position, axis=1)
        self_v = jax.lax.dynamic_update_slice_in_dim(cache["self_v"], new_v, position, axis=1)
        seen = jnp.arange(self_k.shape[1]) <= position  # (max_length,)
        h = self.self_attn.attend(h, self_k, self_v, seen[None, None, None, :])
        x = x + h
        x = self._cross_and_mlp(x, cache["cross_k"], cache["cross_v"], cross_mask, train=False)
        return x, {**cache, "self_k": self_k, "self_v": self_v}


class WhisperDecoder(nn.Module):
    """Gloss embedding + learned positions -> layers -> LayerNorm -> tied output projection."""

    config: ModelConfig

    def setup(self) -> None:
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        self.embed_tokens = nn.Embed(
            cfg.decoder_size,
            cfg.d_model,
            dtype=dtype,
            param_dtype=jnp.float32,
            embedding_init=WEIGHT_INIT,
        )
        self.embed_positions = nn.Embed(
            cfg.max_target_positions,
            cfg.d_model,
            dtype=dtype,
            param_dtype=jnp.float32,
            embedding_init=WEIGHT_INIT,
        )
        self.layers = [DecoderLayer(cfg, name=f"layers_{i}") for i in range(cfg.decoder_layers)]
        self.layer_norm = LayerNorm(dtype=dtype)
        self.drop = Dropout(cfg.dropout)

    def _check_length(self, length: int) -> None:
        if length > self.config.max_target_positions:
            raise ValueError(
                f"Decoder sequence of {length} tokens exceeds max_target_positions="
                f"{self.config.max_target_positions}."
            )

    def embed(self, tokens: jax.Array, positions: jax.Array) -> jax.Array:
        return self.embed_tokens(tokens) + self.embed_positions(positions)

    def logits(self, hidden: jax.Array) -> jax.Array:
        """Final LayerNorm, then the output projection tied to the gloss embedding."""
        return self.embed_tokens.attend(self.layer_norm(hidden))

    def __call__(self, tokens, encoder_out, encoder_mask, train: bool = False) -> jax.Array:
        """tokens (batch, length) int -> logits (batch, length, decoder_size)."""
        length = tokens.shape[1]
        self._check_length(length)
        x = self.drop(self.embed(tokens, jnp.arange(length)), deterministic=not train)
        self_mask, cross_mask = causal_mask(length), key_padding_mask(encoder_mask)
        for layer in self.layers:
            x = layer(x, encoder_out, self_mask, cross_mask, train)
        return self.logits(x)

    def init_cache(self, encoder_out: jax.Array, max_length: int) -> Cache:
        """Cross-attention keys/values once, and empty self-attention slots."""
        self._check_length(max_length)
        return {
            f"layers_{i}": layer.init_cache(encoder_out, max_length)
            for i, layer in enumerate(self.layers)
        }

    def decode_step(self, tokens, position, cache: Cache, encoder_mask) -> tuple[jax.Array, Cache]:
        """tokens (batch,) at scalar ``position`` -> logits (batch, decoder_size), new cache."""
        x = self.embed(tokens[:, None], jnp.reshape(position, (1,)))  # (batch, 1, d_model)
        cross_mask = key_padding_mask(encoder_mask)
        new_cache = {}
        for i, layer in enumerate(self.layers):
            x, new_cache[f"layers_{i}"] = layer.step(x, position, cache[f"layers_{i}"], cross_mask)
        return self.logits(x)[:, 0], new_cache
