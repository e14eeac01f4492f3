"""The built-in synthetic sign data as a TFDS dataset (no manual download)."""

from __future__ import annotations

import dataclasses
from typing import ClassVar

from whispersign_jax.data import synthetic
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.tfds_builders.keypoint_builder import KeypointBuilder, KeypointsConfig
from whispersign_jax.vocab import Vocabulary


@dataclasses.dataclass
class SyntheticBuilderConfig(KeypointsConfig):  # hands: the generator makes hands only
    synthetic: synthetic.SyntheticConfig = dataclasses.field(
        default_factory=synthetic.SyntheticConfig
    )


class WhispersignSynthetic(KeypointBuilder):
    """``whispersign_synthetic/isolated`` (the demo's data) or ``/continuous``."""

    TIMED_SPANS = True  # the generator knows where each gloss is signed

    BUILDER_CONFIGS: ClassVar[list[SyntheticBuilderConfig]] = [
        SyntheticBuilderConfig(name="isolated", description="One gloss per clip."),
        SyntheticBuilderConfig(
            name="continuous",
            description="2-6 glosses per clip, with spans.",
            synthetic=synthetic.SyntheticConfig(mode="continuous"),
        ),
    ]

    def read_splits(self, manual_dir):
        config = self.builder_config.synthetic
        vocabulary = Vocabulary.from_names(synthetic.gloss_names(config))
        candidates = {split: _split_candidates(config, split) for split in SPLITS}
        return vocabulary, candidates


def _split_candidates(config: synthetic.SyntheticConfig, split: str):
    for index in range(synthetic.split_size(config, split)):
        yield f"synthetic {split} {index}", synthetic.generate_sample(config, split, index)
