"""Skeletal frontend: replaces Whisper's log-mel + conv stem with keypoint patches."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from whispersign_jax.model.config import ModelConfig
from whispersign_jax.model.dropout import Dropout
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
    x = jnp.where(frame_mask[:, :, None, None], keypoints, jnp.zeros((), keypoints.dtype))
    x = zero_pad(x, 1, 0, pad)
    mask = zero_pad(frame_mask, 1, 0, pad)
    patches = x.reshape(batch, num_patches, -1)  # (batch, patches, P * joints * features)
    patch_mask = mask.reshape(batch, num_patches, patch_size).any(axis=-1)
    return patches, patch_mask


def zero_pad(x: jax.Array, axis: int, before: int, after: int) -> jax.Array:
    """``x`` with ``before``/``after`` zeros (of its own dtype) on ``axis``: ``lax.pad``, which
    exporters (jax2onnx, jax2tf) translate without the float64 pad value of ``jnp.pad``."""
    config = [(0, 0, 0)] * x.ndim
    config[axis] = (before, after, 0)
    return jax.lax.pad(x, jnp.zeros((), x.dtype), config)


class DepthwiseConv1D(nn.Module):
    """Depthwise 1-D convolution with "SAME" zero padding, as a sum of shifted products.

    Same parameters as ``nn.Conv(features=C, kernel_size=(K,), feature_group_count=C)``:
    kernel (K, 1, C) and bias (C,). XLA's CPU backend runs a grouped convolution with
    C = d_model groups (and its two gradients) as slow generic loops; K shifted
    multiply-adds fuse into one cheap elementwise kernel instead. They run in float32 and
    return ``dtype``: CPUs have no bfloat16 arithmetic, so bfloat16 would only add a
    conversion per product (5x slower at batch 1).
    """

    kernel_size: int
    dtype: jnp.dtype

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        channels, length = x.shape[-1], x.shape[-2]
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (self.kernel_size, 1, channels), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (channels,), jnp.float32)
        kernel, bias = kernel[:, 0].astype(jnp.float32), bias.astype(jnp.float32)
        left = (self.kernel_size - 1) // 2
        padded = zero_pad(x.astype(jnp.float32), 1, left, self.kernel_size - 1 - left)
        out = sum(
            padded[:, k : k + length] * kernel[k] for k in range(self.kernel_size)
        )  # (batch, length, channels)
        return (out + bias).astype(self.dtype)


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
        h = DepthwiseConv1D(self.kernel_size, self.dtype, name="depthwise")(x)
        # No bias: the BatchNorm after ConvSPE removes any constant, so a bias here would get
        # no true gradient, only rounding noise that Adam turns into steps (and the running
        # statistics would then depend on the device count's summation order).
        h = dense(self.d_model, self.dtype, use_bias=False, name="pointwise")(gelu(h))
        return x + h


class SkeletalFrontend(nn.Module):
    """Keypoints (batch, frames, J, 7) + frame mask -> (batch, ceil(frames/P), d_model) + mask."""

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
        x = Dropout(cfg.channel_dropout, broadcast_dims=(1,))(x, deterministic=not train)
        x = Dropout(cfg.dropout)(x, deterministic=not train)
        return x, patch_mask
