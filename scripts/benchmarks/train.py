"""The train suite (``--only train``): one stage-2 train step per size, batch and dtype.

``train.<size>[.b<batch>][.bfloat16].*``: one step of stage 2 as ``configs/stage2.py`` sets
it (its ``alpha`` of the hybrid loss, ``trainable`` parameters, AdamW's learning rate,
warm-up and weight decay, ``clip_norm``, ``label_smoothing``; ``train_step``) on the model of
``models.model_config``, at batch 16 (``.b<batch>`` for another batch) x 180 frames (one
3 s window at 60 FPS), float32 (``.bfloat16``: bfloat16 compute):

- ``params_m``: parameters, millions;
- ``compile_s``: compile time of the step program alone (parameters are initialised once per
  size, on the host CPU);
- ``step_ms`` (median of ``--steps``, after one warm-up step) and ``frames_per_s``;
- ``gflops_per_step``: analytic matmul FLOPs (``train_step_flops``);
- ``mfu``: those FLOPs / step time / the matmul peak measured in the same run for the same
  precision (``peaks``); ``mfu_published``: the same against the chip's published dense
  peak (None for a chip not in ``peaks.PUBLISHED_PEAKS``, and on CPUs).

``train.compile_wall_s`` (accelerators, or ``--compile_workers`` > 1): wall time of lowering
and compiling every program, ``workers`` at a time.
"""

from __future__ import annotations

import concurrent.futures
import functools
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.common import progress, stage_config
from benchmarks.models import NUM_GLOSSES, model_config, random_variables
from benchmarks.peaks import PublishedPeak
from whispersign_jax.keypoints import NUM_FEATURES
from whispersign_jax.model import ModelConfig, WhisperSign
from whispersign_jax.training import optim
from whispersign_jax.training.state import TrainState
from whispersign_jax.training.steps import make_train_step
from whispersign_jax.vocab import decoder_size

STAGE = "stage2"  # all parameters trainable, hybrid loss
SCHEDULE_STEPS = 10_000  # the stage length the learning-rate schedule spans
LABEL_LENGTH = 4  # glosses per sample


def train_step_flops(config: ModelConfig, batch: int, frames: int, tokens: int) -> float:
    """Matmul FLOPs of forward + backward (3x forward) of the hybrid train step."""
    d, f = config.d_model, config.ffn_dim
    positions = config.num_patches(frames)
    patch_in = config.patch_size * config.num_joints * NUM_FEATURES
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
def train_setup(size: str) -> tuple[optim.StageOptimizer, TrainState]:
    """The stage's optimizer for ``size`` and its initial state, on the host."""
    config, stage = stage_config(STAGE)
    variables = random_variables(size)
    stage_optimizer = optim.stage_optimizer(
        variables["params"], stage, SCHEDULE_STEPS, config.clip_norm
    )
    with jax.default_device(jax.devices("cpu")[0]):
        opt_state = jax.device_get(stage_optimizer.optimizer.init(variables["params"]))
    state = TrainState(
        np.zeros((), np.int32), variables["params"], variables["batch_stats"], opt_state
    )
    return stage_optimizer, state


def batch_shapes(batch: int, frames: int, joints: int) -> dict[str, jax.ShapeDtypeStruct]:
    """Shapes and dtypes of one training batch."""
    return {
        "keypoints": jax.ShapeDtypeStruct((batch, frames, joints, NUM_FEATURES), jnp.float32),
        "frame_mask": jax.ShapeDtypeStruct((batch, frames), jnp.bool_),
        "labels": jax.ShapeDtypeStruct((batch, LABEL_LENGTH), jnp.int32),
        "label_mask": jax.ShapeDtypeStruct((batch, LABEL_LENGTH), jnp.bool_),
    }


def random_batch(batch: int, frames: int, joints: int) -> dict[str, np.ndarray]:
    """A training batch of random keypoints and glosses, every frame and label valid."""
    rng = np.random.default_rng(0)
    return {
        "keypoints": rng.normal(size=(batch, frames, joints, NUM_FEATURES)).astype(np.float32),
        "frame_mask": np.ones((batch, frames), bool),
        "labels": rng.integers(1, NUM_GLOSSES + 1, (batch, LABEL_LENGTH), np.int32),
        "label_mask": np.ones((batch, LABEL_LENGTH), bool),
    }


@dataclass
class TrainProgram:
    """One train step program: a size, batch and compute dtype."""

    size: str
    batch: int
    dtype: str
    prefix: str
    compiled: Callable | None = None
    compile_s: float = 0.0

    @property
    def model_config(self) -> ModelConfig:
        return model_config(self.size, self.dtype)

    def lower(self, frames: int) -> jax.stages.Lowered:
        config, stage = stage_config(STAGE)
        stage_optimizer, state = train_setup(self.size)
        step = make_train_step(
            WhisperSign(self.model_config),
            stage_optimizer,
            stage,
            config.label_smoothing,
            jax.random.key(1),
        )
        shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), state)
        batch = batch_shapes(self.batch, frames, self.model_config.num_joints)
        return jax.jit(step, donate_argnums=0).lower(shapes, batch)

    def compile(self, lowered: jax.stages.Lowered) -> TrainProgram:
        start = time.perf_counter()
        self.compiled = lowered.compile()
        self.compile_s = time.perf_counter() - start
        return self


def time_train_program(
    program: TrainProgram,
    frames: int,
    steps: int,
    matmul_gflops: dict[str, float],
    published: PublishedPeak | None,
) -> dict[str, float | None]:
    """Runs a compiled step ``steps`` times after one warm-up step; its keys."""
    config = program.model_config
    # fresh device buffers (never views of the cached host arrays): the step donates them
    state = jax.device_put(train_setup(program.size)[1], may_alias=False)
    batch = jax.device_put(random_batch(program.batch, frames, config.num_joints))
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
    params = train_setup(program.size)[1].params
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


def train_programs(
    sizes: list[str], batches: list[int], dtypes: list[str], reference_batch: int
) -> list[TrainProgram]:
    """One program per (size, batch, dtype); keys name the batch unless it is the reference
    one, and the dtype unless it is float32."""
    programs = []
    for size in sizes:
        for batch in batches:
            for dtype in dtypes:
                prefix = f"train.{size}" + (f".b{batch}" if batch != reference_batch else "")
                prefix += "" if dtype == "float32" else f".{dtype}"
                programs.append(TrainProgram(size, batch, dtype, prefix))
    return programs


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
    programs = train_programs(sizes, batches, dtypes, reference_batch)
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
