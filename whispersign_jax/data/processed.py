"""The processed layout (docs/design.md, "Data contract"): written by `data.prepare`, read by
`config.data.source='processed'` and the `whispersign_processed` TFDS builder. NumPy only.

```
<root>/{train,val,test}/features/sample_00000.npy   (T, J, 7) float32
<root>/{train,val,test}/labels/sample_00000.npy     (L,) int64 gloss ids 1..N
<root>/{train,val,test}/spans/sample_00000.npy      optional (L, 2) int64 [start, end) frames
<root>/{train,val,test}/manifest.csv                sample, recording, origin, glosses
<root>/label_map.json                               {"<blank>": 0, gloss: 1..N}
<root>/keypoints.json                               {"joint_set": "hands"}
```
`keypoints.json` names the joint set of every feature file (J joints, `keypoints.JOINT_SETS`);
a folder without it (written before joint sets existed) holds `hands`. A sample with a spans
file has measured gloss timing (``Sample.timed``: sentences joined from isolated clips, for
instance); one without it is untimed, each gloss spanning the whole clip.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample, untimed_sample
from whispersign_jax.keypoints import (
    DEFAULT_JOINT_SET,
    joint_set,
    load_npy,
    recorded_joint_set,
    validate_keypoints,
)
from whispersign_jax.vocab import LABEL_MAP_FILE, Vocabulary

FEATURES, LABELS, SPANS, MANIFEST = "features", "labels", "spans", "manifest.csv"
JOINT_SET_FILE = "keypoints.json"
MANIFEST_COLUMNS = ("sample", "recording", "origin", "glosses")
GLOSS_SEPARATOR = " | "  # between the gloss names of one manifest row
SAMPLE_PREFIX = "sample_"


class PreparedClip(Protocol):
    """What the writer needs of a sample (`prepare.SourceSample` has it)."""

    keypoints: np.ndarray  # (T, J, 7)
    glosses: tuple[str, ...]
    recording: str
    origin: str
    # optional ``spans``: (L, 2) int64 measured [start, end) frame of each gloss


def sample_name(index: int) -> str:
    return f"{SAMPLE_PREFIX}{index:05d}.npy"


def load_vocabulary(root: str | Path) -> Vocabulary:
    return Vocabulary.load(Path(root) / LABEL_MAP_FILE)


def read_joint_set(root: str | Path) -> str:
    """The joint set of the dataset at ``root`` (``keypoints.json``; absent: hands)."""
    path = Path(root) / JOINT_SET_FILE
    if not path.is_file():
        return recorded_joint_set(None)
    try:
        name = json.loads(path.read_text(encoding="utf-8"))["joint_set"]
        return recorded_joint_set(name)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f"{path}: not a joint-set record ({error}); expected "
            '{"joint_set": "hands"}; prepare the dataset again with scripts/prepare_vsl_data.py.'
        ) from error


def require_joint_set(root: str | Path, expected: str) -> None:
    """A ValueError naming both sets and the fix unless the dataset at ``root`` holds the
    ``expected`` joint set (``config.data.keypoints``)."""
    found = read_joint_set(root)
    if found != expected:
        raise ValueError(
            f"{root} holds {joint_set(found).describe()} keypoints but config.data.keypoints="
            f"{expected!r}: pass --config.data.keypoints={found}, or prepare the data again "
            f"with scripts/prepare_vsl_data.py --joint_set {expected}."
        )


def read_candidates(root: str | Path, split: str) -> Iterator[tuple[str, Sample]]:
    """``(origin, Sample)`` for every feature file of ``split``, unchecked; an unreadable pair
    yields an empty sample whose origin names the file and the reason (validation skips it)."""
    features_dir = Path(root) / split / FEATURES
    if not features_dir.is_dir():
        raise FileNotFoundError(
            f"{features_dir} does not exist: expected the processed layout "
            f"<dir>/{{{','.join(SPLITS)}}}/{FEATURES}/*.npy; write it with "
            "scripts/prepare_vsl_data.py."
        )
    empty = np.zeros((0,), np.int64)
    for feature_path in sorted(features_dir.glob("*.npy")):
        try:
            yield str(feature_path), read_sample(feature_path)
        except ValueError as error:
            keypoints = np.zeros((0, 0), np.float32)
            yield str(error), Sample(keypoints, empty, empty, signer=-1)


def read_sample(feature_path: str | Path) -> Sample:
    """The sample of one feature file, its label file and its spans file if it has one
    (then timed); a ValueError naming the file that cannot be read or whose spans do not fit
    its clip. Keypoints and labels are checked later (``validation.check_sample``)."""
    feature_path = Path(feature_path)
    label_path = feature_path.parent.parent / LABELS / feature_path.name
    spans_path = feature_path.parent.parent / SPANS / feature_path.name
    keypoints = load_npy(feature_path)  # (T, J, 7)
    labels = load_npy(label_path).reshape(-1)  # (L,)
    if not spans_path.exists():
        return untimed_sample(keypoints, labels)
    spans = load_npy(spans_path)
    check_spans(spans, len(labels), len(keypoints), str(spans_path))
    return Sample(keypoints, labels, spans.astype(np.int64), signer=-1, timed=True)


def check_spans(spans: np.ndarray, num_labels: int, num_frames: int, origin: str) -> None:
    """A ValueError naming ``origin`` unless ``spans`` is ``(L, 2)`` whole frames with
    ``0 <= start < end <= T``, in signing order."""
    if spans.dtype.kind not in "iu" or spans.shape != (num_labels, 2):
        raise ValueError(
            f"{origin}: spans must be ({num_labels}, 2) whole frame numbers, one [start, end) "
            f"per label; got {spans.dtype} {spans.shape}."
        )
    starts, ends = spans[:, 0], spans[:, 1]
    if np.any(starts < 0) or np.any(ends > num_frames) or np.any(starts >= ends):
        raise ValueError(f"{origin}: spans must satisfy 0 <= start < end <= {num_frames} frames.")
    if np.any(np.diff(starts) < 0):
        raise ValueError(f"{origin}: spans must be in signing order (starts not decreasing).")


def existing_samples(root: str | Path) -> list[Path]:
    """The sample files of a processed dataset already at ``root`` (none: an empty list)."""
    root = Path(root)
    return [
        path
        for split in SPLITS
        for folder in (FEATURES, LABELS, SPANS)
        for path in (root / split / folder).glob(f"{SAMPLE_PREFIX}*.npy")
    ]


def refuse_existing(root: str | Path, overwrite: bool) -> None:
    """A FileExistsError when ``root`` holds a processed dataset and ``overwrite`` is off;
    nothing is changed either way (a refused or failed prepare leaves the dataset as it is)."""
    existing = existing_samples(root)
    if existing and not overwrite:
        raise FileExistsError(
            f"{root} already holds a processed dataset ({len(existing)} sample files); "
            "choose an empty folder or pass overwrite=True (--overwrite) to replace it."
        )


def _write_split(
    root: Path,
    split: str,
    clips: Sequence[PreparedClip],
    features: Sequence[np.ndarray],
    vocabulary: Vocabulary,
):
    """One split's files; ``features`` are the clips' keypoints as checked (float32)."""
    features_dir, labels_dir = root / split / FEATURES, root / split / LABELS
    features_dir.mkdir(parents=True, exist_ok=True)
    labels_dir.mkdir(parents=True, exist_ok=True)
    if any(getattr(clip, "spans", None) is not None for clip in clips):
        (root / split / SPANS).mkdir(exist_ok=True)
    with open(root / split / MANIFEST, "w", newline="", encoding="utf-8") as f:
        manifest = csv.writer(f)
        manifest.writerow(MANIFEST_COLUMNS)
        for index, (clip, clip_features) in enumerate(zip(clips, features, strict=True)):
            labels = np.asarray(vocabulary.ids(list(clip.glosses)), np.int64)  # (L,)
            np.save(features_dir / sample_name(index), clip_features, allow_pickle=False)
            np.save(labels_dir / sample_name(index), labels, allow_pickle=False)
            spans = getattr(clip, "spans", None)
            if spans is not None:
                spans = np.asarray(spans, np.int64)  # (L, 2), checked by write_processed
                np.save(root / split / SPANS / sample_name(index), spans, allow_pickle=False)
            glosses = GLOSS_SEPARATOR.join(clip.glosses)
            manifest.writerow([sample_name(index), clip.recording, clip.origin, glosses])


def write_processed(
    splits: Mapping[str, Sequence[PreparedClip]],
    output_dir: str | Path,
    overwrite: bool = False,
    keypoints: str = DEFAULT_JOINT_SET,
) -> Vocabulary:
    """Writes `splits` ({"train", "val", "test"} -> samples) of joint set `keypoints` and
    returns the label map.

    Gloss ids follow the sorted gloss names of all splits, so the same data always gets the
    same label map. Samples keep their order; a manifest per split records where each came from.
    An existing dataset at `output_dir` is refused (FileExistsError) unless `overwrite`, and is
    only removed once every clip has passed its checks.
    """
    keypoints = joint_set(keypoints).name
    unknown = set(splits) - set(SPLITS)
    if unknown:
        raise ValueError(f"write_processed: unknown split names {sorted(unknown)}; use {SPLITS}")
    names = sorted({g for clips in splits.values() for clip in clips for g in clip.glosses})
    if not names:
        raise ValueError(f"write_processed: nothing to write to {output_dir}, no samples given")
    vocabulary = Vocabulary.from_names(names)
    root = Path(output_dir)
    refuse_existing(root, overwrite)
    expected_by = f"the dataset (--joint_set {keypoints})"
    features = {  # every clip checked, once, before an old dataset is removed
        split: [validate_keypoints(c.keypoints, c.origin, keypoints, expected_by) for c in clips]
        for split, clips in splits.items()
    }
    for split, clips in splits.items():
        for clip, clip_features in zip(clips, features[split], strict=True):
            if getattr(clip, "spans", None) is not None:
                spans = np.asarray(clip.spans)
                check_spans(spans, len(clip.glosses), len(clip_features), clip.origin)
    for path in existing_samples(root):
        path.unlink()
    for split in SPLITS:
        _write_split(root, split, splits.get(split, ()), features.get(split, ()), vocabulary)
    vocabulary.save(root / LABEL_MAP_FILE)
    joint_set_json = json.dumps({"joint_set": keypoints}, allow_nan=False)
    (root / JOINT_SET_FILE).write_text(joint_set_json + "\n")
    return vocabulary
