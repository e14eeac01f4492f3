"""A trained workdir as a usable model: config, vocabulary, best variables of a stage."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path
from typing import Any

import jax
import ml_collections

from whispersign_jax.checkpointing import StageCheckpoints
from whispersign_jax.model import ModelConfig, WhisperSign, init_variables
from whispersign_jax.vocab import Vocabulary

CONFIG_FILE = "config.json"


@dataclasses.dataclass
class TrainedModel:
    model: WhisperSign
    variables: dict[str, Any]
    vocabulary: Vocabulary
    config: ml_collections.ConfigDict
    stage: str
    step: int
    metrics: dict[str, Any]


def read_config(workdir: Path) -> ml_collections.ConfigDict:
    path = workdir / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: {workdir} is not a training workdir (run "
            "`python -m whispersign_jax.main --config=... --workdir=...` first)."
        )
    return ml_collections.ConfigDict(json.loads(path.read_text()))


def load_trained(workdir: str | Path, stage: str | None = None) -> TrainedModel:
    """The best checkpoint of ``stage``, by default the last stage that has one."""
    workdir = Path(workdir)
    config = read_config(workdir)
    candidates = [stage] if stage else list(reversed(config.run_stages))
    for name in candidates:
        checkpoints = StageCheckpoints(workdir / name)
        metadata = StageCheckpoints.metadata(checkpoints.best)
        if metadata is None:
            continue
        model = WhisperSign(ModelConfig.from_dict(metadata["model_config"]))
        target = jax.eval_shape(functools.partial(init_variables, model), jax.random.key(0))
        variables, _, metadata = StageCheckpoints.restore(checkpoints.best, target)
        checkpoints.close()
        return TrainedModel(
            model=model,
            variables=variables,
            vocabulary=Vocabulary.from_label_map(metadata["label_map"]),
            config=config,
            stage=name,
            step=int(metadata["step"]),
            metrics=metadata.get("metrics", {}),
        )
    raise FileNotFoundError(
        f"No best checkpoint for {candidates} under {workdir}: train first, or pass --stage."
    )
