"""The WhisperSign model: skeletal frontend, Whisper encoder, CTC head, Whisper decoder."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from whispersign_jax.keypoints import NUM_FEATURES
from whispersign_jax.model.config import ModelConfig
from whispersign_jax.model.decoder import Cache, WhisperDecoder
from whispersign_jax.model.encoder import WhisperEncoder
from whispersign_jax.model.frontend import SkeletalFrontend
from whispersign_jax.model.layers import dense


class WhisperSign(nn.Module):
    """Two-pass gloss recogniser.

    Pass 1: keypoints -> frontend -> encoder -> CTC logits (blank = 0).
    Pass 2: the attention decoder reads the masked encoder output (teacher forcing in
    training, ``decode_step`` with a KV cache at inference).
    """

    config: ModelConfig

    def setup(self) -> None:
        cfg = self.config
        self.frontend = SkeletalFrontend(cfg)
        self.encoder = WhisperEncoder(cfg)
        self.ctc_head = dense(cfg.ctc_size, jnp.dtype(cfg.dtype))
        self.decoder = WhisperDecoder(cfg)

    def encode(self, keypoints: jax.Array, frame_mask: jax.Array, train: bool = False):
        """keypoints (batch, frames, joints, 7), frame_mask (batch, frames) bool ->
        encoder_out (batch, P', d_model), encoder_mask (batch, P') and
        ctc_logits (batch, P', 1 + glosses) with P' = ceil(frames / patch_size)."""
        embeddings, encoder_mask = self.frontend(keypoints, frame_mask, train)
        encoder_out = self.encoder(embeddings, encoder_mask, train)
        return encoder_out, encoder_mask, self.ctc_head(encoder_out)

    def __call__(self, keypoints, frame_mask, decoder_inputs=None, train: bool = False):
        """Training forward pass; decoder_inputs (batch, L) start with ``<sos>``.

        Returns a dict with ``ctc_logits`` and ``encoder_mask``, plus ``decoder_logits``
        (batch, L, decoder_size) when ``decoder_inputs`` are given (None: pass 1 only).
        """
        encoder_out, encoder_mask, ctc_logits = self.encode(keypoints, frame_mask, train)
        outputs = {"ctc_logits": ctc_logits, "encoder_mask": encoder_mask}
        if decoder_inputs is not None:
            outputs["decoder_logits"] = self.decoder(
                decoder_inputs, encoder_out, encoder_mask, train
            )
        return outputs

    def decode(self, tokens, encoder_out, encoder_mask) -> jax.Array:
        """Teacher-forced decoder logits for given encoder output (used for rescoring)."""
        return self.decoder(tokens, encoder_out, encoder_mask, train=False)

    def init_cache(self, encoder_out: jax.Array, max_length: int) -> Cache:
        return self.decoder.init_cache(encoder_out, max_length)

    def decode_step(self, tokens, position, cache: Cache, encoder_mask):
        """tokens (batch,) at ``position`` -> logits (batch, decoder_size), updated cache."""
        return self.decoder.decode_step(tokens, position, cache, encoder_mask)


def init_variables(model: WhisperSign, rng: jax.Array, num_frames: int = 16):
    """Initial ``{"params", "batch_stats"}`` for a model (shapes do not depend on lengths).

    Jitted: one compiled program instead of hundreds of eagerly dispatched initialisers, and
    one per model and length in a process (the persistent compilation cache keeps it across
    processes). JAX already drops the forward pass from it (only variables are returned): the
    compile time is that of the ~250 per-parameter initialisers (docs/benchmarks.md)."""
    return _init_program(model, rng, num_frames)


@functools.partial(jax.jit, static_argnums=(0, 2))
def _init_program(model: WhisperSign, rng: jax.Array, num_frames: int):
    joints = (model.config.num_joints, NUM_FEATURES)
    keypoints = jnp.zeros((1, num_frames, *joints), jnp.float32)  # (batch, frames, joints, 7)
    frame_mask = jnp.ones((1, num_frames), bool)
    tokens = jnp.zeros((1, 2), jnp.int32)
    return model.init({"params": rng}, keypoints, frame_mask, tokens, train=False)
