"""Pictures of clips: hand colours, missing hands, pose points, captions."""

import numpy as np
from conftest import frameworks_imported_by
from PIL import Image

from whispersign_jax import keypoints as kp
from whispersign_jax import rendering
from whispersign_jax.data import synthetic
from whispersign_jax.data.sample import Sample

LEFT, RIGHT = np.array(rendering.LEFT_HAND_COLOUR), np.array(rendering.RIGHT_HAND_COLOUR)
SIZE = (160, 120)
LEFT_MISSING = range(10, 21)  # frames without the left hand


def colour_count(picture: Image.Image, colour) -> int:
    return int(np.all(np.asarray(picture) == np.asarray(colour), axis=-1).sum())


def hand_at(x: float, y: float, frames: int) -> np.ndarray:
    """`(frames, 21, 3)` a real hand shape (spread fingers), 0.2 image widths long."""
    joints = synthetic.hand_joints(synthetic.HANDSHAPES["spread"][None])[0]  # (21, 3)
    return np.broadcast_to(joints * 0.2 + [x, y, 0.0], (frames, 21, 3))


def two_hand_clip(frames: int = 40) -> np.ndarray:
    """`(frames, 42, 7)`: the left hand on the image's left, the right hand on its right; the
    left hand missing in `LEFT_MISSING`."""
    xyz = np.concatenate([hand_at(0.25, 0.6, frames), hand_at(0.75, 0.6, frames)], axis=1)
    confidence = np.ones((frames, 2), np.float32)
    confidence[LEFT_MISSING.start : LEFT_MISSING.stop, 0] = 0.0
    return kp.assemble_keypoints(xyz, confidence)


def test_importing_rendering_loads_no_framework():
    assert frameworks_imported_by("whispersign_jax.rendering") == []


def test_hands_in_their_colours_and_a_missing_hand_not_drawn():
    clip = two_hand_clip()
    frames = rendering.render_frames(clip, fps=60, size=SIZE)
    assert len(frames) == len(clip) and frames[0].size == SIZE
    left = [colour_count(frame, LEFT) for frame in frames]
    right = [colour_count(frame, RIGHT) for frame in frames]
    assert all(count == 0 for i, count in enumerate(left) if i in LEFT_MISSING)
    assert all(count > 20 for i, count in enumerate(left) if i not in LEFT_MISSING)
    assert min(right) > 20  # the right hand is always there
    pixels = np.asarray(frames[0])
    for joint in range(21):  # each joint's dot in its hand's colour, where x, y say
        for hand, colour in ((0, LEFT), (21, RIGHT)):
            x, y = clip[0, hand + joint, :2] * SIZE
            assert (pixels[int(y), int(x)] == colour).all(), (hand, joint)
    missing = np.asarray(frames[15])
    assert (missing[SIZE[1] // 2 :, : SIZE[0] // 2] == rendering.CANVAS_COLOUR).all()


def test_pose_points_grey_and_a_missing_one_not_drawn():
    hands = two_hand_clip(5)
    pose = np.zeros((5, len(kp.POSE_POINTS), 7), np.float32)
    pose[:, :, 0] = np.linspace(0.3, 0.7, len(kp.POSE_POINTS))  # a row across the image
    pose[:, :, 1], pose[:, :, kp.CONFIDENCE] = 0.2, 1.0
    pose[:, 3, :] = 0.0  # the left ear missing
    picture = rendering.render_frame(np.concatenate([hands, pose], axis=1), 0, size=SIZE)
    pixels = np.asarray(picture)
    for point in range(len(kp.POSE_POINTS)):
        x, y = (pose[0, point, :2] * SIZE).astype(int)
        expected = rendering.CANVAS_COLOUR if point == 3 else rendering.BODY_COLOUR
        assert (pixels[y, x] == expected).all(), point


def test_real_clip_hands_drawn_exactly_where_present(fixtures_dir):
    from whispersign_jax.data.prepare import mp_data

    sequence = fixtures_dir / "mp_data_asl" / "MP_Data" / "medium" / "0"
    clip = mp_data.read_sequence(sequence, 30.0, kp.FPS, False, str(sequence), "hands_pose")
    frames = rendering.render_frames(clip, fps=60, size=SIZE)
    present = clip[:, [0, 21], kp.CONFIDENCE] > 0  # (frames, hands)
    assert present.any(axis=0).all() and not present.all()  # hands come and go in this clip
    drawn = np.array([[colour_count(f, LEFT) > 0, colour_count(f, RIGHT) > 0] for f in frames])
    np.testing.assert_array_equal(drawn, present)
    assert all(colour_count(frame, rendering.BODY_COLOUR) > 0 for frame in frames)  # pose


def test_caption_and_timeline_highlight_the_gloss_being_signed():
    clip = two_hand_clip(60)  # one second
    glosses = [rendering.Caption("HELLO", 0.25, 0.5), rendering.Caption("WORLD", 0.6, 0.9)]
    expected = [0 if 15 <= i < 30 else 1 if 36 <= i < 54 else None for i in range(60)]
    assert [rendering.current_gloss(glosses, i / kp.FPS) for i in range(60)] == expected
    frames = rendering.render_frames(clip, glosses, fps=60, size=SIZE)
    assert frames[0].size == (SIZE[0], SIZE[1] + rendering._panel_height(SIZE[1]))
    for index, frame in enumerate(frames):
        panel = np.asarray(frame)[SIZE[1] :]  # (panel, width, 3)
        lit = np.all(panel == rendering.HIGHLIGHT_COLOUR, axis=-1)
        assert lit.any() == (expected[index] is not None), index
        if expected[index] is not None:  # the lit span of the timeline lies under the gloss
            start, end = (
                getattr(glosses[expected[index]], t) * SIZE[0] for t in ("start_s", "end_s")
            )
            columns = np.nonzero(lit[-8])[0]  # a row inside the timeline bar
            assert start - 2 <= columns.min() and columns.max() <= end + 2, index


def test_no_validation_samples_no_image(tmp_path):
    assert rendering.samples_sheet([], ["A"]) is None
    sample = Sample(two_hand_clip(30), np.array([1]), np.array([[0, 30]]), signer=0)
    sheet = rendering.samples_sheet([sample], ["A"])
    assert sheet.dtype == np.uint8 and sheet.shape[0] == 18 + 144 + rendering._panel_height(144)
