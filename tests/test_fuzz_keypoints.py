"""Fuzz tests of the keypoint contract's entry points: `keypoints.validate_keypoints`, the
`.npy` loading the Recognizer uses (`keypoints.load_keypoint_file`) and `Vocabulary.load`.

Each case either passes with a result that keeps the contract or ends in a ValueError /
FileNotFoundError naming the source (tests/fuzzing.py).
"""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from fuzzing import expect_clear, fuzz_settings, mutate
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from whispersign_jax import keypoints as kp
from whispersign_jax.vocab import BLANK, Vocabulary

SOURCE = "clip_under_test.npy"
DTYPES = (
    "float32", "float16", "float64", "int8", "int64", "uint16", "bool", "complex64",
    "complex128", "U3", "S2", "object", "datetime64[s]",
)  # fmt: skip
ODD_VALUES = (0.0, 1.0, -1.0, 0.5, 11.0, -1e4, 1e5, 3e38, 1e300, np.nan, np.inf, -np.inf, 2.0)


def valid_clip(frames: int, joints: int, seed: int) -> np.ndarray:
    """Keypoints that keep the contract: random positions, some joints missing."""
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0, 1, (frames, joints, 3))
    confidence = rng.uniform(0, 1, (frames, joints)) * (rng.uniform(size=(frames, joints)) > 0.3)
    return kp.assemble_keypoints(xyz, confidence)


@st.composite
def keypoint_arrays(draw) -> np.ndarray:
    """Valid clips with a few values replaced, or arrays of any dtype and shape."""
    if draw(st.booleans()):
        frames = draw(st.integers(1, 6))
        joints = draw(st.sampled_from([s.num_joints for s in kp.JOINT_SETS.values()]))
        clip = valid_clip(frames, joints, draw(st.integers(0, 2**16)))
        for _ in range(draw(st.integers(0, 3))):
            index = tuple(draw(st.integers(0, n - 1)) for n in clip.shape)
            with np.errstate(over="ignore"):
                clip[index] = draw(st.sampled_from(ODD_VALUES))
        dtype = draw(st.sampled_from(["float32", "float64", "float16"]))
        with np.errstate(over="ignore"):
            return clip.astype(dtype)
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    shape = draw(
        st.one_of(
            hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=8),
            st.tuples(st.integers(0, 3), st.sampled_from([41, 42, 55, 95]), st.just(7)),
        )
    )
    if dtype.kind == "O":
        array = np.empty(shape, dtype=object)
        array.fill(draw(st.sampled_from([None, "x", 1.5, (1, 2)])))
        return array
    return draw(hnp.arrays(dtype, shape))


@given(array=keypoint_arrays(), joint_set=st.sampled_from([None, *kp.JOINT_SETS]))
@fuzz_settings(300)
def test_fuzz_validate_keypoints(array, joint_set):
    result = expect_clear(lambda: kp.validate_keypoints(array, SOURCE, joint_set), [SOURCE])
    if result is not None:  # what passes keeps the contract
        assert result.dtype == np.float32 and result.ndim == 3 and len(result) >= 1
        assert kp.joint_set_for(result.shape[1]) is not None
        assert np.isfinite(result).all()
        confidence = result[..., kp.CONFIDENCE]
        assert ((confidence >= 0) & (confidence <= 1)).all()
        assert np.abs(result[..., kp.XYZ]).max(initial=0) <= kp.POSITION_LIMIT
        assert not result[confidence == 0].any()


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)  # object arrays too: the loader must refuse them
    return buffer.getvalue()


def npz_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, keypoints=array)
    return buffer.getvalue()


@st.composite
def keypoint_files(draw) -> bytes:
    """Bytes of a `.npy` file: a saved array (valid clip, other dtypes, an .npz), truncated and
    bit-flipped, or random bytes."""
    kind = draw(st.sampled_from(["valid", "array", "npz", "random"]))
    if kind == "random":
        return draw(st.binary(max_size=300))
    if kind == "valid":
        array = valid_clip(draw(st.integers(1, 4)), 42, draw(st.integers(0, 2**16)))
    else:
        array = draw(keypoint_arrays())
    data = npz_bytes(array) if kind == "npz" else npy_bytes(array)
    cut = draw(st.one_of(st.none(), st.integers(0, len(data))))
    flips = draw(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 7)), max_size=3))
    return mutate(data, cut, flips)


@given(data=keypoint_files())
@fuzz_settings(300)
def test_fuzz_load_keypoint_file(tmp_path_factory, data):
    from whispersign_jax.keypoints import load_keypoint_file

    path = tmp_path_factory.mktemp("npy") / "clip.npy"
    path.write_bytes(data)
    clip = expect_clear(lambda: load_keypoint_file(path), [path])
    if clip is not None:
        assert clip.dtype == np.float32 and kp.has_hand(clip)


def test_fuzz_load_keypoint_file_missing_and_folder(tmp_path):
    from whispersign_jax.keypoints import load_keypoint_file

    for path in (tmp_path / "absent.npy", tmp_path):
        assert expect_clear(lambda path=path: load_keypoint_file(path), [path]) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**20) | st.floats() | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def label_map_files(draw) -> bytes:
    """Label maps: nearly right ones, any JSON, text that is not JSON, bytes not UTF-8."""
    kind = draw(st.sampled_from(["valid", "map", "json", "text", "bytes"]))
    if kind == "valid":  # ids 1..N in any order, maybe the blank
        names = draw(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=5,
                              unique=True))  # fmt: skip
        ids = draw(st.permutations(range(1, len(names) + 1)))
        content = dict(zip(names, ids, strict=True)) | ({BLANK: 0} if draw(st.booleans()) else {})
        return json.dumps(content).encode()
    if kind == "map":
        names = draw(st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=5))
        ids = draw(st.lists(st.one_of(st.integers(-1, 6), st.floats(0, 6), st.booleans(),
                                      st.text(max_size=2)), min_size=len(names),
                            max_size=len(names)))  # fmt: skip
        content = dict(zip(names, ids, strict=True))
        if draw(st.booleans()):
            content[BLANK] = draw(st.sampled_from([0, 1, "0"]))
        return json.dumps(content).encode()
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    if kind == "text":
        return draw(st.text(max_size=40)).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=40))


@given(data=label_map_files())
@fuzz_settings(300)
def test_fuzz_vocabulary_load(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("vocab") / "label_map.json"
    path.write_bytes(data)
    vocabulary = expect_clear(lambda: Vocabulary.load(path), [path])
    if vocabulary is not None:  # the ids it reads are exactly 1..N
        assert vocabulary.label_map() == json.loads(data) | {BLANK: 0}


def test_fuzz_npz_archive_is_refused(tmp_path):
    """An .npz (a zip) under a .npy name: refused with the file named, never a zip error."""
    path = tmp_path / "clip.npy"
    path.write_bytes(npz_bytes(valid_clip(2, 42, 0)))
    assert zipfile.is_zipfile(path)
    assert expect_clear(lambda: kp.load_npy(path), [path]) is None
