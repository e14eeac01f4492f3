"""Fuzz test of the processed-layout reader (`data/processed.py` through
`sources.load_splits`): random feature and label files, malformed manifest.csv,
label_map.json and keypoints.json.

Each case loads (bad samples skipped and counted) or ends in a ValueError /
FileNotFoundError naming a file of the dataset (tests/fuzzing.py).
"""

from __future__ import annotations

import io
import json

import ml_collections
import numpy as np
from fuzzing import event, expect_clear, fuzz_settings, mutate
from hypothesis import given
from hypothesis import strategies as st

from whispersign_jax import keypoints as kp
from whispersign_jax.data import processed, sources
from whispersign_jax.data.contract import SPLITS


def npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=True)
    return buffer.getvalue()


def clip(seed: int, joints: int = 42) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return kp.assemble_keypoints(rng.uniform(0, 1, (4, joints, 3)), np.ones((4, joints)))


LABELS = (
    [1], [2, 1], [], [0], [3], [1.0], [1.5], [np.nan], [np.inf], [2**63 - 1], ["a"], [True],
    [-1], [[1, 2]],
)  # fmt: skip


@st.composite
def sample_files(draw) -> tuple[bytes | None, bytes | None]:
    """(features, labels) bytes of one sample; None: the file is absent."""
    seed = draw(st.integers(0, 2**16))
    joints = draw(st.sampled_from([42, 42, 42, 55, 41]))
    features = npy(clip(seed, joints))
    labels = npy(np.asarray(draw(st.sampled_from(LABELS)), dtype=object)
                 if draw(st.integers(0, 9)) == 0 else draw(st.sampled_from(LABELS)))  # fmt: skip
    kind = draw(st.sampled_from(["ok"] * 4 + ["cut", "flip", "bytes", "absent"]))
    target = draw(st.sampled_from(["features", "labels"]))
    data = features if target == "features" else labels
    if kind == "cut":
        data = data[: draw(st.integers(0, len(data)))]
    elif kind == "flip":
        data = mutate(data, None, [(draw(st.integers(0, 200)), draw(st.integers(0, 7)))])
    elif kind == "bytes":
        data = draw(st.binary(max_size=40))
    elif kind == "absent":
        data = None
    return (data, labels) if target == "features" else (features, data)


LABEL_MAPS = st.one_of(
    st.just(b'{"<blank>": 0, "a": 1, "b": 2}'),
    st.sampled_from([b'{"a": 1, "b": 2}', b'{"a": 2, "b": 1}', b'{"a": 1, "b": 1}', b"[]", b"",
                     b'{"a": "1"}', b'{"<pad>": 1}', b'{"a": 1.0}', b"\xff\xfe{", b"{}",
                     b'{"<blank>": 1, "a": 2}', b"null"]),
    st.binary(max_size=20),
)  # fmt: skip
JOINT_SET_FILES = st.one_of(
    st.none(),
    st.sampled_from([b'{"joint_set": "hands"}', b'{"joint_set": "hands_pose"}', b"[]", b"",
                     b'{"joint_set": ["hands"]}', b'{"joint_set": "feet"}', b'"hands"',
                     b"\xff"]),
)  # fmt: skip


@given(
    label_map=LABEL_MAPS,
    joint_set_file=JOINT_SET_FILES,
    manifest=st.binary(max_size=40),
    samples=st.lists(st.tuples(st.sampled_from(SPLITS), sample_files()), max_size=6),
)
@fuzz_settings(150)
def test_fuzz_processed_layout(tmp_path_factory, label_map, joint_set_file, manifest, samples):
    root = tmp_path_factory.mktemp("processed")
    (root / "label_map.json").write_bytes(label_map)
    if joint_set_file is not None:
        (root / processed.JOINT_SET_FILE).write_bytes(joint_set_file)
    for split in SPLITS:
        for folder in (processed.FEATURES, processed.LABELS):
            (root / split / folder).mkdir(parents=True)
        (root / split / processed.MANIFEST).write_bytes(manifest)  # never read
    for index, (split, (features, labels)) in enumerate(samples):
        for folder, data in ((processed.FEATURES, features), (processed.LABELS, labels)):
            if data is not None:
                (root / split / folder / processed.sample_name(index)).write_bytes(data)
    config = ml_collections.ConfigDict({"source": "processed", "dir": str(root)})
    loaded = expect_clear(lambda: sources.load_splits(config), [root])
    if loaded is not None:
        vocabulary, splits = loaded
        kept = sum(len(samples) for samples in splits.values())
        assert kept <= len(samples)
        event(f"loaded: {kept} kept, {len(samples) - kept} skipped")
        for split_samples in splits.values():
            for sample in split_samples:
                assert sample.keypoints.dtype == np.float32 and sample.labels.dtype == np.int64
                assert sample.labels.min() >= 1 and sample.labels.max() <= vocabulary.num_glosses


def test_fuzz_label_map_and_joint_set_errors_name_the_file(tmp_path):
    """Two cases the fuzzer reaches, spelled out: the messages name the file and the fix."""
    (tmp_path / "label_map.json").write_bytes(b"\xff\xfe{")
    assert expect_clear(lambda: processed.load_vocabulary(tmp_path),
                        [tmp_path / "label_map.json"]) is None  # fmt: skip
    (tmp_path / processed.JOINT_SET_FILE).write_text(json.dumps({"joint_set": ["hands"]}))
    assert expect_clear(lambda: processed.read_joint_set(tmp_path),
                        [tmp_path / processed.JOINT_SET_FILE]) is None  # fmt: skip
