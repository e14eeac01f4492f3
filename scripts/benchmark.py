"""Speed benchmarks: prints a table, and with ``--json`` one flat JSON object on the last line.

    python scripts/benchmark.py --json [--only train] [--sizes base] [--steps 10]

``train.<size>.*``: one stage-2 train step (hybrid loss, all parameters trainable, AdamW,
clipping) at batch 16 x 180 frames (3 s at 60 FPS), float32: ``compile_s``, ``step_ms``
(median), ``frames_per_s`` and ``mfu`` = analytic FLOPs of the step / step time / the matmul
peak this script measures in the same run for the same precision (``peak.float32_gflops``);
``train.<size>.bfloat16.*`` the same with bfloat16 compute against ``peak.bfloat16_gflops``.

``pipeline.*`` (``--only pipeline``): the training input pipeline (``input_pipeline.train_batches``:
NumPy on 2 threads; stage-3 windows of 3 s on continuous synthetic clips, every
augmentation, the default normalisation) at batch 16:
``frames_per_s`` (valid frames delivered per second of wall time), ``batches_per_s``, and
``frames_per_cpu_s`` (per second of this process's CPU time, all threads: the figure that
does not depend on what else runs on a shared machine).

``extract.<backend>.fps`` (``--only extract``): video frames per second through
``whispersign_jax.extract.track_video`` (decoding, MediaPipe hand tracking, slot assignment)
on ``../shared/fixtures/signing_clip.mp4``, best of 3 passes, for each backend available. Where
the main environment has no MediaPipe it runs in the side environment of mediapipe 0.10.21
(``.venvs/mediapipe-legacy``, built on first use): the legacy backend, and the Tasks backend
with a hand_landmarker.task assembled from that wheel's two hand models.

``infer.<size>[.bfloat16].<decoder>.{compile_s,p50_ms,p95_ms}`` (``--only infer``): latency of
one 3 s window (180 frames, batch 1) through ``Recognizer.recognize`` for ``tiny`` and
``base`` and every decoder, after compilation, float32 and bfloat16 compute.
``stream.latency_{p50,p95}_ms``: from the last frame of a sign to its gloss's emission in the
sliding-window stream, counting the base default decoder's window time.
"""

from __future__ import annotations

import argparse
import functools
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
from whispersign_jax.decoding import DEFAULT_DECODER
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
        train.make_train_step(model, optimizer, labels, stage, run_config, jax.random.key(1)),
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
    preprocessor = Preprocessor.fit([s.keypoints for s in samples], False, True)
    window = 180  # 3 s at 60 FPS, as in stage 3
    batches = TrainBatches(
        samples, batch, buckets=(64, 128, 192, 256), max_labels=8, seed=0,
        augmentation=augment.AugmentConfig(), window_frames=window,
        hop_frames=window // 2, preprocess=preprocessor,
    )  # fmt: skip
    pipeline = input_pipeline.train_batches(batches, 0, steps + 10, parallel_calls=2)
    for _ in range(10):  # warm-up: thread start, first batches
        next(pipeline)
    start, cpu_start, frames = time.perf_counter(), time.process_time(), 0
    for host_batch in pipeline:
        frames += int(host_batch["frame_mask"].sum())
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {
        "pipeline.frames_per_s": frames / elapsed,
        "pipeline.batches_per_s": steps / elapsed,
        "pipeline.frames_per_cpu_s": frames / cpu,
    }


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
        from legacy_env import assemble_tasks_model, ensure_legacy_env  # scripts/legacy_env.py

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


# ---- inference (issue 5) -------------------------------------------------------------------
WINDOW_FRAMES = 180  # one 3-second streaming window at 60 FPS
INFER_STREAM_DECODER = DEFAULT_DECODER  # timed in the stream


def _recognizer(size: str, decoder: str, dtype: str):
    """A randomly initialised ``size`` model as a Recognizer. Its CTC head is biased towards
    the blank, so that, like a trained model on a 3 s window, it emits a few glosses, not one
    per position (the n-best stays short); the attention decoder is left random, so the
    attention beam searches run to their length cap (their worst case)."""
    from whispersign_jax import decoding, recognize, trained
    from whispersign_jax.vocab import Vocabulary

    model = WhisperSign(ModelConfig.preset(size, NUM_GLOSSES, dtype=dtype))
    variables = init_variables(model, jax.random.key(0))
    bias = variables["params"]["ctc_head"]["bias"]
    variables["params"]["ctc_head"]["bias"] = bias.at[0].set(8.0)
    run = trained.TrainedModel(
        model=model,
        variables=trained.inference_variables(variables, dtype),
        vocabulary=Vocabulary(tuple(f"g{i}" for i in range(NUM_GLOSSES))),
        config=ml_collections.ConfigDict(),
        stage="random",
        step=0,
        metrics={},
    )
    return recognize.Recognizer(run, decoding.DecodeOptions(decoder=decoder))


def benchmark_infer(sizes, dtypes, repeats: int = 50) -> dict[str, float]:
    """``infer.<size>[.bfloat16].<decoder>.{compile_s,p50_ms,p95_ms}``: one 3 s window at
    batch 1 through ``Recognizer.recognize`` (padding, jitted encoder + decoder, results with
    names and time spans), after compilation."""
    from whispersign_jax.decoding import DECODERS

    window = np.random.default_rng(0).normal(size=(WINDOW_FRAMES, 42, 7)).astype(np.float32)
    results = {}
    for size in sizes:
        for dtype in dtypes:
            for decoder in DECODERS:
                prefix = f"infer.{size}{'' if dtype == 'float32' else '.' + dtype}.{decoder}"
                recognize = functools.partial(_recognizer(size, decoder, dtype).recognize, window)
                results[f"{prefix}.compile_s"] = _timed(recognize)
                times = sorted(_timed(recognize) for _ in range(repeats))
                results[f"{prefix}.p50_ms"] = 1e3 * times[len(times) // 2]
                results[f"{prefix}.p95_ms"] = 1e3 * times[int(0.95 * (len(times) - 1))]
    return results


class _SignMiddles:
    """Stands in for the model's timing: emits each sign that lies wholly inside the window
    at its middle (what a well-trained CTC head does)."""

    def __init__(self, signs):
        self.signs = signs  # (gloss, start frame, end frame), stream frames
        self.start = 0

    def recognize(self, clip):
        from whispersign_jax.decoding import Recognition, RecognizedGloss

        start, end = int(clip[0, 0, 0]), int(clip[-1, 0, 0]) + 1
        glosses = tuple(
            RecognizedGloss(g, str(g), 1.0, (a + b) // 2 - start - 2, (a + b) // 2 - start + 2)
            for g, a, b in self.signs
            if start <= a and b <= end
        )
        return Recognition(glosses, 0.0, "timing")


def benchmark_streaming_latency(window_ms: float) -> dict[str, float]:
    """``stream.latency_{p50,p95}_ms``: from the last frame of a sign to the emission of its
    gloss, when the stream is fed frame by frame (3 s windows, 50% overlap) and each window
    takes ``window_ms`` to recognise; 30 continuous synthetic sentences of 10-14 signs."""
    from whispersign_jax.data import synthetic
    from whispersign_jax.streaming import StreamingRecognizer

    config = synthetic.SyntheticConfig(mode="continuous", min_glosses=10, max_glosses=14)
    latencies = []
    for index in range(30):
        sample = synthetic.generate_sample(config, "test", index)
        signs = [
            (int(g), int(a), int(b)) for g, (a, b) in zip(sample.labels, sample.spans, strict=True)
        ]
        frames = np.zeros((len(sample.keypoints), 42, 7), np.float32)
        frames[:, 0, 0] = np.arange(len(frames))  # the oracle reads its window's place here
        streamer = StreamingRecognizer(_SignMiddles(signs))
        ends = {(a + b) // 2: b for _, a, b in signs}
        for frame in range(len(frames)):
            for gloss in streamer.push(frames[frame]):
                middle = (gloss.start_frame + gloss.end_frame) // 2
                latencies.append((frame + 1 - ends[middle]) / 60 * 1e3 + window_ms)
        for gloss in streamer.flush():  # the stream ends with its last frame
            middle = (gloss.start_frame + gloss.end_frame) // 2
            latencies.append((len(frames) - ends[middle]) / 60 * 1e3 + window_ms)
    latencies.sort()
    return {
        "stream.window_ms": window_ms,
        "stream.latency_p50_ms": latencies[len(latencies) // 2],
        "stream.latency_p95_ms": latencies[int(0.95 * (len(latencies) - 1))],
        "stream.glosses": float(len(latencies)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument("--only", choices=["train", "pipeline", "extract", "infer"], default=None)
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
    if args.only in (None, "infer"):
        results.update(benchmark_infer(("tiny", "base"), ("float32", "bfloat16")))
        window_ms = results[f"infer.base.{INFER_STREAM_DECODER}.p50_ms"]
        results.update(benchmark_streaming_latency(window_ms))
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
