"""The parameter layout for bfloat16 inference on CPU, made once when a model is loaded.

At batch 1 a 3 s window gives matmuls of only 45 rows, and two layout changes make XLA:CPU
run them faster (base encoder, docs/benchmarks.md):

- every ``Dense`` kernel is stored transposed, ``kernel_t`` (out, in): bfloat16 matmuls of a
  few rows run 5-20% faster with the contraction on the weights' last axis (float32 ones run
  slower, so float32 keeps the training layout);
- every MLP is stored as two independent halves (fc1 rows, fc2 columns), whose matmuls XLA
  runs on the two cores at once: ~6% faster than one wide matmul split by the library.

The attention decoder keeps the training layout: its beam searches step inside XLA while
loops, where XLA:CPU copies transposed kernels back on every call (joint beam search on a base
window: 33 -> 50 ms). Training, checkpoints and converted Whisper weights keep the
``nn.Dense`` layout; ``Dense`` and ``FeedForward`` (layers.py) read either.
"""

from __future__ import annotations

import jax.numpy as jnp

TRANSPOSED_KERNEL = "kernel_t"  # a Dense kernel, (out, in)
MLP_HALVES = "halves"  # an MLP: two {"fc1_kernel_t", "fc1_bias", "fc2_kernel_t"}
MLP_OUTPUT_BIAS = "fc2_bias"


def inference_params(params: dict) -> dict:
    """A model's ``params`` (training layout) with all but the decoder in the inference layout."""
    return {
        name: value if name == "decoder" else _rearrange(value) for name, value in params.items()
    }


def _rearrange(params: dict) -> dict:
    out = {}
    for name, value in params.items():
        if isinstance(value, dict) and set(value) == {"fc1", "fc2"}:
            out[name] = _split_mlp(value)
        elif isinstance(value, dict):
            out[name] = _rearrange(value)
        elif name == "kernel" and value.ndim == 2:  # only Dense kernels are 2-D
            out[TRANSPOSED_KERNEL] = jnp.transpose(value)
        else:
            out[name] = value
    return out


def _split_mlp(mlp: dict) -> dict:
    fc1_t = jnp.transpose(mlp["fc1"]["kernel"])  # (ffn, d_model)
    fc2_t = jnp.transpose(mlp["fc2"]["kernel"])  # (d_model, ffn)
    middle = fc1_t.shape[0] // 2
    halves = tuple(
        {
            "fc1_kernel_t": fc1_t[part],  # (ffn / 2, d_model)
            "fc1_bias": mlp["fc1"]["bias"][part],
            "fc2_kernel_t": fc2_t[:, part],  # (d_model, ffn / 2)
        }
        for part in (slice(None, middle), slice(middle, None))
    )
    return {MLP_HALVES: halves, MLP_OUTPUT_BIAS: mlp["fc2"]["bias"]}
