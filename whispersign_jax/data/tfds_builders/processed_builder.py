"""The processed layout of DESIGN.md section 1 as a TFDS dataset."""

from __future__ import annotations

from pathlib import Path

from whispersign_jax.data.tfds_builders.keypoint_builder import SPLITS, KeypointBuilder
from whispersign_jax.vocab import Vocabulary


class WhispersignProcessed(KeypointBuilder):
    """Reads ``label_map.json`` and ``{train,val,test}/{features,labels}/*.npy``."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place a prepared folder (scripts/prepare_vsl_data.py --output_dir) in the manual "
        "folder: label_map.json and {train,val,test}/{features,labels}/sample_XXXXX.npy."
    )

    def read_splits(self, manual_dir):
        from whispersign_jax.data.sources import processed_candidates

        root = Path(manual_dir)
        vocabulary = Vocabulary.load(root / "label_map.json")
        return vocabulary, {split: processed_candidates(root, split) for split in SPLITS}
