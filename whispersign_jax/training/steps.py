"""The pure train step of a stage: ``train_step(state, batch) -> (state, metrics)``.

Validation's steps (the decoder and the teacher-forced losses) are the evaluator's
(``training/evaluator.py``), shared with the ``evaluate`` command.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from whispersign_jax.model import WhisperSign
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.training import losses, optim
from whispersign_jax.training.state import TrainState


def make_train_step(
    model: WhisperSign,
    stage_optimizer: optim.StageOptimizer,
    stage,
    label_smoothing: float,
    base_rng: jax.Array,
) -> Callable:
    """The train step of stage config ``stage`` (``config.stages.<name>``): the hybrid loss
    with its ``alpha`` (the decoder runs only when the loss uses it), dropout keyed by
    ``(base_rng, step)``, frozen parameters held still. A non-finite loss or gradient, or an
    update that would make a parameter non-finite, changes nothing but the step (the batch is
    consumed; ``metrics["nonfinite"]`` is 1)."""
    alpha = float(stage.alpha)
    num_glosses = model.config.num_glosses
    run_decoder = losses.uses_decoder(alpha)
    labels, optimizer = stage_optimizer.labels, stage_optimizer.optimizer

    def loss_fn(params, batch_stats, batch, rng):
        params = optim.freeze(params, labels)
        inputs, targets, target_mask = teacher_forcing(
            batch["labels"], batch["label_mask"], num_glosses
        )
        outputs, updates = model.apply(
            {"params": params, "batch_stats": batch_stats},
            batch["keypoints"],  # (batch, frames, joints, features)
            batch["frame_mask"],
            inputs if run_decoder else None,
            train=True,
            rngs={"dropout": rng},
            mutable=["batch_stats"],
        )
        loss, metrics = losses.hybrid_loss(
            outputs, batch["labels"], batch["label_mask"], targets, target_mask, alpha,
            label_smoothing=label_smoothing,
        )  # fmt: skip
        return loss, (metrics, updates["batch_stats"])

    def train_step(state: TrainState, batch) -> tuple[TrainState, dict[str, jax.Array]]:
        rng = jax.random.fold_in(base_rng, state.step)
        grad_fn = jax.value_and_grad(loss_fn, has_aux=True)
        (_, (metrics, batch_stats)), grads = grad_fn(state.params, state.batch_stats, batch, rng)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        if not stage.update_batch_norm:
            batch_stats = state.batch_stats
        grad_norm = optax.tree.norm(grads)
        finite = jnp.isfinite(metrics["loss/total"]) & jnp.isfinite(grad_norm)
        finite &= jnp.all(jnp.stack([jnp.isfinite(p).all() for p in jax.tree.leaves(params)]))
        keep = functools.partial(jax.tree.map, lambda new, old: jnp.where(finite, new, old))
        metrics = {**metrics, "grad_norm": grad_norm, "nonfinite": 1 - finite.astype(jnp.int32)}
        metrics["valid_frames"] = batch["frame_mask"].sum()
        new_state = state.replace(
            step=state.step + 1,
            params=keep(params, state.params),
            batch_stats=keep(batch_stats, state.batch_stats),
            opt_state=keep(opt_state, state.opt_state),
        )
        return new_state, metrics

    return train_step
