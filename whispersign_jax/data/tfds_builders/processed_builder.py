"""The processed layout (``whispersign_jax.data.processed``) as a TFDS dataset."""

from __future__ import annotations

from whispersign_jax.data import processed
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.tfds_builders.keypoint_builder import KeypointBuilder
from whispersign_jax.vocab import LABEL_MAP_FILE


class WhispersignProcessed(KeypointBuilder):
    """A folder written by ``scripts/prepare_vsl_data.py``."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place a prepared folder (scripts/prepare_vsl_data.py --output_dir) in the manual "
        f"folder: {LABEL_MAP_FILE} and {{train,val,test}}/{{features,labels}}/sample_XXXXX.npy."
    )

    def read_splits(self, manual_dir):
        vocabulary = processed.load_vocabulary(manual_dir)
        return vocabulary, {split: processed.read_candidates(manual_dir, split) for split in SPLITS}
