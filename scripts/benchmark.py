"""Speed benchmarks: prints a table, and with ``--json`` one flat JSON object on the last line.

    python scripts/benchmark.py --json [--only train] [--sizes base] [--steps 10]

On an accelerator (GPU or TPU; the defaults differ from the CPU ones, see ``--help``):

    python scripts/benchmark.py --json --only train   # base and small, batch 16 and 256
    python scripts/benchmark.py --json --only infer   # base, every decoder

Progress goes to stderr as each program compiles and runs, so a run that is stopped still
shows what finished. Compiled programs go to the persistent compilation cache
(``--compile_cache``; ``whispersign_jax.compile_cache``): a second run loads them.
``compile_cache.hits`` counts the programs loaded from it instead of compiled; pass
``--compile_cache=`` for cold compile times.

``train.<size>[.b<batch>][.bfloat16].*``: one stage-2 train step (hybrid loss, all parameters
trainable, AdamW, clipping) at batch 16 (``.b<batch>`` for another batch) x 180 frames (3 s at
60 FPS), float32 (``.bfloat16``: bfloat16 compute): ``compile_s`` (of the step program alone;
parameters are initialised once per size, on the host CPU), ``step_ms`` (median),
``frames_per_s``, ``gflops_per_step`` (analytic) and ``mfu`` = those FLOPs / step time / the
matmul peak this script measures in the same run for the same precision
(``peak.{float32,bfloat16}_gflops``: a jitted ``peak.matmul_size``^3 matmul, 2048 on CPUs and
8192 on accelerators); ``mfu_published`` = the same against the chip's published dense peak
(``peak.published.*``, ``PUBLISHED_PEAKS``; None for a chip not in the table, and on CPUs).

``pipeline.*`` (``--only pipeline``): the training input pipeline (``input_pipeline.train_batches``:
NumPy on 2 threads; stage-3 windows of 3 s on continuous synthetic clips, every
augmentation, the default normalisation) at batch 16:
``frames_per_s`` (valid frames delivered per second of wall time), ``batches_per_s``, and
``frames_per_cpu_s`` (per second of this process's CPU time, all threads: the figure that
does not depend on what else runs on a shared machine).

``extract.<backend>.fps`` (``--only extract``): video frames per second through
``whispersign_jax.extract.track_video`` (decoding, MediaPipe hand tracking, slot assignment)
on ``data/samples/signing_clip.mp4``, best of 3 passes, for each backend available. Where
the main environment has no MediaPipe it runs in the side environment of mediapipe 0.10.21
(``.venvs/mediapipe-legacy``, built on first use): the legacy backend, and the Tasks backend
with a hand_landmarker.task assembled from that wheel's two hand models.

``infer.<size>[.bfloat16].<decoder>.{compile_s,p50_ms,p95_ms}`` (``--only infer``): latency of
one 3 s window (180 frames, batch 1) through ``Recognizer.recognize`` for ``tiny`` and
``base`` (accelerators: ``base``) and every decoder, after compilation, float32 and bfloat16
compute. ``stream.latency_{p50,p95}_ms``: from the last frame of a sign to its gloss's
emission in the sliding-window stream, counting the base default decoder's window time.

``export.<size>.<format>.<dtype>.*`` (``--only export``; ``--export_size``, default base): each
export format and weight type (``benchmark_export``): file sizes, export time, and one 3 s
window through the exported model with the JAX-free runtime, CTC greedy and the default
attention rescoring.

``browser.<size>.<decoder>.*`` (``--only browser``; ``--browser_size``, default base): the
live page in headless Chromium (``benchmark_browser``), CTC greedy and the default decoder:
per 3 s window through features.onnx, the encoder and the decoders in ONNX Runtime Web
(WebAssembly), and MediaPipe hands per camera frame.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from whispersign_jax import compile_cache, optim
from whispersign_jax.decoding import DEFAULT_DECODER
from whispersign_jax.keypoints import CONFIDENCE
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.vocab import decoder_size

NUM_GLOSSES = 200  # a mid-sized gloss vocabulary
LABEL_LENGTH = 4
STARTED = time.perf_counter()


@dataclass(frozen=True)
class Defaults:
    """What runs without flags: the CPU set, or the accelerator set."""

    sizes: str
    batches: str  # "" = --batch
    infer_sizes: str
    matmul_size: int
    compile_workers: int


CPU_DEFAULTS = Defaults("base", "", "tiny,base", 2048, 1)
ACCELERATOR_DEFAULTS = Defaults("base,small", "16,256", "base", 8192, 4)


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


def progress(message: str) -> None:
    """One line on stderr, at once: a run that is stopped still shows what finished."""
    print(
        f"[benchmark {time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True
    )


def count_cache_hits() -> dict[str, int]:
    """``compile_cache.hits``: programs loaded from the persistent compilation cache instead
    of compiled, counted as they happen."""
    counts = {"compile_cache.hits": 0}

    def listener(event: str, **_) -> None:
        if event == "/jax/compilation_cache/cache_hits":
            counts["compile_cache.hits"] += 1

    jax.monitoring.register_event_listener(listener)
    return counts


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


@functools.cache
def random_variables(size: str) -> dict:
    """``init_variables`` of a ``size`` model (key 0) as host arrays, computed once per size
    on the host CPU: float32 and bfloat16 compute share the float32 parameters, and no
    accelerator compiles the initialisers."""
    model = WhisperSign(ModelConfig.preset(size, NUM_GLOSSES))
    with jax.default_device(jax.devices("cpu")[0]):
        return jax.device_get(init_variables(model, jax.random.key(0)))


@functools.cache
def _train_setup(size: str):
    """The optimizer of the stage-2 step for ``size`` and its initial state, on the host."""
    from whispersign_jax import train  # imported here: --only infer does not need it

    variables = random_variables(size)
    labels = optim.trainable_labels(variables["params"], (".*",))
    schedule = optim.learning_rate_schedule(5e-5, 500, 10_000)
    optimizer = optim.make_optimizer(variables["params"], labels, schedule, 1e-4, 1.0)
    with jax.default_device(jax.devices("cpu")[0]):
        opt_state = jax.device_get(optimizer.init(variables["params"]))
    state = train.TrainState(
        np.zeros((), np.int32), variables["params"], variables["batch_stats"], opt_state
    )
    return optimizer, labels, state


@dataclass
class TrainProgram:
    """One train step program: a size, batch and compute dtype."""

    size: str
    batch: int
    dtype: str
    prefix: str
    compiled: Callable | None = None
    compile_s: float = 0.0

    def lower(self, frames: int):
        from whispersign_jax import train

        model = WhisperSign(ModelConfig.preset(self.size, NUM_GLOSSES, dtype=self.dtype))
        optimizer, labels, state = _train_setup(self.size)
        stage = ml_collections.ConfigDict(
            dict(alpha=0.3, trainable=(".*",), update_batch_norm=True)
        )
        run_config = ml_collections.ConfigDict(dict(label_smoothing=0.0))
        step_fn = jax.jit(
            train.make_train_step(model, optimizer, labels, stage, run_config, jax.random.key(1)),
            donate_argnums=0,
        )
        shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
        return step_fn.lower(shapes, train_batch_shapes(self.batch, frames))

    def compile(self, lowered) -> TrainProgram:
        start = time.perf_counter()
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - start
        return self


def train_batch_shapes(batch: int, frames: int) -> dict[str, jax.ShapeDtypeStruct]:
    return {
        "keypoints": jax.ShapeDtypeStruct((batch, frames, 42, 7), jnp.float32),
        "frame_mask": jax.ShapeDtypeStruct((batch, frames), jnp.bool_),
        "labels": jax.ShapeDtypeStruct((batch, LABEL_LENGTH), jnp.int32),
        "label_mask": jax.ShapeDtypeStruct((batch, LABEL_LENGTH), jnp.bool_),
    }


def time_train_program(
    program: TrainProgram,
    frames: int,
    steps: int,
    matmul_gflops: dict[str, float],
    published: PublishedPeak | None,
) -> dict[str, float | None]:
    """Runs a compiled step ``steps`` times after one warm-up step; its keys."""
    config = ModelConfig.preset(program.size, NUM_GLOSSES, dtype=program.dtype)
    # fresh device buffers (never views of the cached host arrays): the step donates them
    state = jax.device_put(_train_setup(program.size)[2], may_alias=False)
    rng = np.random.default_rng(0)
    batch = jax.device_put(
        {
            "keypoints": rng.normal(size=(program.batch, frames, 42, 7)).astype(np.float32),
            "frame_mask": np.ones((program.batch, frames), bool),
            "labels": rng.integers(1, NUM_GLOSSES + 1, (program.batch, LABEL_LENGTH), np.int32),
            "label_mask": np.ones((program.batch, LABEL_LENGTH), bool),
        }
    )
    state, metrics = program.compiled(state, batch)
    jax.block_until_ready(metrics)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        state, metrics = program.compiled(state, batch)
        jax.block_until_ready(metrics)
        times.append(time.perf_counter() - start)
    step_s = statistics.median(times)
    flops = train_step_flops(config, program.batch, frames, LABEL_LENGTH + 1)
    step_flops_per_s = flops / step_s
    peak_tflops = None if published is None else getattr(published, f"{program.dtype}_tflops")
    params = _train_setup(program.size)[2].params
    prefix = program.prefix
    return {
        f"{prefix}.params_m": sum(x.size for x in jax.tree.leaves(params)) / 1e6,
        f"{prefix}.compile_s": program.compile_s,
        f"{prefix}.step_ms": step_s * 1e3,
        f"{prefix}.frames_per_s": program.batch * frames / step_s,
        f"{prefix}.gflops_per_step": flops / 1e9,
        f"{prefix}.mfu": step_flops_per_s / (matmul_gflops[program.dtype] * 1e9),
        f"{prefix}.mfu_published": None
        if peak_tflops is None
        else step_flops_per_s / (peak_tflops * 1e12),
    }


def benchmark_train(
    sizes: list[str],
    batches: list[int],
    dtypes: list[str],
    reference_batch: int,
    frames: int,
    steps: int,
    matmul_gflops: dict[str, float],
    published: PublishedPeak | None,
    workers: int,
) -> dict[str, float | None]:
    """Every (size, batch, dtype) train step program: each compiled once (``workers`` at a
    time), then timed; progress on stderr as it goes."""
    programs = []
    for size in sizes:
        for batch in batches:
            for dtype in dtypes:
                prefix = f"train.{size}" + (f".b{batch}" if batch != reference_batch else "")
                prefix += "" if dtype == "float32" else f".{dtype}"
                programs.append(TrainProgram(size, batch, dtype, prefix))
    results: dict[str, float | None] = {}

    def report_compiled(program: TrainProgram) -> None:
        progress(f"{program.prefix}: compiled in {program.compile_s:.1f} s")

    def report_timed(program: TrainProgram) -> None:
        timings = time_train_program(program, frames, steps, matmul_gflops, published)
        results.update(timings)
        program.compiled = None  # frees the executable
        mfu = timings[f"{program.prefix}.mfu_published"]
        progress(
            f"{program.prefix}: step {timings[f'{program.prefix}.step_ms']:.2f} ms, "
            f"mfu {timings[f'{program.prefix}.mfu']:.3f} of the matmul"
            + ("" if mfu is None else f", {mfu:.3f} of the published peak")
        )

    start = time.perf_counter()
    if workers <= 1:  # compile, run, compile, run ...: the CPU way, one thing at a time
        for program in programs:
            report_compiled(program.compile(program.lower(frames)))
            report_timed(program)
    else:  # lower one by one (Python), compile concurrently, then run one by one
        lowered = []
        for program in programs:
            lowered.append(program.lower(frames))
            progress(f"{program.prefix}: lowered")
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            pairs = zip(programs, lowered, strict=True)
            futures = [pool.submit(program.compile, low) for program, low in pairs]
            for future in concurrent.futures.as_completed(futures):
                report_compiled(future.result())
        results["train.compile_wall_s"] = time.perf_counter() - start
        for program in programs:
            report_timed(program)
    return results


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


EXTRACT_CLIP = Path(__file__).resolve().parents[1] / "data" / "samples" / "signing_clip.mp4"
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


def side_env_hand_model(folder: Path) -> tuple[str, Path]:
    """The python of the mediapipe 0.10.21 side environment (built on first use) and a
    hand_landmarker.task in ``folder`` assembled from that wheel's two hand models."""
    from legacy_env import assemble_tasks_model, ensure_legacy_env  # scripts/legacy_env.py

    repo = Path(__file__).resolve().parents[1]
    python = str(ensure_legacy_env(repo / ".venvs" / "mediapipe-legacy"))
    return python, assemble_tasks_model(python, folder / "hand_landmarker.task")


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
        python, model = side_env_hand_model(Path(scratch.name))
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


@functools.cache
def _inference_variables(size: str, dtype: str) -> dict:
    """The variables of ``random_variables(size)`` on the device, in the layout ``dtype``
    inference uses, with the CTC head biased towards the blank (see ``_recognizer``)."""
    from whispersign_jax import trained

    variables = random_variables(size)
    params = variables["params"]
    ctc_head = {**params["ctc_head"], "bias": params["ctc_head"]["bias"].copy()}
    ctc_head["bias"][0] = 8.0
    variables = jax.device_put({**variables, "params": {**params, "ctc_head": ctc_head}})
    return trained.inference_variables(variables, dtype)


def benchmark_window() -> np.ndarray:
    """One 3 s window (180, 42, 7) of random keypoints that pass the data contract's checks:
    every feature uniform in [0, 1], both hands present (confidence 1)."""
    window = np.random.default_rng(0).uniform(size=(WINDOW_FRAMES, 42, 7)).astype(np.float32)
    window[..., CONFIDENCE] = 1.0
    return window


def _random_model(size: str, dtype: str):
    """A randomly initialised ``size`` model (``_inference_variables``) as a TrainedModel."""
    from whispersign_jax import trained
    from whispersign_jax.vocab import Vocabulary

    return trained.TrainedModel(
        model=WhisperSign(ModelConfig.preset(size, NUM_GLOSSES, dtype=dtype)),
        variables=_inference_variables(size, dtype),
        vocabulary=Vocabulary(tuple(f"g{i}" for i in range(NUM_GLOSSES))),
        config=ml_collections.ConfigDict(),
        stage="random",
        step=0,
        metrics={},
    )


def _recognizer(size: str, decoder: str, dtype: str):
    """A randomly initialised ``size`` model as a Recognizer. Its CTC head is biased towards
    the blank, so that, like a trained model on a 3 s window, it emits a few glosses, not one
    per position (the n-best stays short); the attention decoder is left random, so the
    attention beam searches run to their length cap (their worst case)."""
    from whispersign_jax import decoding, recognize

    return recognize.Recognizer(_random_model(size, dtype), decoding.DecodeOptions(decoder=decoder))


def benchmark_infer(sizes, dtypes, repeats: int = 50, workers: int = 1) -> dict[str, float]:
    """``infer.<size>[.bfloat16].<decoder>.{compile_s,p50_ms,p95_ms}``: one 3 s window at
    batch 1 through ``Recognizer.recognize`` (padding, jitted encoder + decoder, results with
    names and time spans), after compilation (its first call, ``workers`` at a time)."""
    from whispersign_jax.decoding import DECODERS

    window = benchmark_window()
    results = {}
    programs = []  # (key prefix, the recognize call)
    for size in sizes:
        for dtype in dtypes:
            for decoder in DECODERS:
                prefix = f"infer.{size}{'' if dtype == 'float32' else '.' + dtype}.{decoder}"
                recognize = functools.partial(_recognizer(size, decoder, dtype).recognize, window)
                programs.append((prefix, recognize))

    def first_call(prefix: str, recognize) -> None:
        results[f"{prefix}.compile_s"] = _timed(recognize)
        progress(f"{prefix}: compiled in {results[f'{prefix}.compile_s']:.1f} s")

    def time_calls(prefix: str, recognize) -> None:
        times = sorted(_timed(recognize) for _ in range(repeats))
        results[f"{prefix}.p50_ms"] = 1e3 * times[len(times) // 2]
        results[f"{prefix}.p95_ms"] = 1e3 * times[int(0.95 * (len(times) - 1))]
        progress(f"{prefix}: p50 {results[f'{prefix}.p50_ms']:.2f} ms")

    if workers <= 1:
        for prefix, recognize in programs:
            first_call(prefix, recognize)
            time_calls(prefix, recognize)
    else:
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            for future in [pool.submit(first_call, *program) for program in programs]:
                future.result()
        for prefix, recognize in programs:
            time_calls(prefix, recognize)
    suffixes = ("compile_s", "p50_ms", "p95_ms")
    return {
        f"{prefix}.{key}": results[f"{prefix}.{key}"] for prefix, _ in programs for key in suffixes
    }


EXPORTS = (
    ("tflite", "float32"), ("tflite", "float16"), ("tflite", "int8"),
    ("onnx", "float32"), ("onnx", "float16"), ("onnx", "int8"), ("saved_model", "float32"),
)  # fmt: skip


def benchmark_export(size: str, repeats: int = 50, exports=EXPORTS) -> dict[str, float]:
    """``export.<size>.<format>.<dtype>.*``: ``export_s`` (JAX -> file), ``encoder_mb`` and
    ``scorer_mb`` (file sizes), and per 3 s window through the exported model with the
    JAX-free runtime (``export.runtime``: its NumPy decoders, all cores of this process):
    ``ctc_greedy_p50_ms`` / ``_p95_ms`` and ``attention_rescoring_p50_ms``."""
    import tempfile

    from whispersign_jax.export import convert, runtime
    from whispersign_jax.export.bundle import ExportBundle

    model = _random_model(size, "float32")
    window = benchmark_window()
    results = {}
    for fmt, dtype in exports:
        prefix = f"export.{size}.{fmt}.{dtype}"
        with tempfile.TemporaryDirectory() as folder:
            results[f"{prefix}.export_s"] = _timed(
                lambda fmt=fmt, dtype=dtype, folder=folder: convert.export_trained(
                    model, folder, fmt, dtype
                )
            )
            bundle = ExportBundle.load(folder)
            for part, name in (("encoder", bundle.encoder_file), ("scorer", bundle.scorer_file)):
                path = Path(folder) / name
                files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
                results[f"{prefix}.{part}_mb"] = sum(p.stat().st_size for p in files) / 2**20
            for decoder in ("ctc_greedy", "attention_rescoring"):
                exported = runtime.ExportedRecognizer.load(folder, decoder=decoder)
                exported.recognize(window)  # first call: the runtime's own set-up
                times = sorted(
                    _timed(lambda r=exported: r.recognize(window)) for _ in range(repeats)
                )
                results[f"{prefix}.{decoder}_p50_ms"] = 1e3 * times[len(times) // 2]
                if decoder == "ctc_greedy":
                    results[f"{prefix}.{decoder}_p95_ms"] = (
                        1e3 * times[int(0.95 * (len(times) - 1))]
                    )
        progress(
            f"{prefix}: encoder {results[f'{prefix}.encoder_mb']:.1f} MB, ctc_greedy p50 "
            f"{results[f'{prefix}.ctc_greedy_p50_ms']:.2f} ms"
        )
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
        frames[:, 0, CONFIDENCE] = 1.0  # a hand is present: the stream skips hand-less windows
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


# ---- the browser page (issue 15) -----------------------------------------------------------
BROWSER_TIMEOUT_MS = 300_000


def benchmark_browser(size: str, windows: int = 12) -> dict[str, float | str]:
    """``browser.<size>.<decoder>.*`` for CTC greedy and the default decoder (``_browser_run``)."""
    results: dict[str, float | str] = {}
    for decoder in ("ctc_greedy", DEFAULT_DECODER):
        results.update(_browser_run(size, decoder, windows))
    return results


def _browser_run(size: str, decoder: str, windows: int) -> dict[str, float | str]:
    """``browser.<size>.<decoder>.*``: the live page (``whispersign_jax.serve``) in headless
    Chromium, its fake webcam playing ``EXTRACT_CLIP`` in a loop, with the ``size`` model
    (random weights, CTC head biased to the blank as in ``_recognizer``) exported for the web
    with ``decoder``. Per 3 s window, as the page measures it (``performance.now``):
    ``{features,encoder,decode,total}_p50_ms``, ``total_p95_ms``, ``first_window_ms`` (ONNX
    Runtime's warm-up), and ``track_p50_ms`` (MediaPipe hands per camera frame)."""
    import tempfile
    import threading

    import browser_support  # scripts/browser_support.py

    from whispersign_jax.decoding import DecodeOptions
    from whispersign_jax.export.web import export_web
    from whispersign_jax.serve.assets import ensure_assets
    from whispersign_jax.serve.server import serve

    reason = browser_support.ensure_tools()
    if reason or not EXTRACT_CLIP.is_file():
        return {"browser.skipped": reason or f"{EXTRACT_CLIP} is absent"}
    from playwright.sync_api import sync_playwright

    prefix = f"browser.{size}.{decoder}"
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        (scratch / "export").mkdir()
        model, options = _random_model(size, "float32"), DecodeOptions(decoder=decoder)
        export_web(model, scratch / "export", options=options, source=f"random {size}")
        _, hand_model = side_env_hand_model(scratch)
        server = serve(scratch / "export", hand_model, ensure_assets(), port=0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        camera = browser_support.fake_camera_file(EXTRACT_CLIP, scratch / "clip.y4m")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=browser_support.chromium_path(),
                headless=True,
                args=browser_support.chromium_arguments(camera),
            )
            page, errors = browser_support.open_page(
                chromium, f"{server.url}?record=1", BROWSER_TIMEOUT_MS
            )
            page.click("#camera")
            page.wait_for_function(
                f"whisperSign.log.windows.filter((w) => w.timings).length >= {windows}",
                timeout=BROWSER_TIMEOUT_MS,
            )
            page.evaluate("whisperSign.stop()")
            timings = page.evaluate("whisperSign.log.windows.map((w) => w.timings)")
            track_ms = page.evaluate("whisperSign.log.frames.map((f) => f.track_ms)")
            chromium.close()
        server.shutdown()
        server.server_close()
    if errors:
        raise RuntimeError(f"the page failed: {errors}")
    timings = [t for t in timings if t]
    results: dict[str, float | str] = {f"{prefix}.first_window_ms": timings[0]["total_ms"]}
    for part in ("features", "encoder", "decode", "total"):
        values = sorted(t[f"{part}_ms"] for t in timings[1:])
        results[f"{prefix}.{part}_p50_ms"] = values[len(values) // 2]
    totals = sorted(t["total_ms"] for t in timings[1:])
    results[f"{prefix}.total_p95_ms"] = totals[int(0.95 * (len(totals) - 1))]
    results[f"{prefix}.windows"] = float(len(timings))
    results[f"{prefix}.track_p50_ms"] = sorted(track_ms)[len(track_ms) // 2]
    progress(
        f"{prefix}: window p50 {results[f'{prefix}.total_p50_ms']:.1f} ms, hand tracking "
        f"{results[f'{prefix}.track_p50_ms']:.1f} ms/frame"
    )
    return results


def platform_defaults() -> Defaults:
    """The CPU defaults on a CPU, else the accelerator ones."""
    return CPU_DEFAULTS if jax.default_backend() == "cpu" else ACCELERATOR_DEFAULTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object last")
    parser.add_argument(
        "--only",
        choices=["train", "pipeline", "extract", "infer", "export", "browser"],
        default=None,
    )
    parser.add_argument(
        "--sizes", default=None, help="train: comma-separated sizes (CPU: base; else base,small)"
    )
    parser.add_argument("--batch", type=int, default=16, help="the batch of unsuffixed keys")
    parser.add_argument(
        "--batches", default=None, help="train: comma-separated batches (CPU: --batch; else 16,256)"
    )
    parser.add_argument("--dtypes", default="float32,bfloat16", help="compute dtypes")
    parser.add_argument(
        "--infer_sizes", default=None, help="infer: model sizes (CPU: tiny,base; else base)"
    )
    parser.add_argument("--export_size", default="base", help="export: the model size exported")
    parser.add_argument("--browser_size", default="base", help="browser: the model size served")
    parser.add_argument(
        "--exports",
        default=",".join(f"{fmt}:{dtype}" for fmt, dtype in EXPORTS),
        help="export: format:dtype,... (default: all seven)",
    )
    parser.add_argument("--frames", type=int, default=180)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--infer_repeats", type=int, default=50)
    parser.add_argument(
        "--matmul_size", type=int, default=None, help="of the peak matmul (CPU: 2048; else 8192)"
    )
    parser.add_argument(
        "--compile_workers",
        type=int,
        default=None,
        help="programs compiled at once (CPU: 1; else 4); compile_s then overlap",
    )
    parser.add_argument(
        "--compile_cache",
        default=compile_cache.default_directory(),
        help='persistent compilation cache folder; "" = off (cold compile times)',
    )
    args = parser.parse_args()
    cache_dir = compile_cache.enable(args.compile_cache)
    cache_counts = count_cache_hits()
    defaults = platform_defaults()
    workers = args.compile_workers or defaults.compile_workers
    dtypes = args.dtypes.split(",")

    device_kind = jax.devices()[0].device_kind
    results: dict[str, float | str | None] = {
        "device": device_kind,
        "platform": jax.default_backend(),
        "cpu": platform.processor() or platform.machine(),
        "jax": jax.__version__,
        "compile_cache": cache_dir or "off",
    }
    progress(f"{device_kind} ({jax.default_backend()}), compile cache: {cache_dir or 'off'}")
    if args.only in (None, "train"):
        size = args.matmul_size or defaults.matmul_size
        matmul_gflops = {dtype: measure_matmul_peak(dtype, size) for dtype in dtypes}
        published = None if jax.default_backend() == "cpu" else published_peak(device_kind)
        results["peak.matmul_size"] = size
        for dtype in dtypes:
            results[f"peak.{dtype}_gflops"] = matmul_gflops[dtype]
        results["peak.published.chip"] = published and published.chip
        results["peak.published.float32_means"] = published and published.float32_means
        for dtype in dtypes:
            results[f"peak.published.{dtype}_tflops"] = published and getattr(
                published, f"{dtype}_tflops"
            )
        measured = ", ".join(f"{d} {gflops:.0f}" for d, gflops in matmul_gflops.items())
        progress(f"matmul {size}^3 (GFLOP/s): {measured}; published peak: {published}")
        results.update(
            benchmark_train(
                (args.sizes or defaults.sizes).split(","),
                [int(b) for b in (args.batches or defaults.batches or str(args.batch)).split(",")],
                dtypes,
                args.batch,
                args.frames,
                args.steps,
                matmul_gflops,
                published,
                workers,
            )
        )
    if args.only in (None, "pipeline"):
        results.update(benchmark_pipeline(args.batch))
    if args.only in (None, "extract"):
        results.update(benchmark_extract())
    if args.only in (None, "infer"):
        infer_sizes = (args.infer_sizes or defaults.infer_sizes).split(",")
        results.update(benchmark_infer(infer_sizes, dtypes, args.infer_repeats, workers))
        window_key = f"infer.base.{INFER_STREAM_DECODER}.p50_ms"
        if window_key in results:
            results.update(benchmark_streaming_latency(results[window_key]))
    if args.only in (None, "export"):
        exports = [tuple(spec.split(":")) for spec in args.exports.split(",")]
        results.update(benchmark_export(args.export_size, args.infer_repeats, exports))
    if args.only in (None, "browser"):
        results.update(benchmark_browser(args.browser_size))
    results.update(cache_counts)
    width = max(len(k) for k in results)
    for key, value in results.items():
        shown = f"{value:.4g}" if isinstance(value, float) else value
        print(f"{key:<{width}}  {shown}")
    if args.json:
        print(json.dumps(results))


if __name__ == "__main__":
    main()
