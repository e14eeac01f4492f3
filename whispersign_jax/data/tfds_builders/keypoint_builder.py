"""The base of every builder: one feature layout per joint set, the label map and the joint
set stored in the dataset's metadata, bad samples reported and skipped."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from typing import ClassVar

import numpy as np
import tensorflow_datasets as tfds

from whispersign_jax import keypoints as kp
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.validation import Candidates, valid_pairs
from whispersign_jax.vocab import Vocabulary


@dataclasses.dataclass
class KeypointsConfig(tfds.core.BuilderConfig):
    """A builder config that fixes the dataset's joint set (``config.data.keypoints``)."""

    keypoints: str = kp.DEFAULT_JOINT_SET


def joint_set_configs(names: tuple[str, ...]) -> list[KeypointsConfig]:
    """One config per joint set, named after it (``mp_data/hands_pose_lips``); the first one
    is the builder's default."""
    return [
        KeypointsConfig(
            name=name, description=f"{kp.joint_set(name).describe()} keypoints.", keypoints=name
        )
        for name in names
    ]


def features(num_joints: int = kp.NUM_JOINTS) -> tfds.features.FeaturesDict:
    return tfds.features.FeaturesDict(
        {
            "keypoints": tfds.features.Tensor(
                shape=(None, num_joints, kp.NUM_FEATURES), dtype=np.float32
            ),  # (frames, joints, 7), docs/design.md "Data contract"
            "labels": tfds.features.Tensor(shape=(None,), dtype=np.int64),  # gloss ids 1..N
            "spans": tfds.features.Tensor(shape=(None, 2), dtype=np.int64),  # [start, end)
            "signer": tfds.features.Scalar(dtype=np.int32),  # -1: unknown
            "origin": tfds.features.Text(),  # file or entry the sample came from
        }
    )


class KeypointBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Subclasses implement ``read_splits(manual_dir)``: the vocabulary and, per split,
    ``(origin, Sample)`` candidates; invalid ones are skipped with a logged reason."""

    # Whether the stored spans are measured gloss timing (Sample.timed); False: each gloss
    # is given the whole clip. A property of the builder, so datasets need no rebuild.
    TIMED_SPANS: ClassVar[bool] = False
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES: ClassVar[dict[str, str]] = {
        "1.0.0": "First release.",
        "1.1.0": "Joint sets: one builder config per set, the set in the metadata.",
    }

    @property
    def keypoints(self) -> str:
        """The dataset's joint set: its config's (``KeypointsConfig``), else hands."""
        return kp.recorded_joint_set(getattr(self.builder_config, "keypoints", None))

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=features(kp.joint_set(self.keypoints).num_joints),
            metadata=tfds.core.MetadataDict(),
            disable_shuffling=True,  # keep the source order: splits are reproducible
        )

    def read_splits(self, manual_dir) -> tuple[Vocabulary, dict[str, Candidates]]:
        raise NotImplementedError

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = dl_manager.manual_dir if self.MANUAL_DOWNLOAD_INSTRUCTIONS else None
        vocabulary, candidates = self.read_splits(manual_dir)
        splits = {
            name: valid_pairs(candidates[name], vocabulary, name, self.keypoints) for name in SPLITS
        }
        if not splits["train"]:
            raise ValueError(f"{self.name}: the train split has no valid sample.")
        self.info.metadata["label_map"] = vocabulary.label_map()  # read by reading.py
        self.info.metadata["keypoints"] = self.keypoints
        logging.info("%s: %s", self.name, {name: len(s) for name, s in splits.items()})
        return {name: self._generate_examples(samples) for name, samples in splits.items()}

    def _generate_examples(self, samples: list[tuple[str, Sample]]) -> Iterator[tuple[int, dict]]:
        for index, (origin, sample) in enumerate(samples):
            yield index, to_example(sample, origin)


def to_example(sample: Sample, origin: str) -> dict:
    return {
        "keypoints": sample.keypoints.astype(np.float32),
        "labels": np.asarray(sample.labels, np.int64),
        "spans": np.asarray(sample.spans, np.int64).reshape(-1, 2),
        "signer": np.int32(sample.signer),
        "origin": origin,
    }
