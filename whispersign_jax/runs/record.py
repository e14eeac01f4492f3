"""``CheckpointRecord``: what every checkpoint step stores beside its arrays (the JSON
``metadata`` item), written by training and read by resume, inference, export and serve.

One record type, one writer (``to_json``) and one reader (``from_json``), so the fields and
the defaults of records written before a field existed live here only.
"""

from __future__ import annotations

import dataclasses
import math
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

    def mismatch(
        self,
        model_config: dict[str, Any],
        label_map: dict[str, int],
        joint_set: str | None = None,
        preprocessing: dict[str, Any] | None = None,
    ) -> str | None:
        """Why this checkpoint cannot be the weights of a model with ``model_config`` and
        ``label_map`` (arrays of other shapes or glosses in other places), or of a run on
        ``joint_set`` with ``preprocessing`` (given), or None. Each difference names both
        sides. Fields that shape no stored array (``UNSTORED_FIELDS``: dtype, dropout) may
        differ; a field this record lacks (an older checkpoint: empty) is not compared."""
        differences = [
            _model_difference(self.model_config, model_config),
            _label_difference(self.label_map, label_map),
            _joint_set_difference(self.joint_set, joint_set),
            _preprocessing_difference(self.preprocessing, preprocessing),
        ]
        differences = [difference for difference in differences if difference]
        if not differences:
            return None
        (what, checkpoint, run), *others = differences
        more = "".join(f"; another {w}: checkpoint {c} vs this run {r}" for w, c, r in others)
        return (
            f"the checkpoint of stage {self.stage} at step {self.step} has another {what} than "
            f"this run: checkpoint {checkpoint} vs this run {run}{more}"
        )


class CheckpointMismatchError(ValueError):
    """A checkpoint that was trained with another model, label map, joint set or preprocessing
    than the run or the data it is used with: one line naming both sides."""


Difference = tuple[str, str, str] | None  # (what differs, the checkpoint's, the run's)


def _model_difference(checkpoint: dict[str, Any], run: dict[str, Any]) -> Difference:
    """Fields an older checkpoint lacks (added since, with their old behaviour as default)
    are not compared."""
    checkpoint, run = stored_fields(checkpoint), stored_fields(run)
    names = [name for name in sorted(checkpoint) if checkpoint[name] != run.get(name, "unset")]
    if not names:
        return None
    checkpoint_shown, run_shown = (
        ", ".join(f"{name}={fields.get(name, 'unset')}" for name in names)
        for fields in (checkpoint, run)
    )
    return "model config", checkpoint_shown, run_shown


def _label_difference(checkpoint: dict[str, int], run: dict[str, int]) -> Difference:
    if not checkpoint or checkpoint == run:
        return None
    return ("label map", *describe_label_maps(checkpoint, run))


def _joint_set_difference(checkpoint: str, run: str | None) -> Difference:
    if run is None or checkpoint == run:
        return None
    return "joint set", checkpoint, run


def _preprocessing_difference(
    checkpoint: dict[str, Any] | None, run: dict[str, Any] | None
) -> Difference:
    if not checkpoint or run is None or same_preprocessing(checkpoint, run):
        return None
    return "preprocessing", describe_preprocessing(checkpoint), describe_preprocessing(run)


def describe_label_maps(first: dict[str, int], second: dict[str, int]) -> tuple[str, str]:
    """Two label maps as ``[gloss, gloss, ...] (N glosses)`` in id order, with the first id
    at which they differ when the names shown are alike."""
    shown = [_gloss_list(first), _gloss_list(second)]
    if shown[0] != shown[1]:
        return shown[0], shown[1]
    names = [{i: name for name, i in labels.items()} for labels in (first, second)]
    ids = sorted(set(names[0]) | set(names[1]))
    differing = next((i for i in ids if names[0].get(i) != names[1].get(i)), None)
    if differing is None:
        return str(sorted(first.items())), str(sorted(second.items()))
    return (
        f"{shown[0]} with id {differing} {names[0].get(differing)!r}",
        f"{shown[1]} with id {differing} {names[1].get(differing)!r}",
    )


def _gloss_list(label_map: dict[str, int], limit: int = 6) -> str:
    glosses = [name for name, _ in sorted(label_map.items(), key=lambda item: item[1])]
    glosses = [name for name in glosses if label_map[name] != 0]  # not <blank>
    names = ", ".join(glosses[:limit]) + (", ..." if len(glosses) > limit else "")
    return f"[{names}] ({len(glosses)} glosses)"


def same_preprocessing(first: dict[str, Any], second: dict[str, Any]) -> bool:
    """Whether two ``Preprocessor.to_dict()`` agree; the statistics to a relative 1e-5 (their
    float sums may round differently on another CPU)."""
    if bool(first.get("normalize_hands")) != bool(second.get("normalize_hands")):
        return False
    for name in ("mean", "std"):
        values = first.get(name), second.get(name)
        if values[0] is None or values[1] is None:
            if values[0] is not values[1]:
                return False
        elif len(values[0]) != len(values[1]) or not all(
            math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9) for a, b in zip(*values, strict=True)
        ):
            return False
    return True


def describe_preprocessing(preprocessing: dict[str, Any]) -> str:
    hands = f"normalize_hands={bool(preprocessing.get('normalize_hands'))}"
    if preprocessing.get("mean") is None:
        return f"{hands}, no standardisation"
    mean = ", ".join(f"{value:.3g}" for value in preprocessing["mean"])
    return f"{hands}, standardised with mean [{mean}]"


def stored_fields(model_config: dict[str, Any]) -> dict[str, Any]:
    """The fields of a model config that shape its stored arrays."""
    return {k: v for k, v in model_config.items() if k not in UNSTORED_FIELDS}
