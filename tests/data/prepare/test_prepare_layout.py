"""Splitting by recording and the processed writer, read back by data.sources."""

from collections import Counter

import numpy as np
import pytest

from whispersign_jax.data.prepare import SourceSample, split_by_recording, write_processed
from whispersign_jax.data.sources import load_processed_split, load_splits
from whispersign_jax.vocab import Vocabulary


def make_sample(gloss, recording, frames=5, seed=0, glosses=None):
    rng = np.random.default_rng(seed)
    keypoints = rng.uniform(0, 1, (frames, 42, 7)).astype(np.float32)
    keypoints[..., 6] = 1.0
    return SourceSample(keypoints, glosses or (gloss,), recording, f"{recording}#{seed}")


def test_split_keeps_each_recording_in_one_split_and_is_stratified():
    samples = [
        make_sample(f"g{g}", f"rec{g}_{r}", seed=c)
        for g in range(5)
        for r in range(10)
        for c in range(3)  # three augmented copies of every recording
    ]
    splits = split_by_recording(samples, (0.8, 0.1, 0.1), seed=3)
    where = {}
    for name, members in splits.items():
        for sample in members:
            assert where.setdefault(sample.recording, name) == name
    assert {name: len(members) for name, members in splits.items()} == {
        "train": 120,
        "val": 15,
        "test": 15,
    }
    assert Counter(s.glosses[0] for s in splits["test"]) == {f"g{g}": 3 for g in range(5)}
    again = split_by_recording(samples, (0.8, 0.1, 0.1), seed=3)
    assert [s.origin for s in again["val"]] == [s.origin for s in splits["val"]]
    other = split_by_recording(samples, (0.8, 0.1, 0.1), seed=4)
    assert [s.origin for s in other["val"]] != [s.origin for s in splits["val"]]


def test_split_with_one_recording_per_gloss_spreads_glosses_over_splits():
    samples = [make_sample(f"g{g:02d}", f"class{g}", seed=c) for g in range(20) for c in range(4)]
    splits = split_by_recording(samples, (0.8, 0.1, 0.1))
    counts = {name: len({s.glosses for s in members}) for name, members in splits.items()}
    assert counts == {"train": 16, "val": 2, "test": 2}


def test_split_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to 1"):
        split_by_recording([make_sample("a", "r")], (0.8, 0.3, 0.1))


def test_write_processed_round_trips_through_the_loader(tmp_path):
    splits = {
        "train": [make_sample("Xin chào B", "r1", 7, 1), make_sample("cảm ơn", "r2", 3, 2)],
        "val": [make_sample("ăn", "r3", 4, 3, glosses=("ăn", "cảm ơn"))],
        "test": [make_sample("cảm ơn", "r4", 2, 4)],
    }
    vocabulary = write_processed(splits, tmp_path)
    assert vocabulary.glosses == ("Xin chào B", "cảm ơn", "ăn")  # sorted names
    assert Vocabulary.load(tmp_path / "label_map.json") == vocabulary
    assert vocabulary.label_map()["<blank>"] == 0
    for name, written in splits.items():
        loaded = load_processed_split(tmp_path, name, vocabulary)
        assert len(loaded) == len(written)
        for sample, source in zip(loaded, written, strict=True):
            np.testing.assert_array_equal(sample.keypoints, source.keypoints)
            assert vocabulary.names(sample.labels.tolist()) == list(source.glosses)
    manifest = (tmp_path / "val" / "manifest.csv").read_text(encoding="utf-8").splitlines()
    assert manifest[1] == "sample_00000.npy,r3,r3#3,ăn | cảm ơn"


def test_write_processed_refuses_an_existing_dataset_unless_overwriting(tmp_path):
    splits = {"train": [make_sample("a", "r1"), make_sample("b", "r2")], "test": []}
    write_processed(splits, tmp_path)
    with pytest.raises(FileExistsError, match="already holds a processed dataset"):
        write_processed(splits, tmp_path)
    write_processed({"train": [make_sample("a", "r1")]}, tmp_path, overwrite=True)
    assert len(list((tmp_path / "train" / "features").glob("*.npy"))) == 1


def test_load_splits_reads_what_was_written(tmp_path):
    import ml_collections

    write_processed({"train": [make_sample("a", "r1")], "val": [], "test": []}, tmp_path)
    config = ml_collections.ConfigDict({"source": "processed", "dir": str(tmp_path)})
    vocabulary, splits = load_splits(config)
    assert vocabulary.glosses == ("a",)
    assert [len(splits[name]) for name in ("train", "val", "test")] == [1, 0, 0]


def test_write_processed_checks_every_clip_before_replacing_a_dataset(tmp_path):
    write_processed({"train": [make_sample("a", "r1")]}, tmp_path)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    bad = make_sample("b", "r2")
    bad.keypoints[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        write_processed({"train": [make_sample("c", "r3", seed=1), bad]}, tmp_path, overwrite=True)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
