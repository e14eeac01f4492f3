"""Hand-likeness measures on real MediaPipe hands and on blocks that are not hands."""

import numpy as np

from whispersign_jax.data import synthetic
from whispersign_jax.data.prepare.hand_anatomy import hand_fit, rank_offsets


def synthetic_right_hands():
    config = synthetic.SyntheticConfig(num_glosses=6)
    return np.concatenate(
        [synthetic.generate_sample(config, "train", i).keypoints[:, 21:, :3] for i in range(4)]
    )  # (frames, 21, xyz)


def test_real_mediapipe_hands_fit(fixtures_dir):
    frames = np.stack(
        [np.load(p) for p in sorted((fixtures_dir / "mp_data_asl/MP_Data").glob("*/*/*.npy"))]
    )  # (frames, 258)
    for start in (132, 195):
        fit = hand_fit(frames[:, start : start + 63].reshape(-1, 21, 3))
        assert fit.fits, fit.describe()
        assert fit.frames > 1000


def test_shifted_or_shuffled_points_do_not_fit():
    hands = synthetic_right_hands()
    assert hand_fit(hands).fits
    both = np.concatenate([hands, hands[::-1] + 0.3], axis=1)  # (frames, 42, xyz)
    ranking = rank_offsets(both, range(22))
    assert sorted(start for start, _ in ranking[:2]) == [0, 21]
    # Shifted blocks score clearly lower; on rigid synthetic hands a shift of two can still
    # pass the absolute ranges, which is why the layout check ranks every start.
    assert ranking[2][1].score < ranking[1][1].score - 0.05
    assert sum(fit.fits for _, fit in ranking) <= 3
    shuffled = hands[:, np.random.default_rng(0).permutation(21)]
    assert not hand_fit(shuffled).fits
    assert hand_fit(np.zeros((5, 21, 3))).frames == 0
