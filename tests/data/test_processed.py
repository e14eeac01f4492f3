"""The processed layout: what the writer puts on disk is exactly what the reader yields."""

import csv

import numpy as np
import pytest

from whispersign_jax.data import processed
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.prepare import SourceSample
from whispersign_jax.vocab import LABEL_MAP_FILE


def clip(gloss, frames, seed):
    keypoints = np.random.default_rng(seed).uniform(0, 1, (frames, 42, 7)).astype(np.float32)
    keypoints[..., 6] = 1.0
    return SourceSample(keypoints, gloss, f"rec{seed}", f"origin{seed}")


def test_the_reader_yields_exactly_what_the_writer_wrote(tmp_path):
    splits = {
        "train": [clip(("b",), 6, 0), clip(("a", "b"), 3, 1)],
        "val": [clip(("c",), 4, 2)],
        "test": [],
    }
    vocabulary = processed.write_processed(splits, tmp_path)
    written = {path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*.*")}
    expected = {LABEL_MAP_FILE, processed.JOINT_SET_FILE}
    for split in SPLITS:
        expected.add(f"{split}/{processed.MANIFEST}")
        for index in range(len(splits[split])):
            name = processed.sample_name(index)
            expected |= {
                f"{split}/{processed.FEATURES}/{name}",
                f"{split}/{processed.LABELS}/{name}",
            }
    assert written == expected
    assert processed.load_vocabulary(tmp_path) == vocabulary
    for split in SPLITS:
        pairs = list(processed.read_candidates(tmp_path, split))
        assert len(pairs) == len(splits[split])
        for index, ((origin, sample), source) in enumerate(zip(pairs, splits[split], strict=True)):
            assert origin == str(
                tmp_path / split / processed.FEATURES / processed.sample_name(index)
            )
            np.testing.assert_array_equal(sample.keypoints, source.keypoints)
            assert vocabulary.names(sample.labels.tolist()) == list(source.glosses)
            assert sample.spans.tolist() == [[0, len(source.keypoints)]] * len(source.glosses)
            assert (sample.timed, sample.signer) == (False, -1)
        with open(tmp_path / split / processed.MANIFEST, encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == processed.MANIFEST_COLUMNS
        assert [row[2] for row in rows[1:]] == [s.origin for s in splits[split]]


def test_the_joint_set_is_recorded_and_a_dataset_of_another_set_is_refused(tmp_path):
    import ml_collections

    from whispersign_jax.data.sources import load_splits

    lips = clip(("a",), 5, 0)
    lips = SourceSample(np.tile(lips.keypoints[:, :1], (1, 95, 1)), ("a",), "r", "o")
    processed.write_processed({"train": [lips]}, tmp_path / "lips", keypoints="hands_pose_lips")
    assert processed.read_joint_set(tmp_path / "lips") == "hands_pose_lips"
    config = ml_collections.ConfigDict(
        {"source": "processed", "dir": str(tmp_path / "lips"), "keypoints": "hands_pose_lips"}
    )
    _, splits = load_splits(config)
    np.testing.assert_array_equal(splits["train"][0].keypoints, lips.keypoints)
    config.keypoints = "hands"
    with pytest.raises(ValueError, match=(
        r"lips holds hands_pose_lips \(95 joints\) keypoints but config\.data\.keypoints="
        r"'hands': pass --config\.data\.keypoints=hands_pose_lips, or prepare the data again "
        r"with scripts/prepare_vsl_data\.py --joint_set hands\."
    )):  # fmt: skip
        load_splits(config)
    # A folder written before joint sets (no keypoints.json) holds hands.
    processed.write_processed({"train": [clip(("a",), 5, 1)]}, tmp_path / "old")
    (tmp_path / "old" / processed.JOINT_SET_FILE).unlink()
    assert processed.read_joint_set(tmp_path / "old") == "hands"
    config.dir = str(tmp_path / "old")
    assert len(load_splits(config)[1]["train"]) == 1
    # The writer refuses clips of another set than the one it records.
    with pytest.raises(ValueError, match=r"o: hands_pose_lips \(95 joints\) keypoints, but"):
        processed.write_processed({"train": [lips]}, tmp_path / "mixed", keypoints="hands")
