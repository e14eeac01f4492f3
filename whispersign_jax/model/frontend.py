"""Skeletal frontend: replaces Whisper's log-mel + conv stem with keypoint patches."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from whispersign_jax.model.config import ModelConfig
from whispersign_jax.model.layers import dense, gelu


def patch_frames(keypoints: jax.Array, frame_mask: jax.Array, patch_size: int):
    """Groups frames into temporal patches of ``patch_size``.

    keypoints (batch, frames, joints, features), frame_mask (batch, frames) bool ->
    patches (batch, ceil(frames / P), P * joints * features) with padded frames zeroed, and
    patch_mask (batch, ceil(frames / P)): a patch is valid when any of its frames is.
    """
    batch, frames = frame_mask.shape
    num_patches = -(-frames // patch_size)
    pad = num_patches * patch_size - frames
    x = jnp.where(frame_mask[:, :, None, None], keypoints, 0)
    x = jnp.pad(x, ((0, 0), (0, pad), (0, 0), (0, 0)))
    mask = jnp.pad(frame_mask, ((0, 0), (0, pad)))
    patches = x.reshape(batch, num_patches, -1)  # (batch, patches, P * joints * features)
    patch_mask = mask.reshape(batch, num_patches, patch_size).any(axis=-1)
    return patches, patch_mask


class ConvSPE(nn.Module):
    """Convolutional position encoding: depthwise conv + GELU + pointwise, residual."""

    d_model: int
    kernel_size: int
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        # Zeroing padded positions makes them look like the conv's own zero padding, so
        # appending padding never changes the output at valid positions.
        x = jnp.where(mask[..., None], x, 0)
        h = nn.Conv(
            self.d_model,
            kernel_size=(self.kernel_size,),
            feature_group_count=self.d_model,
            padding="SAME",
            dtype=self.dtype,
            param_dtype=jnp.float32,
            name="depthwise",
        )(x)
        h = dense(self.d_model, self.dtype, name="pointwise")(gelu(h))
        return x + h


class SkeletalFrontend(nn.Module):
    """Keypoints (batch, frames, 42, 7) + frame mask -> (batch, ceil(frames/P), d_model) + mask."""

    config: ModelConfig

    @nn.compact
    def __call__(self, keypoints: jax.Array, frame_mask: jax.Array, train: bool = False):
        cfg, dtype = self.config, jnp.dtype(self.config.dtype)
        patches, patch_mask = patch_frames(keypoints, frame_mask, cfg.patch_size)
        x = dense(cfg.d_model, dtype, name="patch_in")(patches.astype(dtype))
        x = dense(cfg.d_model, dtype, name="patch_out")(gelu(x))
        x = ConvSPE(cfg.d_model, cfg.conv_kernel, dtype, name="conv_spe")(x, patch_mask)
        # Batch statistics from valid patches only; padding never shifts the running stats.
        x = nn.BatchNorm(
            use_running_average=not train,
            momentum=0.99,
            epsilon=1e-5,
            dtype=dtype,
            param_dtype=jnp.float32,
            name="batch_norm",
        )(x, mask=patch_mask[..., None])
        x = nn.Dropout(cfg.channel_dropout, broadcast_dims=(1,))(x, deterministic=not train)
        x = nn.Dropout(cfg.dropout)(x, deterministic=not train)
        return x, patch_mask
