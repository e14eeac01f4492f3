"""One validation of keypoint values, label ids and frame numbering for every loader and
for recognition (issue 13)."""

import json

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare import mp_data
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.validation import check_sample
from whispersign_jax.vocab import Vocabulary


def clip(frames: int = 12) -> np.ndarray:
    """A valid (frames, 42, 7) clip: both hands present, positions in the image."""
    rng = np.random.default_rng(0)
    xyz = rng.uniform(0.2, 0.8, size=(frames, kp.NUM_JOINTS, 3))
    return kp.assemble_keypoints(xyz, np.ones((frames, 2)))


@pytest.mark.parametrize(
    ("frame", "joint", "feature", "value", "problem"),
    [
        (3, 5, 0, 1e38, r"\|position\| above 10 at 1 joint-frame\(s\), first frame 3 joint 5"),
        (4, 7, 1, 1e6, r"\|position\| above 10 .* first frame 4 joint 7"),
        (2, 0, 4, 5e4, r"\|velocity\| above 10000 per second .* first frame 2 joint 0"),
        (6, 30, 6, 1.5, r"confidence outside \[0, 1\] .* first frame 6 joint 30"),
        (6, 30, 6, -0.1, r"confidence outside \[0, 1\]"),
    ],
)
def test_values_a_landmark_model_cannot_give_are_refused(frame, joint, feature, value, problem):
    keypoints = clip()
    keypoints[frame, joint, feature] = value
    with pytest.raises(ValueError, match=rf"^sample\.npy: {problem}"):
        kp.validate_keypoints(keypoints, "sample.npy")


def test_a_missing_joint_must_be_all_zero_and_a_clip_needs_a_hand():
    keypoints = clip()
    keypoints[5, :21, kp.CONFIDENCE] = 0.0  # left hand marked missing, positions kept
    with pytest.raises(ValueError, match=r"non-zero features of a missing joint .* frame 5"):
        kp.validate_keypoints(keypoints, "a")
    nobody = np.zeros((12, 42, 7), np.float32)
    assert kp.validate_keypoints(nobody, "b").shape == (12, 42, 7)  # a "nothing" sample
    with pytest.raises(ValueError, match=r"^b: no hand in any of its 12 frames"):
        kp.validate_keypoints(nobody, "b", require_hand=True)  # nothing to recognise
    assert kp.validate_keypoints(clip(), "c").dtype == np.float32


def test_labels_must_be_whole_ids_of_the_label_map():
    vocabulary = Vocabulary(("hello", "thanks"))
    empty = np.zeros((0, 2), np.int64)
    sample = Sample(clip(), np.array([1.7]), empty, signer=-1)
    with pytest.raises(ValueError, match=r"^x: labels \[1\.7\] are not whole gloss ids"):
        check_sample(sample, vocabulary, "x")
    whole = Sample(clip(), np.array([2.0]), empty, signer=-1)
    assert check_sample(whole, vocabulary, "x").labels.tolist() == [2]
    with pytest.raises(ValueError, match=r"not gloss ids 1\.\.2"):
        check_sample(Sample(clip(), np.array([3]), empty, signer=-1), vocabulary, "x")


@pytest.mark.parametrize("bad_id", [1.9, True, "1"])
def test_label_map_ids_must_be_whole_numbers(tmp_path, bad_id):
    path = tmp_path / "label_map.json"
    path.write_text(json.dumps({"<blank>": 0, "hello": bad_id}))
    with pytest.raises(ValueError, match=r"ids must be whole numbers, found 'hello'"):
        Vocabulary.load(path)


def test_npy_files_are_never_unpickled_and_errors_name_the_file(tmp_path):
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"objects\.npy: holds Python objects") as error:
        kp.load_npy(objects)
    assert "allow_pickle" not in str(error.value)
    truncated = tmp_path / "truncated.npy"
    np.save(truncated, clip())
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"truncated\.npy: unreadable \.npy file"):
        kp.load_npy(truncated)
    archive = tmp_path / "archive.npy"
    with open(archive, "wb") as file:
        np.savez(file, a=np.zeros(3))
    with pytest.raises(ValueError, match=r"archive\.npy: an \.npz archive"):
        kp.load_npy(archive)


def test_an_mp_data_sequence_with_missing_frames_is_refused(tmp_path):
    sequence = tmp_path / "hello" / "0"
    sequence.mkdir(parents=True)
    for frame in [*range(10), *range(25, 30)]:
        np.save(sequence / f"{frame}.npy", np.zeros(258))
    with pytest.raises(ValueError, match=r"numbered 0\.\.14 without gaps; missing \[10, 11"):
        mp_data.frame_files(sequence)
    twice = tmp_path / "thanks" / "0"
    twice.mkdir(parents=True)
    for name in ("0", "1", "01"):
        np.save(twice / f"{name}.npy", np.zeros(258))
    with pytest.raises(ValueError, match=r"duplicated numbers such as \['0?1\.npy'\]"):
        mp_data.frame_files(twice)
