"""The processed layout (``whispersign_jax.data.processed``) as a TFDS dataset."""

from __future__ import annotations

from typing import ClassVar

from whispersign_jax import keypoints as kp
from whispersign_jax.data import processed
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.tfds_builders.keypoint_builder import (
    KeypointBuilder,
    KeypointsConfig,
    joint_set_configs,
)
from whispersign_jax.vocab import LABEL_MAP_FILE


class WhispersignProcessed(KeypointBuilder):
    """A folder written by ``scripts/prepare_vsl_data.py``; the config names its joint set
    (``whispersign_processed/hands_pose_lips``; default hands)."""

    BUILDER_CONFIGS: ClassVar[list[KeypointsConfig]] = joint_set_configs(tuple(kp.JOINT_SETS))

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place a prepared folder (scripts/prepare_vsl_data.py --output_dir) in the manual "
        f"folder: {LABEL_MAP_FILE} and {{train,val,test}}/{{features,labels}}/sample_XXXXX.npy."
    )

    def read_splits(self, manual_dir):
        found = processed.read_joint_set(manual_dir)
        if found != self.keypoints:
            raise ValueError(
                f"{manual_dir} holds {kp.joint_set(found).describe()} keypoints: build "
                f"whispersign_processed/{found}, not {self.name}/{self.keypoints}."
            )
        vocabulary = processed.load_vocabulary(manual_dir)
        return vocabulary, {split: processed.read_candidates(manual_dir, split) for split in SPLITS}
