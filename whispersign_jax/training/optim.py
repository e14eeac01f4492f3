"""Optimizer per stage: AdamW + warm-up cosine schedule + clipping, frozen params by path,
and optionally an exponential moving average of the weights.

A stage names what trains with regexes over parameter paths (``"frontend/.*"``); everything
else is frozen: ``set_to_zero`` updates, no optimizer state, no weight decay, and a
``stop_gradient`` so no gradient is computed for it. With ``ema_decay`` > 0 the optimizer
state also carries the average (``WeightAverage``), so it is checkpointed and resumed with
the rest; validation and the best checkpoint use it (``averaged_params``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

TRAINABLE, FROZEN = "trainable", "frozen"
DECAYED_LEAVES = ("kernel", "embedding")  # biases and norm scales/offsets are not decayed


def path_name(path) -> str:
    """'encoder/layers_0/self_attn/q_proj/kernel' for a pytree key path."""
    return "/".join(str(getattr(k, "key", getattr(k, "name", k))) for k in path)


def trainable_labels(params, trainable: Sequence[str]):
    """Pytree of ``"trainable"``/``"frozen"`` labels: a path is trainable if a regex matches."""
    patterns = [re.compile(p) for p in trainable]
    if not patterns:
        raise ValueError("A stage must train something: its `trainable` list is empty.")

    def label(path, _):
        name = path_name(path)
        return TRAINABLE if any(p.fullmatch(name) for p in patterns) else FROZEN

    labels = jax.tree_util.tree_map_with_path(label, params)
    if TRAINABLE not in jax.tree.leaves(labels):
        raise ValueError(f"No parameter path matches the stage's trainable patterns {trainable}.")
    return labels


def frozen_parts(labels) -> list[str]:
    """The top-level parts (``encoder``, ``decoder`` ...) that have a frozen parameter."""
    return sorted(
        {
            path_name(path[:1])
            for path, label in jax.tree_util.tree_leaves_with_path(labels)
            if label == FROZEN
        }
    )


def decay_mask(params):
    return jax.tree_util.tree_map_with_path(
        lambda path, _: path_name(path).rsplit("/", 1)[-1] in DECAYED_LEAVES, params
    )


def freeze(params, labels):
    """``stop_gradient`` on frozen leaves, so their gradients are never computed."""
    return jax.tree.map(
        lambda p, label: jax.lax.stop_gradient(p) if label == FROZEN else p, params, labels
    )


def learning_rate_schedule(lr: float, warmup_steps: int, total_steps: int) -> optax.Schedule:
    """Linear warm-up from 0 to ``lr``, then cosine decay to ``lr / 100`` at ``total_steps``.

    ``decay_steps`` of optax's schedule counts the warm-up too.
    """
    warmup_steps = min(warmup_steps, max(total_steps - 1, 0))
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=lr,
        warmup_steps=warmup_steps,
        decay_steps=max(total_steps, warmup_steps + 1),
        end_value=lr / 100,
    )


class WeightAverage(NamedTuple):
    """The optimizer state of ``average_weights``."""

    count: jax.Array  # () int32: updates averaged so far
    params: Any  # the average, shaped like the parameters


def average_weights(decay: float) -> optax.GradientTransformation:
    """Leaves the updates as they are and keeps an exponential moving average of the
    parameters they lead to. The decay warms up as ``min(decay, (1 + n) / (10 + n))`` after
    ``n`` updates, so that the average soon leaves the starting weights behind."""
    if not 0.0 < decay < 1.0:
        raise ValueError(f"ema_decay must lie in (0, 1), got {decay}.")

    def init(params):
        return WeightAverage(jnp.zeros((), jnp.int32), jax.tree.map(jnp.array, params))

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("average_weights needs the parameters: pass them to update().")
        rate = jnp.minimum(decay, (1.0 + state.count) / (10.0 + state.count))
        new_params = optax.apply_updates(params, updates)
        average = jax.tree.map(
            lambda a, p: (rate * a + (1.0 - rate) * p).astype(a.dtype), state.params, new_params
        )
        return updates, WeightAverage(state.count + 1, average)

    return optax.GradientTransformation(init, update)


def averaged_params(opt_state) -> Any | None:
    """The weight average in ``opt_state`` (``average_weights``), or None without one."""
    found = [
        node
        for node in jax.tree.leaves(opt_state, is_leaf=lambda n: isinstance(n, WeightAverage))
        if isinstance(node, WeightAverage)
    ]
    return found[0].params if found else None


def make_optimizer(
    labels, schedule: optax.Schedule, weight_decay: float, clip_norm: float, ema_decay: float = 0.0
) -> optax.GradientTransformation:
    """AdamW with global-norm clipping on the parameters labelled trainable; the frozen ones
    get zero updates (and no optimizer state). ``ema_decay`` > 0 adds ``average_weights``."""
    trainable = optax.chain(
        optax.clip_by_global_norm(clip_norm),
        optax.adamw(schedule, weight_decay=weight_decay, mask=decay_mask),
    )
    optimizer = optax.partition({TRAINABLE: trainable, FROZEN: optax.set_to_zero()}, labels)
    return optax.chain(optimizer, average_weights(ema_decay)) if ema_decay else optimizer


class StageOptimizer(NamedTuple):
    """One stage's optimiser: which parameters train, the learning rate by step, the update."""

    labels: Any  # TRAINABLE or FROZEN per parameter (trainable_labels)
    schedule: optax.Schedule
    optimizer: optax.GradientTransformation


def stage_optimizer(params, stage, total_steps: int, clip_norm: float) -> StageOptimizer:
    """The optimiser of a stage config (``config.stages.<name>``) over ``total_steps``;
    ``params`` may be abstract (shapes only)."""
    labels = trainable_labels(params, stage.trainable)
    schedule = learning_rate_schedule(stage.lr, stage.warmup_steps, total_steps)
    ema_decay = float(stage.get("ema_decay", 0.0))  # configs from before it: none
    optimizer = make_optimizer(labels, schedule, stage.weight_decay, clip_norm, ema_decay)
    return StageOptimizer(labels, schedule, optimizer)
