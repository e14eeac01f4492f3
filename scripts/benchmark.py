"""Speed benchmarks: prints a table, and with ``--json`` one flat JSON object on the last line.

    python scripts/benchmark.py --json [--only train] [--sizes base] [--steps 10]

``train.<size>.*``: one stage-2 train step (hybrid loss, all parameters trainable, AdamW,
clipping) at batch 16 x 180 frames (3 s at 60 FPS), float32: ``compile_s``, ``step_ms``
(median), ``frames_per_s`` and ``mfu`` = analytic FLOPs of the step / step time / the matmul
peak this script measures in the same run for the same precision (``peak.float32_gflops``);
``train.<size>.bfloat16.*`` the same with bfloat16 compute against ``peak.bfloat16_gflops``.

``pipeline.*`` (``--only pipeline``): the tf.data training input (stage-3 windows of 3 s on
continuous synthetic clips, every augmentation, normalisation and standardisation) at batch
16: ``frames_per_s`` (valid frames delivered per second) and ``batches_per_s``.

``extract.<backend>.fps`` (``--only extract``): video frames per second through
``whispersign_jax.extract.track_video`` (decoding, MediaPipe hand tracking, slot assignment)
on ``../shared/fixtures/signing_clip.mp4``, best of 3 passes, for each backend available. Where
the main environment has no MediaPipe it runs in the side environment of mediapipe 0.10.21
(``.venvs/mediapipe-legacy``, built on first use): the legacy backend, and the Tasks backend
with a hand_landmarker.task assembled from that wheel's two hand models.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

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
        - tokens * 2 * 2 * d * d  # cross-attention keys and values come from the encoder:
        + positions * 2 * 2 * d * d  # projected once per encoder position, not per token
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


def benchmark_pipeline(batch: int = 16, steps: int = 200) -> dict[str, float]:
    """Throughput of ``input_pipeline.train_batches`` alone (no train step consuming it)."""
    from whispersign_jax.data import augment, input_pipeline, synthetic
    from whispersign_jax.data.batching import TrainBatches
    from whispersign_jax.data.normalize import Preprocessor

    config = synthetic.SyntheticConfig(
        mode="continuous", train_signers=4, continuous_samples_per_signer=16
    )
    samples = synthetic.generate_split(config, "train")  # 64 clips of 2-6 glosses
    preprocessor = Preprocessor.fit([s.keypoints for s in samples], True, True)
    window = 180  # 3 s at 60 FPS, as in stage 3
    batches = TrainBatches(
        samples, batch, buckets=(64, 128, 192, 256), max_labels=8, seed=0,
        augmentation=augment.AugmentConfig(), window_frames=window,
        hop_frames=window // 2, preprocess=preprocessor,
    )  # fmt: skip
    pipeline = input_pipeline.train_batches(batches, 0, steps + 10, parallel_calls=2)
    for _ in range(10):  # warm-up: TensorFlow start, first batches
        next(pipeline)
    start, frames = time.perf_counter(), 0
    for host_batch in pipeline:
        frames += int(host_batch["frame_mask"].sum())
    elapsed = time.perf_counter() - start
    return {"pipeline.frames_per_s": frames / elapsed, "pipeline.batches_per_s": steps / elapsed}


EXTRACT_CLIP = Path(__file__).resolve().parents[1].parent / "shared/fixtures/signing_clip.mp4"
# Runs in whichever Python has MediaPipe; prints frames per second (best of 3 passes).
EXTRACT_FPS_CODE = """
import sys, time
from whispersign_jax.extract import open_hand_tracker, track_video
video, backend, model = sys.argv[1], sys.argv[2], sys.argv[3] or None
best = 0.0
for _ in range(3):
    with open_hand_tracker(backend, model_path=model) as tracker:
        start = time.perf_counter()
        frames = track_video(video, tracker).timestamps.size
        best = max(best, frames / (time.perf_counter() - start))
print(best)
"""


def benchmark_extract() -> dict[str, float | str]:
    """Frames per second of video extraction for each available MediaPipe backend."""
    import importlib.util
    import os
    import subprocess
    import sys
    import tempfile

    from whispersign_jax.extraction import model_file
    from whispersign_jax.extraction.legacy_env import assemble_tasks_model, ensure_legacy_env

    if not EXTRACT_CLIP.is_file():
        return {"extract.skipped": f"{EXTRACT_CLIP} is absent"}
    repo = Path(__file__).resolve().parents[1]
    scratch = tempfile.TemporaryDirectory()
    runs: dict[str, tuple[str, str]] = {}  # backend -> (python, model file or "")
    if importlib.util.find_spec("mediapipe") is not None:
        from whispersign_jax.extraction.backends import has_legacy_hands, import_mediapipe

        if has_legacy_hands(import_mediapipe()):
            runs["legacy"] = (sys.executable, "")
        if model_file.available_model() is not None:
            runs["tasks"] = (sys.executable, str(model_file.available_model()))
    else:
        python = str(ensure_legacy_env(repo / ".venvs" / "mediapipe-legacy"))
        model = assemble_tasks_model(python, Path(scratch.name) / "hand_landmarker.task")
        runs = {"legacy": (python, ""), "tasks": (python, str(model))}
    results: dict[str, float | str] = {}
    env = {**os.environ, "PYTHONPATH": str(repo)}
    with scratch:
        for backend, (python, model) in runs.items():
            command = [python, "-c", EXTRACT_FPS_CODE, str(EXTRACT_CLIP), backend, model]
            output = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
            results[f"extract.{backend}.fps"] = float(output.stdout.strip().splitlines()[-1])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--only", choices=["train", "pipeline", "extract"], default=None)
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
    if args.only in (None, "train"):
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
    if args.only in (None, "pipeline"):
        results.update(benchmark_pipeline(args.batch))
    if args.only in (None, "extract"):
        results.update(benchmark_extract())
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
