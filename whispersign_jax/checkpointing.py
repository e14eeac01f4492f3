"""Orbax checkpoints of one stage: the latest few for resume and the best by validation.

Layout: ``<stage_dir>/checkpoints/{latest,best}/<step>/{model,train,metadata}``: ``model``
holds ``params`` and ``batch_stats`` (what the next stage and inference read), ``train`` the
``step`` and optimizer state (what resuming reads), ``metadata`` is JSON: the model config,
the label map, the stage and its validation metrics, so that any checkpoint decodes to gloss
names on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import orbax.checkpoint as ocp


def abstract_like(tree):
    """Shapes, dtypes and shardings of ``tree``: the restore target (any device count).

    Leaves without a sharding (from ``jax.eval_shape``) restore onto this process's first
    device."""
    default = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def abstract(x):
        sharding = getattr(x, "sharding", None) or default
        return jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding)

    return jax.tree.map(abstract, tree)


@jax.jit
def _finite_leaves(tree) -> jax.Array:
    floats = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.isfinite(x).all() for x in floats]))


def all_finite(tree) -> bool:
    """True when every floating-point value of ``tree`` is finite (one jitted reduction)."""
    return bool(_finite_leaves(tree))


class StageCheckpoints:
    def __init__(self, stage_dir: str | Path, keep_latest: int = 2):
        root = Path(stage_dir).absolute() / "checkpoints"
        self.latest = self._manager(root / "latest", keep_latest)
        self.best = self._manager(root / "best", 1)

    @staticmethod
    def _manager(directory: Path, keep: int) -> ocp.CheckpointManager:
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(keep),
            create=True,
            # Multi-process saves meet at barriers named by step; ``latest`` and ``best`` save
            # the same step, so each manager's barriers carry its own folder.
            multiprocessing_options=ocp.options.MultiprocessingOptions(
                barrier_sync_key_prefix=str(directory)
            ),
        )
        return ocp.CheckpointManager(directory, options=options)

    @staticmethod
    def _save(manager, step: int, model_vars, train_vars, metadata: dict[str, Any]) -> None:
        if not all_finite((model_vars, train_vars)):
            raise FloatingPointError(
                f"Refusing to save step {step} to {manager.directory}: it holds NaN or infinite "
                "values (the train step skips non-finite updates, so this is a bug: please "
                "report it). The earlier checkpoints are intact."
            )
        manager.save(
            step,
            args=ocp.args.Composite(
                model=ocp.args.StandardSave(model_vars),
                train=ocp.args.StandardSave(train_vars),
                metadata=ocp.args.JsonSave(metadata),
            ),
            force=True,
        )

    def save_latest(self, step: int, model_vars, train_vars, metadata: dict[str, Any]) -> None:
        self._save(self.latest, step, model_vars, train_vars, metadata)

    def save_best(self, step: int, model_vars, train_vars, metadata: dict[str, Any]) -> None:
        """Waits for the write: a later latest checkpoint must never exist without the best
        one validated before it (a resume would not validate that step again)."""
        self._save(self.best, step, model_vars, train_vars, metadata)
        self.best.wait_until_finished()

    @staticmethod
    def restore(manager: ocp.CheckpointManager, model_target, train_target=None):
        """(model_vars, train_vars or None, metadata) of the newest step, or None if empty.

        Pass ``train_target=None`` to read only the model (a new stage, inference)."""
        step = manager.latest_step()
        if step is None:
            return None
        items = {
            "model": ocp.args.StandardRestore(abstract_like(model_target)),
            "metadata": ocp.args.JsonRestore(),
        }
        if train_target is not None:
            items["train"] = ocp.args.StandardRestore(abstract_like(train_target))
        restored = manager.restore(step, args=ocp.args.Composite(**items))
        train_vars = restored.train if train_target is not None else None
        return restored.model, train_vars, restored.metadata

    @staticmethod
    def metadata(manager: ocp.CheckpointManager) -> dict[str, Any] | None:
        step = manager.latest_step()
        if step is None:
            return None
        return manager.restore(
            step, args=ocp.args.Composite(metadata=ocp.args.JsonRestore())
        ).metadata

    def wait(self) -> None:
        self.latest.wait_until_finished()
        self.best.wait_until_finished()

    def close(self) -> None:
        self.latest.close()
        self.best.close()
