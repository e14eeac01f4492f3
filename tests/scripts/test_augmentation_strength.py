import numpy as np
from conftest import load_script

from whispersign_jax.data import synthetic

strength = load_script("augmentation_strength")


def samples():
    config = synthetic.SyntheticConfig(
        num_glosses=2, train_signers=1, samples_per_gloss_per_signer=2
    )
    return synthetic.generate_split(config, "train")


def test_jitter_effect_is_zero_without_jitter_and_large_at_two_frames():
    rng = np.random.default_rng(0)
    none = strength.jitter_effect(samples(), 0.0, rng)
    assert none == {"velocity_rms_change": 0.0, "steps_outside_half_to_1.5x_speed": 0.0}
    mild = strength.jitter_effect(samples(), 0.3, rng)
    strong = strength.jitter_effect(samples(), 2.0, rng)
    assert 0 < mild["velocity_rms_change"] < strong["velocity_rms_change"]
    assert strong["steps_outside_half_to_1.5x_speed"] > 0.3


def test_bone_length_is_the_median_2d_bone_of_present_hands():
    clips = [sample.keypoints for sample in samples()]
    bone = strength.bone_length(clips)
    assert 0.005 < bone < 0.1  # image widths: a finger bone of a hand in the frame
    halved = [clip.copy() for clip in clips]
    for clip in halved:
        clip[..., :3] *= 0.5
    np.testing.assert_allclose(strength.bone_length(halved), bone / 2, rtol=1e-5)
