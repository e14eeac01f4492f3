"""Speed benchmarks: prints a table, and with ``--json`` one flat JSON object on the last line.

    python scripts/benchmark.py --json [--only train] [--sizes base] [--steps 10]

``train.<size>.*``: one stage-2 train step (hybrid loss, all parameters trainable, AdamW,
clipping) at batch 16 x 180 frames (3 s at 60 FPS), float32: ``compile_s``, ``step_ms``
(median), ``frames_per_s`` and ``mfu`` = analytic FLOPs of the step / step time / the matmul
peak this script measures in the same run for the same precision (``peak.float32_gflops``);
``train.<size>.bfloat16.*`` the same with bfloat16 compute against ``peak.bfloat16_gflops``.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from whispersign_jax import optim, train
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.vocab import decoder_size

NUM_GLOSSES = 200  # a mid-sized gloss vocabulary
LABEL_LENGTH = 4


def measure_matmul_peak(dtype: str, size: int = 2048, repeats: int = 10) -> float:
    """GFLOP/s of a jitted size^3 matmul (float32 accumulation), the best of ``repeats``."""
    a = jnp.ones((size, size), dtype)
    matmul = jax.jit(lambda x, y: jnp.matmul(x, y, preferred_element_type=jnp.float32))
    matmul(a, a).block_until_ready()
    best = min(_timed(lambda: matmul(a, a).block_until_ready()) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def train_step_flops(config: ModelConfig, batch: int, frames: int, tokens: int) -> float:
    """Matmul FLOPs of forward + backward (3x forward) of the hybrid train step."""
    d, f = config.d_model, config.ffn_dim
    positions = config.num_patches(frames)
    patch_in = config.patch_size * 42 * 7
    frontend = 2 * positions * (patch_in * d + d * d + d * d + config.conv_kernel * d)
    attention_proj = 2 * 4 * d * d  # q, k, v, out per token
    mlp = 2 * 2 * d * f
    encoder = config.encoder_layers * (
        positions * (attention_proj + mlp) + 2 * 2 * positions * positions * d
    )
    decoder = config.decoder_layers * (
        tokens * (2 * attention_proj + mlp)  # self + cross attention projections
        + 2 * 2 * tokens * tokens * d
        + 2 * 2 * tokens * positions * d
    )
    heads = 2 * positions * d * config.ctc_size + 2 * tokens * d * decoder_size(config.num_glosses)
    return 3.0 * batch * (frontend + encoder + decoder + heads)


def benchmark_train(
    size: str,
    batch: int,
    frames: int,
    steps: int,
    peak_gflops: float,
    dtype: str = "float32",
    prefix: str = "",
):
    config = ModelConfig.preset(size, NUM_GLOSSES, dtype=dtype)
    model = WhisperSign(config)
    variables = init_variables(model, jax.random.key(0))
    stage = ml_collections.ConfigDict(dict(alpha=0.3, trainable=(".*",)))
    run_config = ml_collections.ConfigDict(dict(label_smoothing=0.0))
    labels = optim.trainable_labels(variables["params"], stage.trainable)
    schedule = optim.learning_rate_schedule(5e-5, 500, 10_000)
    optimizer = optim.make_optimizer(variables["params"], labels, schedule, 1e-4, 1.0)
    state = train.TrainState(
        jnp.zeros((), jnp.int32),
        variables["params"],
        variables["batch_stats"],
        optimizer.init(variables["params"]),
    )
    step_fn = jax.jit(
        train.make_train_step(
            model, optimizer, labels, stage, run_config, jax.random.key(1, impl="rbg")
        ),
        donate_argnums=0,
    )
    rng = np.random.default_rng(0)
    batch_arrays = {
        "keypoints": jnp.asarray(rng.normal(size=(batch, frames, 42, 7)), jnp.float32),
        "frame_mask": jnp.ones((batch, frames), bool),
        "labels": jnp.asarray(rng.integers(1, NUM_GLOSSES + 1, (batch, LABEL_LENGTH)), jnp.int32),
        "label_mask": jnp.ones((batch, LABEL_LENGTH), bool),
    }
    start = time.perf_counter()
    compiled = step_fn.lower(state, batch_arrays).compile()
    compile_s = time.perf_counter() - start
    state, metrics = compiled(state, batch_arrays)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = compiled(state, batch_arrays)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    flops = train_step_flops(config, batch, frames, LABEL_LENGTH + 1)
    prefix = prefix or f"train.{size}"
    return {
        f"{prefix}.params_m": sum(x.size for x in jax.tree.leaves(variables["params"])) / 1e6,
        f"{prefix}.compile_s": compile_s,
        f"{prefix}.step_ms": step_s * 1e3,
        f"{prefix}.frames_per_s": batch * frames / step_s,
        f"{prefix}.gflops_per_step": flops / 1e9,
        f"{prefix}.mfu": flops / step_s / (peak_gflops * 1e9),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--only", choices=["train"], default=None)
    parser.add_argument("--sizes", default="base", help="comma-separated model sizes")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--frames", type=int, default=180)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()

    results: dict[str, float | str] = {
        "device": jax.devices()[0].device_kind,
        "platform": jax.default_backend(),
        "cpu": platform.processor() or platform.machine(),
        "jax": jax.__version__,
    }
    peak = measure_matmul_peak("float32")
    peak_bf16 = measure_matmul_peak("bfloat16")
    results["peak.float32_gflops"] = peak
    results["peak.bfloat16_gflops"] = peak_bf16
    for size in args.sizes.split(","):
        results.update(benchmark_train(size, args.batch, args.frames, args.steps, peak))
        results.update(
            benchmark_train(
                size,
                args.batch,
                args.frames,
                args.steps,
                peak_bf16,
                "bfloat16",
                f"train.{size}.bfloat16",
            )
        )
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
