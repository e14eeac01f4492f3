"""The matmul peak that ``train.*.mfu`` divides by, measured here, and the chips' published
peaks that ``mfu_published`` divides by.

``peak.matmul_size`` and ``peak.{float32,bfloat16}_gflops``: a jitted ``matmul_size``^3
matmul (float32 accumulation), best of 10, in the same run and the same precision as the
train steps (2048 on CPUs and 8192 on accelerators). ``peak.published.{chip,float32_means}``
and ``peak.published.{float32,bfloat16}_tflops``: the chip's row of ``PUBLISHED_PEAKS``
(None for a chip not in the table, and on CPUs).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import jax
import jax.numpy as jnp

from benchmarks.common import progress, timed


@dataclass(frozen=True)
class PublishedPeak:
    """A chip's dense (no sparsity) peak in TFLOP/s for float32 matmuls as JAX runs them by
    default (``jax.lax.Precision.DEFAULT``: TF32 tensor cores on NVIDIA Ampere and Hopper, one
    bfloat16 pass on TPUs; ``float32_means`` says which) and for bfloat16."""

    chip: str
    float32_tflops: float
    bfloat16_tflops: float
    float32_means: str


# (regular expression that the lower-cased device_kind matches in full, peak): the first
# match wins, so the more specific rows come first. NVIDIA datasheets give the figures with
# structured sparsity (marked *); the dense ones here are half of them.
TF32, BF16_PASS = "TF32", "one bfloat16 pass"
PUBLISHED_PEAKS: tuple[tuple[str, PublishedPeak], ...] = (
    # NVIDIA H100 datasheet (2023), H100 PCIe column: TF32 756*, BF16 1,513*
    (r"nvidia h100 pcie", PublishedPeak("NVIDIA H100 PCIe", 378.0, 756.5, TF32)),
    # NVIDIA H100 NVL datasheet (2024): TF32 835*, BF16 1,671*
    (r"nvidia h100 nvl", PublishedPeak("NVIDIA H100 NVL", 417.5, 835.5, TF32)),
    # NVIDIA Hopper architecture whitepaper, H100 SXM5: TF32 494.7, BF16 989.4 dense
    # (device_kind "NVIDIA H100 80GB HBM3")
    (r"nvidia h100\b.*", PublishedPeak("NVIDIA H100 SXM", 494.7, 989.4, TF32)),
    # NVIDIA H200 datasheet (2024), H200 NVL column: TF32 835*, BF16 1,671*
    (r"nvidia h200 nvl", PublishedPeak("NVIDIA H200 NVL", 417.5, 835.5, TF32)),
    # NVIDIA H200 datasheet (2024), H200 SXM column: TF32 989*, BF16 1,979*
    (r"nvidia h200\b.*", PublishedPeak("NVIDIA H200 SXM", 494.5, 989.5, TF32)),
    # NVIDIA A100 datasheet (40GB and 80GB, SXM4 and PCIe alike): TF32 156, BF16 312 dense
    (r"nvidia a100\b.*", PublishedPeak("NVIDIA A100", 156.0, 312.0, TF32)),
    # NVIDIA L4 datasheet: TF32 120*, BF16 242*
    (r"nvidia l4", PublishedPeak("NVIDIA L4", 60.0, 121.0, TF32)),
    # Google Cloud TPU documentation, system architecture pages (peak bf16 compute per chip).
    # JAX's device_kind names (jax/_src/pallas/mosaic/tpu_info.py): "TPU v5 lite" is v5e,
    # "TPU v5" v5p, "TPU v6 lite" v6e (Trillium); "TPU v4 lite" (v4i) is another chip.
    (r"tpu v4", PublishedPeak("TPU v4", 275.0, 275.0, BF16_PASS)),
    (r"tpu v5 lite|tpu v5e", PublishedPeak("TPU v5e", 197.0, 197.0, BF16_PASS)),
    (r"tpu v5p?", PublishedPeak("TPU v5p", 459.0, 459.0, BF16_PASS)),
    (r"tpu v6 lite|tpu v6e", PublishedPeak("TPU v6e", 918.0, 918.0, BF16_PASS)),
)


def published_peak(device_kind: str) -> PublishedPeak | None:
    """The published peak of the chip named by ``jax.Device.device_kind`` ("NVIDIA H100 80GB
    HBM3", "TPU v5 lite" ...), or None for a chip not in ``PUBLISHED_PEAKS`` (never a guess)."""
    for pattern, peak in PUBLISHED_PEAKS:
        if re.fullmatch(pattern, device_kind.strip().lower()):
            return peak
    return None


def measure_matmul_peak(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a jitted size^3 matmul (float32 accumulation), the best of ``repeats``."""
    a = jnp.ones((size, size), dtype)
    matmul = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
    matmul(a, a).block_until_ready()
    best = min(timed(lambda: matmul(a, a).block_until_ready()) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def measure_peaks(
    dtypes: list[str], matmul_size: int
) -> tuple[dict[str, float | str | None], dict[str, float], PublishedPeak | None]:
    """The ``peak.*`` keys, the measured GFLOP/s per dtype, and this chip's published peak
    (None on CPUs)."""
    matmul_gflops = {dtype: measure_matmul_peak(dtype, matmul_size) for dtype in dtypes}
    device_kind = jax.devices()[0].device_kind
    published = None if jax.default_backend() == "cpu" else published_peak(device_kind)
    results: dict[str, float | str | None] = {"peak.matmul_size": matmul_size}
    for dtype in dtypes:
        results[f"peak.{dtype}_gflops"] = matmul_gflops[dtype]
    results["peak.published.chip"] = published and published.chip
    results["peak.published.float32_means"] = published and published.float32_means
    for dtype in dtypes:
        results[f"peak.published.{dtype}_tflops"] = published and getattr(
            published, f"{dtype}_tflops"
        )
    measured = ", ".join(f"{d} {gflops:.0f}" for d, gflops in matmul_gflops.items())
    progress(f"matmul {matmul_size}^3 (GFLOP/s): {measured}; published peak: {published}")
    return results, matmul_gflops, published
