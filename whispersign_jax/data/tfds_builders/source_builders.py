"""One TFDS builder per raw source of ``whispersign_jax.data.prepare``, each reading the
TFDS manual-download folder and splitting by recording (no recording in two splits)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whispersign_jax.data.sample import Sample
from whispersign_jax.data.tfds_builders.keypoint_builder import SPLITS, KeypointBuilder
from whispersign_jax.vocab import Vocabulary

SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
SPLIT_SEED = 0
LABEL_CSV_NAMES = ("labels.csv", "label.csv")


def to_sample(source_sample, vocabulary: Vocabulary) -> Sample:
    """A prepare.SourceSample -> Sample; each gloss spans the whole clip (no timing)."""
    labels = np.array(vocabulary.ids(source_sample.glosses), np.int64)
    spans = np.tile([[0, len(source_sample.keypoints)]], (len(labels), 1)).astype(np.int64)
    return Sample(source_sample.keypoints, labels, spans, signer=-1)


def find_label_csv(manual_dir: Path) -> Path | None:
    return next((manual_dir / n for n in LABEL_CSV_NAMES if (manual_dir / n).is_file()), None)


class SourceBuilder(KeypointBuilder, skip_registration=True):
    SOURCE = ""
    NEEDS_LABEL_CSV = False

    def read_splits(self, manual_dir):
        from whispersign_jax.data.prepare import read_source, split_by_recording

        manual_dir = Path(manual_dir)
        label_csv = find_label_csv(manual_dir)
        if self.NEEDS_LABEL_CSV and label_csv is None:
            raise FileNotFoundError(
                f"{manual_dir}: {self.name} needs a CSV of video paths and labels named "
                f"{' or '.join(LABEL_CSV_NAMES)} in the manual folder."
            )
        options = {"label_csv": label_csv} if self.SOURCE in ("video", "pose") else {}
        result = read_source(self.SOURCE, manual_dir, **options)
        for origin, reason in result.failures:
            print(f"skipped {origin}: {reason}")
        if result.failures:
            print(f"{self.name}: {len(result.failures)} entries skipped (reasons above)")
        splits = split_by_recording(result.samples, SPLIT_FRACTIONS, SPLIT_SEED)
        names = sorted({name for sample in result.samples for name in sample.glosses})
        vocabulary = Vocabulary.from_names(names)
        candidates = {
            split: [(s.origin, to_sample(s, vocabulary)) for s in splits[split]] for split in SPLITS
        }
        return vocabulary, candidates


class VslKaggle(SourceBuilder):
    """Kaggle "VSL - Vietnamese Sign Languages": videos + label.csv (ID, VIDEO, LABEL)."""

    SOURCE = "kaggle"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the Kaggle dataset 'VSL - Vietnamese Sign Languages' and unpack it in the "
        "manual folder (videos/ + label.csv, or Dataset/Videos/ + Dataset/Labels/label.csv)."
    )


class VoyaVsl(SourceBuilder):
    """Hugging Face Kateht/VOYA_VSL: Merged/class_XXXX.npz + labels.json."""

    SOURCE = "huggingface"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download Kateht/VOYA_VSL from Hugging Face (`huggingface-cli download Kateht/VOYA_VSL "
        "--repo-type dataset --local-dir DIR`) and use DIR as the manual folder."
    )


class SignVideos(SourceBuilder):
    """A folder of videos with labels.csv (paths inside the folder, gloss labels)."""

    SOURCE = "video"
    NEEDS_LABEL_CSV = True
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the videos and a labels.csv (a video path and a label column) in the manual folder."
    )


class SignPoseFiles(SourceBuilder):
    """.pose files (pose-format), labelled by labels.csv or by their folder names."""

    SOURCE = "pose"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the .pose files (and optionally a labels.csv) in the manual folder."
    )


class MpData(SourceBuilder):
    """MP_Data folders of the MediaPipe Holistic tutorial: <gloss>/<sequence>/<frame>.npy."""

    SOURCE = "mp_data"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put the MP_Data folder (or its gloss folders) in the manual folder."
    )
