"""Memory per device of the training state, per Whisper size and mesh, from the real shapes.

    python scripts/memory_table.py [--glosses 100] [--fsdp 1,2,4,8] [--activations]

The training state is the float32 parameters, their gradients and AdamW's two moments (four
copies of every trainable parameter; stage 2 trains everything) plus the BatchNorm
statistics. Parameter shapes come from ``jax.eval_shape`` of the real model (nothing is
allocated), and each array is placed as training places it (``sharding.fsdp_axis``): split
over ``fsdp`` on its largest divisible axis, or replicated when it is small or nothing
divides. ``--activations``
adds XLA's own count of the temporary memory of one compiled stage-2 train step at batch 16
x 180 frames on this CPU (one device), for the sizes up to ``base``: XLA on a GPU or TPU
plans memory differently, so read it as an order of magnitude.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import jax
import numpy as np

from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.model.config import WHISPER_PRESETS
from whispersign_jax.training.sharding import fsdp_axis

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository's configs/
STATE_COPIES = 4  # parameters, gradients, AdamW mu and nu (float32 each)
GIB = 2**30


def sharded_elements(shape: tuple[int, ...], fsdp: int) -> int:
    """Elements one device holds of an array of ``shape`` (``sharding.fsdp_axis`` decides)."""
    size = int(np.prod(shape))
    return size if fsdp_axis(shape, fsdp) is None else size // fsdp


def state_gib_per_device(size: str, glosses: int, fsdp: int) -> tuple[int, float]:
    """(parameter count, GiB of training state on one device)."""
    model = WhisperSign(ModelConfig.preset(size, glosses))
    shapes = jax.eval_shape(functools.partial(init_variables, model), jax.random.key(0))
    params = jax.tree.leaves(shapes["params"])
    count = sum(int(np.prod(p.shape)) for p in params)
    per_device = sum(sharded_elements(tuple(p.shape), fsdp) for p in params) * STATE_COPIES
    per_device += sum(int(np.prod(s.shape)) for s in jax.tree.leaves(shapes["batch_stats"]))
    return count, per_device * 4 / GIB


def step_temp_gib(size: str, glosses: int) -> float:
    """XLA's temporary memory of one compiled stage-2 train step on this CPU, batch 16 x 180."""
    from configs import default
    from whispersign_jax.training import optim
    from whispersign_jax.training.state import TrainState
    from whispersign_jax.training.steps import make_train_step

    config = default.get_config()
    config.model.size = size
    model = WhisperSign(ModelConfig.preset(size, glosses))
    variables = init_variables(model, jax.random.key(0))
    stage = config.stages.stage2
    stage_optimizer = optim.stage_optimizer(variables["params"], stage, 1000, config.clip_norm)
    state = TrainState(
        jax.numpy.zeros((), jax.numpy.int32),
        variables["params"],
        variables["batch_stats"],
        stage_optimizer.optimizer.init(variables["params"]),
    )
    batch = {
        "keypoints": np.zeros((16, 180, 42, 7), np.float32),  # (batch, frames, joints, features)
        "frame_mask": np.ones((16, 180), bool),
        "labels": np.ones((16, config.data.max_labels), np.int32),
        "label_mask": np.ones((16, config.data.max_labels), bool),
    }
    step = make_train_step(model, stage_optimizer, stage, config.label_smoothing, jax.random.key(1))
    analysis = jax.jit(step).lower(state, batch).compile().memory_analysis()
    return analysis.temp_size_in_bytes / GIB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glosses", type=int, default=100, help="vocabulary size N")
    parser.add_argument("--fsdp", default="1,2,4,8", help="fsdp degrees to tabulate")
    parser.add_argument("--activations", action="store_true", help="add XLA's step memory")
    args = parser.parse_args()
    degrees = [int(d) for d in args.fsdp.split(",")]
    header = ["size", "parameters", *(f"fsdp={d}" for d in degrees)]
    if args.activations:
        header.append("step temp, 16 x 180 (CPU)")
    print("| " + " | ".join(header) + " |")
    print("|" + " --- |" * len(header))
    for size in WHISPER_PRESETS:
        gib = [state_gib_per_device(size, args.glosses, d) for d in degrees]
        row = [size, f"{gib[0][0] / 1e6:.1f} M", *(f"{g:.2f} GiB" for _, g in gib)]
        if args.activations:
            small = size in ("tiny", "base")
            row.append(f"{step_temp_gib(size, args.glosses):.2f} GiB" if small else "-")
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
