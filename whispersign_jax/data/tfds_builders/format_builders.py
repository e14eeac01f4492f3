"""One TFDS builder per raw dataset format of ``whispersign_jax.data.prepare.formats``, each
reading the TFDS manual-download folder and splitting by recording (no recording in two
splits), with one config per joint set the format provides (``mp_data/hands_pose``; the
default is hands). The builders are generated from the formats table; add a format there."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.prepare import formats
from whispersign_jax.data.sample import Sample, untimed_sample
from whispersign_jax.data.tfds_builders.keypoint_builder import KeypointBuilder, joint_set_configs
from whispersign_jax.vocab import Vocabulary

LABEL_CSV_NAMES = ("labels.csv", "label.csv")


def to_sample(source_sample, vocabulary: Vocabulary) -> Sample:
    """A prepare.SourceSample -> Sample; each gloss spans the whole clip (untimed)."""
    labels = np.array(vocabulary.ids(source_sample.glosses), np.int64)  # (L,)
    return untimed_sample(source_sample.keypoints, labels)


def find_label_csv(manual_dir: Path) -> Path | None:
    return next((manual_dir / n for n in LABEL_CSV_NAMES if (manual_dir / n).is_file()), None)


class FormatBuilder(KeypointBuilder, skip_registration=True):
    """Reads ``FORMAT`` (a ``formats.DatasetFormat``) with its default options."""

    FORMAT: formats.DatasetFormat

    def read_splits(self, manual_dir):
        from whispersign_jax.data.prepare import split_by_recording

        manual_dir = Path(manual_dir)
        label_csv = find_label_csv(manual_dir)
        if self.FORMAT.needs_label_csv and label_csv is None:
            raise FileNotFoundError(
                f"{manual_dir}: {self.name} needs a CSV of video paths and labels named "
                f"{' or '.join(LABEL_CSV_NAMES)} in the manual folder."
            )
        options = {"label_csv": label_csv} if "label_csv" in self.FORMAT.options else {}
        result = self.FORMAT.read(manual_dir, keypoints=self.keypoints, **options)
        for origin, reason in result.failures:
            print(f"skipped {origin}: {reason}")
        if result.failures:
            print(f"{self.name}: {len(result.failures)} entries skipped (reasons above)")
        splits = split_by_recording(result.samples)
        names = sorted({name for sample in result.samples for name in sample.glosses})
        vocabulary = Vocabulary.from_names(names)
        candidates = {
            split: [(s.origin, to_sample(s, vocabulary)) for s in splits[split]] for split in SPLITS
        }
        return vocabulary, candidates


def class_name(tfds_name: str) -> str:
    """``vsl_kaggle`` -> ``VslKaggle``: TFDS registers a class under its snake_case name."""
    return "".join(part.title() for part in tfds_name.split("_"))


def make_builder(dataset_format: formats.DatasetFormat) -> type[FormatBuilder]:
    namespace = {
        "__doc__": dataset_format.description,
        "__module__": __name__,
        "FORMAT": dataset_format,
        "MANUAL_DOWNLOAD_INSTRUCTIONS": dataset_format.manual_download,
        "BUILDER_CONFIGS": joint_set_configs(dataset_format.joint_sets),
    }
    return type(class_name(dataset_format.tfds_name), (FormatBuilder,), namespace)


FORMAT_BUILDERS = tuple(make_builder(f) for f in formats.FORMATS.values())
# Importable by class name: VslKaggle, VoyaVsl, SignVideos, SignPoseFiles, MpData.
globals().update({builder.__name__: builder for builder in FORMAT_BUILDERS})
