"""Where a stage starts: the resume order, in one function (``starting_state``)."""

from __future__ import annotations

import logging
from pathlib import Path

import jax

from whispersign_jax.model import init_variables
from whispersign_jax.runs.checkpointing import StageCheckpoints
from whispersign_jax.runs.record import CheckpointRecord
from whispersign_jax.training import optim
from whispersign_jax.training.plan import StagePlan
from whispersign_jax.training.state import (
    TrainState,
    abstract_sharded,
    create_train_state,
    restored_train_state,
    train_target,
)


def starting_state(plan: StagePlan, previous: str | None) -> tuple[TrainState, str]:
    """The state a stage starts from, and where it came from, in this order (big_vision's):

    1. the stage's own newest intact ``latest`` checkpoint: an exact resume (step, optimizer
       state; the RNG and the data position are functions of the step); newer steps that are
       damaged are moved to the folder's quarantine, so that training saves them again;
    2. else the best parameters of ``previous`` (the stage before it) in this workdir;
    3. else the best parameters of ``config.init_checkpoint`` (another workdir's stage);
    4. else Whisper's weights from ``config.pretrained``;
    5. else a fresh initialisation (seeded by ``config.seed``).

    2-5 start a fresh optimizer at step 0. A checkpoint of another model or label map is
    refused with both named (``CheckpointRecord.mismatch``), never loaded by accident."""
    target = plan.abstract_variables
    refuse_another_model(plan, plan.latest_record())
    refuse_other_data(plan, plan.latest_record())
    restored = StageCheckpoints.restore(
        plan.checkpoints.latest,
        abstract_sharded(target, plan.mesh),
        abstract_sharded(train_target(plan.optimizer.optimizer, target["params"]), plan.mesh),
        quarantine_damaged=True,
    )
    if restored is not None:
        model_vars, train_vars, _ = restored
        return restored_train_state(model_vars, train_vars), f"step {int(train_vars['step'])}"
    model_vars, description = starting_variables(plan, previous)
    return create_train_state(model_vars, plan.optimizer.optimizer, plan.mesh), description


def starting_variables(plan: StagePlan, previous: str | None) -> tuple[dict, str]:
    """Steps 2-5 of ``starting_state``: the variables a stage without a checkpoint of its own
    starts from, and a description of them."""
    sources = []
    if previous:
        sources.append((plan.dir.parent / previous, f"best of {previous}"))
    if plan.config.init_checkpoint:
        sources.append((Path(plan.config.init_checkpoint), plan.config.init_checkpoint))
    for stage_dir, description in sources:
        checkpoints = StageCheckpoints(stage_dir)
        try:
            refuse_another_model(plan, StageCheckpoints.record(checkpoints.best))
            target = abstract_sharded(plan.abstract_variables, plan.mesh)
            restored = StageCheckpoints.restore(checkpoints.best, target)
        finally:
            checkpoints.close()
        if restored is not None:
            return restored[0], description
    if previous:
        warn_previous_stage_missing(plan, previous)
    variables = init_variables(plan.model, jax.random.key(plan.config.seed))
    if plan.config.pretrained:
        from whispersign_jax.model import pretrained

        params, report = pretrained.load_whisper_weights(
            variables["params"], plan.model.config, plan.config.pretrained,
            plan.config.pretrained_revision,
        )  # fmt: skip
        logging.info("%s", report.summary())
        return {**variables, "params": params}, f"Whisper {plan.config.pretrained}"
    warn_frozen_random_parts(plan)
    return variables, "fresh initialisation"


def refuse_another_model(plan: StagePlan, record: CheckpointRecord | None) -> None:
    """A ValueError naming both sides when the checkpoints of ``record`` hold another model or
    label map than this run's (every step of a folder holds the same)."""
    if record is None:
        return
    mismatch = record.mismatch(plan.model.config.to_dict(), plan.vocabulary.label_map())
    if mismatch:
        raise ValueError(
            f"{plan.name}: {mismatch}. Train in a new --workdir, or start from a checkpoint of "
            "this model and dataset."
        )


def refuse_other_data(plan: StagePlan, record: CheckpointRecord | None) -> None:
    """A ValueError when the stage's checkpoint was trained on another train split (its clip
    index differs): the batches from its step on would not be the ones it would have seen.
    Records written before fingerprints existed are not checked."""
    if record is None or record.data_fingerprint in (None, plan.data_fingerprint):
        return
    raise ValueError(
        f"{plan.name}: the checkpoint at step {record.step} was trained on another train split "
        f"(clip index {record.data_fingerprint[:12]} vs this run's {plan.data_fingerprint[:12]}"
        "): resuming would not give the batches it would have seen. Point config.data back at "
        "the data it trained on, or train in a new --workdir."
    )


def warn_previous_stage_missing(plan: StagePlan, previous: str) -> None:
    logging.warning(
        "%s: %s has no best checkpoint of %s, so this stage does NOT start from its result. "
        "Run %s first with the same --workdir (e.g. --config=configs/%s.py), or pass "
        "--config.init_checkpoint=<other workdir>/%s.",
        plan.name, plan.dir.parent, previous, previous, previous, previous,
    )  # fmt: skip


def warn_frozen_random_parts(plan: StagePlan) -> None:
    frozen = optim.frozen_parts(plan.optimizer.labels)
    if frozen:
        logging.warning(
            "%s freezes %s, which start from a random initialisation and so stay random. "
            "Pass --config.pretrained=openai/whisper-base (or a local Whisper folder), "
            "--config.init_checkpoint=<workdir>/<stage>, or train them with "
            "--config.stages.%s.trainable.",
            plan.name, ", ".join(frozen), plan.name,
        )  # fmt: skip
