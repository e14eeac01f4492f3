"""Hand normalisation, train-split standardisation and the saved Preprocessor."""

import json

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.data import normalize
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.data.synthetic import SyntheticConfig, generate_sample


def sample_keypoints(index: int = 0) -> np.ndarray:
    config = SyntheticConfig(num_glosses=4, train_signers=2, samples_per_gloss_per_signer=1)
    return generate_sample(config, "train", index).keypoints


def with_gaps(keypoints: np.ndarray) -> np.ndarray:
    """The left hand missing in the first 10 frames."""
    keypoints = keypoints.copy()
    keypoints[:10, kp.LEFT_HAND] = 0.0
    return keypoints


def test_normalize_hands_removes_placement_and_size_but_keeps_the_path():
    clip = sample_keypoints()
    present = clip[..., kp.CONFIDENCE] > 0
    # The same signing filmed further away and off-centre: scaled by 0.6 and shifted.
    moved = clip.copy()
    moved[..., kp.XYZ] = np.where(present[..., None], 0.6 * clip[..., kp.XYZ] + 0.1, 0.0)
    moved[..., kp.VELOCITY] *= 0.6
    np.testing.assert_allclose(
        normalize.normalize_hands(moved), normalize.normalize_hands(clip), atol=2e-4
    )
    result = normalize.normalize_hands(clip)
    # The wrist still moves within the clip (no per-frame centring) ...
    wrist = result[:, 21, 0:2][present[:, 21]]
    assert np.ptp(wrist, axis=0).max() > 1.0  # more than one bone length of travel
    # ... in bone-length units, with the clip's median wrist at the origin.
    bones = result[:, 21 + 9, 0:2] - result[:, 21, 0:2]  # wrist -> middle finger base
    assert 1.0 < np.median(np.linalg.norm(bones[present[:, 21]], axis=-1)) < 4.0


def test_normalize_hands_survives_missing_hands():
    clip = with_gaps(sample_keypoints())
    result = normalize.normalize_hands(clip)
    assert np.isfinite(result).all() and result.dtype == np.float32
    assert not result[:10, kp.LEFT_HAND].any()
    np.testing.assert_array_equal(result[..., kp.CONFIDENCE], clip[..., kp.CONFIDENCE])
    empty = np.zeros((5, 42, 7), np.float32)
    np.testing.assert_array_equal(normalize.normalize_hands(empty), empty)
    # One present hand of zero size (all joints at one point): no division by zero.
    point = np.zeros((3, 42, 7), np.float32)
    point[:, kp.RIGHT_HAND, 0:2] = 0.5
    point[:, kp.RIGHT_HAND, kp.CONFIDENCE] = 0.9
    result = normalize.normalize_hands(point)
    assert np.isfinite(result).all()
    assert not result[..., kp.XYZ].any()  # centred on the wrist, unscaled


def test_fit_standardises_present_joints_of_the_train_clips():
    clips = [with_gaps(sample_keypoints(i)) for i in range(3)]
    preprocessor = Preprocessor.fit(clips, normalize_hands=False, standardize=True)
    assert preprocessor.standardize and not preprocessor.normalize_hands
    values = np.concatenate([p(c)[c[..., kp.CONFIDENCE] > 0] for p, c in
                             zip([preprocessor] * 3, clips, strict=True)])  # fmt: skip
    np.testing.assert_allclose(values[:, :6].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(values[:, :6].std(axis=0), 1.0, atol=1e-3)
    for clip in clips:
        result = preprocessor(clip)
        assert not result[:10, kp.LEFT_HAND].any()  # missing stays exactly zero
        np.testing.assert_array_equal(result[..., kp.CONFIDENCE], clip[..., kp.CONFIDENCE])
    with pytest.raises(ValueError, match="no present hand"):
        Preprocessor.fit([np.zeros((4, 42, 7), np.float32)], False, True)


def test_json_round_trip_as_in_checkpoint_metadata():
    clips = [sample_keypoints(i) for i in range(2)]
    preprocessor = Preprocessor.fit(clips, normalize_hands=True, standardize=True)
    written = json.loads(json.dumps(preprocessor.to_dict()))
    assert written["normalize_hands"] is True
    loaded = Preprocessor.from_dict(written)
    assert loaded == preprocessor
    np.testing.assert_array_equal(loaded(clips[0]), preprocessor(clips[0]))
    with pytest.raises(ValueError, match="6 values"):
        Preprocessor(mean=(0.0,), std=(1.0,))
