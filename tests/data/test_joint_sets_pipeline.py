"""The data pipeline on 55 and 95 joints: normalisation, augmentation, batching, streaming."""

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.data import augment, batching
from whispersign_jax.data.normalize import Preprocessor, normalize_hands
from whispersign_jax.data.sample import Sample
from whispersign_jax.decoding import Recognition
from whispersign_jax.inference.streaming import StreamingRecognizer

LIPS_SET = kp.joint_set("hands_pose_lips")
POSE = LIPS_SET.part("pose")
LEFT_WRIST, RIGHT_WRIST = (POSE.start + kp.POSE_POINTS.index(i) for i in (15, 16))


def body_clip(frames=12, seed=0, name="hands_pose_lips"):
    """Keypoints of `name`: hands moving right, the pose lost in frame 4, no face in frame 5
    (when the clip has those frames)."""
    joint_set = kp.joint_set(name)
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0.3, 0.7, (frames, joint_set.num_joints, 3))
    xyz[..., 0] += 0.01 * np.arange(frames)[:, None]
    confidence = np.ones((frames, joint_set.num_joints))
    confidence[:, POSE] = rng.uniform(0.5, 1.0, (frames, 13))
    confidence[4:5, POSE] = 0.0
    if "lips" in joint_set.parts:
        confidence[5:6, joint_set.part("lips")] = 0.0
    return kp.assemble_keypoints(xyz, confidence)


def sample_of(keypoints):
    spans = np.array([[0, len(keypoints)]])
    return Sample(keypoints, np.array([1]), spans, signer=-1)


def test_hand_normalisation_moves_body_joints_with_the_hands():
    clip = body_clip()
    normalised = normalize_hands(clip)
    np.testing.assert_array_equal(normalised[:, :42], normalize_hands(clip[:, :42]))
    # One similarity transform per clip: pose and lip joints keep their place relative to
    # the hands (a wrist-to-lip vector scales by the same factor as a wrist-to-wrist one).
    scale = (clip[0, 21, 0] - clip[0, 0, 0]) / (normalised[0, 21, 0] - normalised[0, 0, 0])
    np.testing.assert_allclose(
        (clip[0, 60, :3] - clip[0, 0, :3]) / scale,
        normalised[0, 60, :3] - normalised[0, 0, :3],
        rtol=1e-4,
    )
    assert (normalised[4, POSE] == 0).all()  # missing joints stay zero
    preprocessor = Preprocessor.fit([clip, body_clip(seed=1)], True, True)
    standardised = preprocessor(clip)
    assert standardised.shape == (12, 95, 7) and (standardised[5, LIPS_SET.part("lips")] == 0).all()
    present = standardised[..., 6] > 0
    np.testing.assert_array_equal(standardised[..., 6], clip[..., 6])
    assert abs(standardised[present][:, :6].mean()) < 0.5


def test_augmentation_mirrors_body_sides_and_keeps_missing_joints_missing():
    clip = body_clip()
    config = augment.AugmentConfig(mirror_prob=1.0, speed_range=(1.0, 1.0), scale_range=(1, 1),
                                   rotation_degrees=0.0, shift=0.0, noise_std=0.0,
                                   time_jitter=0.0)  # fmt: skip
    mirrored = augment.augment(sample_of(clip), config, np.random.default_rng(0)).keypoints
    np.testing.assert_allclose(mirrored[:, LEFT_WRIST, 0], np.where(
        clip[:, RIGHT_WRIST, 6] > 0, 1 - clip[:, RIGHT_WRIST, 0], 0), atol=1e-6)  # fmt: skip
    np.testing.assert_allclose(mirrored[:, 0, 1], clip[:, 21, 1], atol=1e-6)  # hands swap
    slower = augment.change_speed(sample_of(clip), 0.5).keypoints  # frame i at 11 i / 23
    assert slower.shape == (24, 95, 7)
    # Frames 7-10 lie between source frames 3-5, next to the pose's gap at 4: no pose there.
    assert (slower[7:11, POSE] == 0).all() and (slower[[6, 11], POSE, 6] > 0).all()
    assert (slower[7:11, :42, 6] > 0).all()  # the hands do not share the pose's gap
    masked = augment.mask_features(
        clip, augment.AugmentConfig(joint_mask_prob=0.5, time_mask_segments=0),
        np.random.default_rng(0),
    )  # fmt: skip
    zeroed = (masked[..., :6] == 0).all(axis=(0, 2))  # (95,) joints masked over the clip
    assert 20 < zeroed.sum() < 75 and zeroed[42:].any()


def test_batches_take_the_joint_count_of_the_data():
    samples = [sample_of(body_clip(frames, seed)) for seed, frames in enumerate((10, 14, 12))]
    batch = batching.collate(samples, batch_size=4, buckets=(16,), max_labels=2)
    assert batch["keypoints"].shape == (4, 16, 95, 7)
    np.testing.assert_array_equal(batch["keypoints"][1, :14], samples[1].keypoints)
    batches = batching.TrainBatches(samples, 2, (16,), 2, seed=0)
    assert batches[0]["keypoints"].shape == (2, 16, 95, 7)
    mixed = [*samples, sample_of(body_clip(10, name="hands_pose"))]
    with pytest.raises(ValueError, match=r"mix joint counts \[55, 95\].*config\.data\.keypoints"):
        batching.collate(mixed, batch_size=4, buckets=(16,), max_labels=2)


class ShapeRecorder:
    def __init__(self):
        self.shapes = []

    def recognize(self, clip):
        self.shapes.append(clip.shape)
        return Recognition((), 0.0, "none")


def test_streaming_buffers_any_joint_count_and_refuses_a_change():
    recorder = ShapeRecorder()
    streamer = StreamingRecognizer(recorder, window_s=0.1, overlap=0.5)  # 6-frame windows
    streamer.push(body_clip(4))
    streamer.push(body_clip(1)[0])  # one (95, 7) frame
    streamer.run(body_clip(8))
    assert recorder.shapes and all(shape[1:] == (95, 7) for shape in recorder.shapes)
    with pytest.raises(ValueError, match=r"frames of shape \(42, 7\) after frames of \(95, 7\)"):
        streamer.push(body_clip(2)[:, :42])
