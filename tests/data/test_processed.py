"""The processed layout: what the writer puts on disk is exactly what the reader yields."""

import csv

import numpy as np

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
    expected = {LABEL_MAP_FILE}
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
        with open(tmp_path / split / processed.MANIFEST, encoding="utf-8") as f:
            rows = list(csv.reader(f))
        assert tuple(rows[0]) == processed.MANIFEST_COLUMNS
        assert [row[2] for row in rows[1:]] == [s.origin for s in splits[split]]
