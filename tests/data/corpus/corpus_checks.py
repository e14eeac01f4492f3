"""What the corpus tests share: small datasets on disk, a stand-in video extractor, and the
check that two corpora hold the same clips."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from whispersign_jax.data import synthetic
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.corpus.reader import Corpus
from whispersign_jax.data.prepare.common import SourceSample
from whispersign_jax.data.processed import write_processed
from whispersign_jax.extraction import pipeline

TINY = synthetic.SyntheticConfig(
    num_glosses=4, train_signers=2, val_signers=1, test_signers=1, samples_per_gloss_per_signer=1
)


def tiny_processed(root: Path) -> Path:
    """A processed folder of the tiny synthetic set: 8 train, 4 val, 4 test clips, named
    glosses, recordings shared by pairs of clips."""
    names = synthetic.gloss_names(TINY)
    splits = {
        split: [
            SourceSample(
                sample.keypoints,
                tuple(names[label - 1] for label in sample.labels),
                f"{split}-recording-{index // 2}",
                f"{split}/{index}",
            )
            for index, sample in enumerate(synthetic.generate_split(TINY, split))
        ]
        for split in SPLITS
    }
    write_processed(splits, root)
    return root


def mp_data_folder(root, glosses=("a", "b", "c"), sequences=5):
    """MP_Data folders whose every sequence differs (frames of 126 hand values)."""
    for g, gloss in enumerate(glosses):
        for sequence in range(sequences):
            folder = root / gloss / str(sequence)
            folder.mkdir(parents=True)
            for frame in range(4):
                value = 0.1 + 0.05 * g + 0.01 * sequence + 0.002 * frame
                np.save(folder / f"{frame}.npy", np.full(126, value))
    return root


def corrupt(path: Path) -> Path:
    """A `.npy` file cut short: its header promises more than it holds."""
    path.write_bytes(path.read_bytes()[:200])
    return path


def failures(root: Path) -> dict[str, str]:
    """origin -> reason of `<root>/failures.csv`."""
    with open(root / "failures.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["origin", "reason"]
    return dict(rows[1:])


def manifest(root: Path, split: str) -> list[list[str]]:
    with open(root / split / "manifest.csv", newline="", encoding="utf-8") as f:
        return list(csv.reader(f))[1:]


def assert_same_corpus(first: Path, second: Path) -> None:
    """The same label map, joint set and, per split, the same index (columns, fingerprint),
    manifest and clips; feature sums equal but for summation order (1e-12 relative)."""
    a, b = Corpus(first), Corpus(second)
    assert a.vocabulary.label_map() == b.vocabulary.label_map()
    assert a.joint_set == b.joint_set
    for split in SPLITS:
        left, right = a.split(split), b.split(split)
        assert left.fingerprint == right.fingerprint, split
        for name, column in left.index.columns().items():
            np.testing.assert_array_equal(column, right.index.columns()[name], err_msg=name)
        assert manifest(first, split) == manifest(second, split)
        for position in range(len(left)):
            one, other = left[position], right[position]
            np.testing.assert_array_equal(one.keypoints, other.keypoints)
            np.testing.assert_array_equal(one.labels, other.labels)
            np.testing.assert_array_equal(one.spans, other.spans)
            assert (one.signer, one.timed) == (other.signer, other.timed)
    for normalized in (False, True):
        sums, other_sums = a.feature_sums(normalized), b.feature_sums(normalized)
        assert sums.count == other_sums.count > 0
        np.testing.assert_allclose(sums.total, other_sums.total, rtol=1e-12)
        np.testing.assert_allclose(sums.total_squares, other_sums.total_squares, rtol=1e-12)


def fake_extractor(monkeypatch) -> None:
    """Keypoints from a video file's text: `frames:<n>:<value>` gives n frames of hands at
    `value`; anything else an ExtractionError (no MediaPipe model in this environment)."""

    def extract_keypoints(path, *, target_fps, keypoints, **tracker):
        content = Path(path).read_bytes().decode()
        if not content.startswith("frames:"):
            raise pipeline.ExtractionError(f"{path}: no hand detected in any of its 9 frames")
        _, frames, value = content.split(":")
        clip = np.full((int(frames), 42, 7), float(value), np.float32)  # (T, J, 7)
        clip[:, :, 3:6] = 0.0  # at rest: no motion
        return clip

    monkeypatch.setattr(pipeline, "extract_keypoints", extract_keypoints)


def video_folder(root: Path, broken: bool = False) -> Path:
    """Videos listed by `labels.csv`: 8 glosses of one or two recordings, one gloss listed
    twice for one file, a row whose video is missing, and optionally a broken video."""
    root.mkdir(parents=True)
    rows = ["video,label"]
    for index in range(12):
        (root / f"v{index:02d}.mp4").write_text(f"frames:{5 + index}:0.{index + 10}")
        rows.append(f"v{index:02d}.mp4,gloss {index % 8}")
    rows += ["v00.mp4,gloss 0 variant", "missing.mp4,gloss 1"]
    if broken:
        (root / "broken.mp4").write_text("garbage")
        rows.append("broken.mp4,gloss 2")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root
