"""``CheckpointRecord``: what every checkpoint step stores beside its arrays (the JSON
``metadata`` item), written by training and read by resume, inference, export and serve.

One record type, one writer (``to_json``) and one reader (``from_json``), so the fields and
the defaults of records written before a field existed live here only.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from whispersign_jax.keypoints import DEFAULT_JOINT_SET, recorded_joint_set
from whispersign_jax.model.config import UNSTORED_FIELDS


@dataclasses.dataclass(frozen=True)
class CheckpointRecord:
    stage: str
    step: int
    model_config: dict[str, Any]  # ModelConfig.to_dict()
    label_map: dict[str, int]  # Vocabulary.label_map()
    preprocessing: dict[str, Any]  # Preprocessor.to_dict()
    total_steps: int = 0
    joint_set: str = DEFAULT_JOINT_SET  # keypoints.JOINT_SETS (config.data.keypoints)
    metrics: dict[str, Any] = dataclasses.field(default_factory=dict)  # validation at this step
    early_stopping: dict[str, Any] | None = None  # budget.EarlyStopping.state()
    stopped_early: bool = False
    fingerprints: dict[str, Any] | None = None  # checkpointing.fingerprints of each item
    data_fingerprint: str | None = None  # ClipIndex.fingerprint() of the train split

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> CheckpointRecord:
        """A record from a checkpoint's metadata; fields a record of this version does not
        know are ignored, fields an older record lacks take their defaults."""
        known = {field.name for field in dataclasses.fields(cls)}
        record = cls(**{name: value for name, value in values.items() if name in known})
        return dataclasses.replace(record, joint_set=recorded_joint_set(values.get("joint_set")))

    def mismatch(self, model_config: dict[str, Any], label_map: dict[str, int]) -> str | None:
        """Why this checkpoint cannot be the weights of a model with ``model_config`` and
        ``label_map`` (arrays of other shapes or glosses in other places), or None. Fields that
        shape no stored array (``UNSTORED_FIELDS``: dtype, dropout) may differ."""
        ours = {"model config": stored_fields(model_config), "label map": label_map}
        theirs = {"model config": stored_fields(self.model_config), "label map": self.label_map}
        for what, value in ours.items():
            if theirs[what] != value:
                return (
                    f"the checkpoint of stage {self.stage} at step {self.step} has another {what} "
                    f"than this run: checkpoint {theirs[what]} vs this run {value}"
                )
        return None


def stored_fields(model_config: dict[str, Any]) -> dict[str, Any]:
    """The fields of a model config that shape its stored arrays."""
    return {k: v for k, v in model_config.items() if k not in UNSTORED_FIELDS}
