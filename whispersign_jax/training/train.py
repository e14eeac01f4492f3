"""Three-stage training: ``train_and_evaluate(config, workdir)`` runs ``config.run_stages``.

Each stage has its own folder in the workdir with Orbax checkpoints and TensorBoard events;
``loop.train_stage`` trains one, from where ``resume.starting_state`` says it starts.
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path
from typing import Any

import jax
import ml_collections

from whispersign_jax import storage
from whispersign_jax.cli import strict_json
from whispersign_jax.data.sources import fit_preprocessor, load_splits
from whispersign_jax.keypoints import joint_set
from whispersign_jax.model import ModelConfig, WhisperSign
from whispersign_jax.model.config import SIZE_FIELDS
from whispersign_jax.runs.workdir import CONFIG_FILE, WorkdirLock, check_config, flatten
from whispersign_jax.training import distributed, sharding
from whispersign_jax.training.actions import BEST_METRICS
from whispersign_jax.training.loop import train_stage
from whispersign_jax.training.plan import StagePlan, refuse_other_workdir_checkpoints
from whispersign_jax.training.stop_signals import StopSignals


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict[str, Any]:
    """Runs every stage of ``config.run_stages``; returns each stage's best validation.

    Holds the workdir's lock throughout; SIGTERM / SIGINT end it with a saved checkpoint and
    ``stop_signals.TrainingStoppedError``."""
    if config.best_metric not in BEST_METRICS:
        raise ValueError(
            f"config.best_metric={config.best_metric!r}; choose one of {sorted(BEST_METRICS)}."
        )
    workdir = storage.path(workdir)
    main = distributed.is_main_process()
    lock = WorkdirLock(workdir) if main else contextlib.nullcontext()
    with lock, StopSignals(install=jax.process_count() == 1) as stop:
        check_config(workdir, config_json(config))
        vocabulary, splits = load_splits(config.data)
        logging.info("data: %s", {name: len(samples) for name, samples in splits.items()})
        preprocessor = fit_preprocessor(config.data, splits["train"])
        model = WhisperSign(build_model_config(config, vocabulary.num_glosses))
        # The checkpoints' own records, before config.json (which may be missing) is written.
        refuse_other_workdir_checkpoints(config, workdir, model.config, vocabulary, preprocessor)
        if main:
            save_config(config, workdir)
        mesh = sharding.make_mesh(config.mesh.data, config.mesh.fsdp)
        check_batch_sizes(config, mesh.size)
        results = {}
        for name, previous in stage_sequence(config):
            plan = StagePlan(config, name, workdir, model, vocabulary, splits, mesh, preprocessor)
            try:
                results[name] = train_stage(plan, previous, stop)
            finally:
                plan.close()
        if main:
            # strict JSON: a metric that is not finite (never a best's) would be null
            (workdir / "results.json").write_text(strict_json.dumps(results, indent=1))
    return results


def build_model_config(config: ml_collections.ConfigDict, num_glosses: int) -> ModelConfig:
    """``config.model`` -> ModelConfig; ``config.pretrained`` fixes the sizes to its own; the
    input's joint count is that of ``config.data.keypoints``."""
    settings = {**config.model, "num_joints": joint_set(config.data.keypoints).num_joints}
    if not config.pretrained:
        return ModelConfig.from_settings(settings, num_glosses)
    from whispersign_jax.model import pretrained

    other = {k: v for k, v in settings.items() if k != "size" and k not in SIZE_FIELDS}
    revision = config.pretrained_revision
    return pretrained.whisper_model_config(config.pretrained, num_glosses, revision, **other)


def save_config(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """The run's config; the label map and preprocessing travel in every checkpoint."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / CONFIG_FILE).write_text(config_json(config, indent=1))


def config_json(config: ml_collections.ConfigDict, **kwargs) -> str:
    """The config as strict JSON; a ValueError naming any setting that is not finite."""
    flat = flatten(config.to_dict())
    bad = [f"config.{name}={value}" for name, value in flat.items()
           if isinstance(value, float) and not math.isfinite(value)]  # fmt: skip
    if bad:
        raise ValueError(f"{', '.join(bad)}: every setting must be a finite number.")
    return config.to_json_best_effort(allow_nan=False, **kwargs)


def stage_sequence(config: ml_collections.ConfigDict) -> list[tuple[str, str | None]]:
    """``(stage, the stage before it in config.stage_order or None)`` for each of
    ``config.run_stages``; a clear error for a stage that is not configured or out of order."""
    order = tuple(config.stage_order)
    unknown = [name for name in (*order, *config.run_stages) if name not in config.stages]
    if unknown or not set(config.run_stages) <= set(order):
        raise ValueError(
            f"config.run_stages {tuple(config.run_stages)} and config.stage_order {order} "
            f"must name stages of config.stages {tuple(config.stages)}; unknown: {unknown}."
        )
    positions = [order.index(name) for name in config.run_stages]
    if positions != sorted(positions):
        raise ValueError(
            f"config.run_stages {tuple(config.run_stages)} must follow config.stage_order {order}."
        )
    return [(order[i], order[i - 1] if i else None) for i in positions]


def check_batch_sizes(config: ml_collections.ConfigDict, num_devices: int) -> None:
    """Every batch size of the run splits over the mesh's devices
    (``sharding.check_batch_size``), checked at start rather than at a stage's first step."""
    sizes = {f"config.stages.{name}.batch_size": config.stages[name].batch_size
             for name in config.run_stages}  # fmt: skip
    sizes["config.data.eval_batch_size"] = config.data.eval_batch_size
    for setting, size in sizes.items():
        sharding.check_batch_size(size, num_devices, setting)
