"""Pictures of clips and training runs: hand colours, missing hands, captions, GIF timing,
one-line errors, training curves and the sample image that training logs."""

import io
import json
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import REPO, SIGNING_CLIP, event_accumulator, frameworks_imported_by
from PIL import Image

from whispersign_jax import keypoints as kp
from whispersign_jax import visualize
from whispersign_jax.data import synthetic
from whispersign_jax.data.sample import Sample
from whispersign_jax.pictures import curves_image, rendering
from whispersign_jax.training import metric_writers

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


def test_importing_the_command_loads_no_framework():
    modules = ("whispersign_jax.visualize", "whispersign_jax.pictures.rendering")
    assert frameworks_imported_by(*modules, "whispersign_jax.pictures.curves_image") == []


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
        recent = np.all(panel == rendering.RECENT_COLOUR, axis=-1).any()  # the last gloss
        assert recent == (expected[index] is None and index >= 30), index
        if expected[index] is not None:  # the lit span of the timeline lies under the gloss
            start, end = (
                getattr(glosses[expected[index]], t) * SIZE[0] for t in ("start_s", "end_s")
            )
            columns = np.nonzero(lit[-8])[0]  # a row inside the timeline bar
            assert start - 2 <= columns.min() and columns.max() <= end + 2, index


def write_clip(tmp_path, clip=None):
    path = tmp_path / "clip.npy"
    np.save(path, two_hand_clip(60) if clip is None else clip)
    return path


def command_args(**values):
    defaults = dict(keypoints="", out="", workdir="", stage="", video="", fps=20.0, size="")
    return SimpleNamespace(**{**defaults, "curves": False, **values})


@pytest.mark.parametrize(("fps", "frames", "duration_ms"), [(20, 20, 50), (10, 10, 100)])
def test_gif_frame_count_and_duration(tmp_path, fps, frames, duration_ms):
    out = tmp_path / "clip.gif"
    args = command_args(keypoints=str(write_clip(tmp_path)), out=str(out), fps=fps)
    visualize.run_command(args)
    with Image.open(out) as gif:
        assert gif.n_frames == frames and gif.size == rendering.DEFAULT_SIZE
        durations = []
        for index in range(gif.n_frames):
            gif.seek(index)
            durations.append(gif.info["duration"])
    assert durations == [duration_ms] * frames
    assert out.stat().st_size < 2_000_000


def test_contact_sheet_png(tmp_path):
    out = tmp_path / "clip.png"
    visualize.run_command(command_args(keypoints=str(write_clip(tmp_path)), out=str(out)))
    with Image.open(out) as sheet:
        assert sheet.size == (6 * 320 + 5 * 2, 240)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "whispersign_jax.visualize", *args]
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, timeout=60)


def test_one_line_errors(tmp_path):
    clip = write_clip(tmp_path)
    cases = {
        (f"--keypoints={tmp_path / 'no.npy'}", f"--out={tmp_path / 'a.gif'}"): "no such file",
        (f"--keypoints={clip}", f"--out={tmp_path / 'a.avi'}"): "unknown picture type '.avi'",
    }
    for args, message in cases.items():
        result = run_cli(*args)
        assert result.returncode == 1, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (dict(size="640"), "--size='640': expected WIDTHxHEIGHT"),
        (dict(fps=90.0), "fps=90: choose a rate in (0, 60]"),
        (dict(out="nowhere/clip.gif"), "folder nowhere does not exist"),
    ],
)
def test_bad_flags_exit_with_one_line(tmp_path, values, message):
    values = {"out": str(tmp_path / "clip.gif"), **values}
    with pytest.raises(SystemExit, match=f"^error: .*{message}".replace("(", r"\(")):
        visualize.run_command(command_args(keypoints=str(write_clip(tmp_path)), **values))


def test_wrong_shape_names_the_file(tmp_path):
    path = write_clip(tmp_path, np.zeros((10, 21, 7), np.float32))
    with pytest.raises(SystemExit, match=f"error: --keypoints={path}: keypoints must have shape"):
        visualize.run_command(command_args(keypoints=str(path), out=str(tmp_path / "a.gif")))


def has_cv2() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.skipif(
    has_cv2(), reason="OpenCV is installed: the message for its absence cannot show"
)
def test_video_without_opencv_says_what_to_install(tmp_path):
    args = command_args(keypoints=str(write_clip(tmp_path)), out=str(tmp_path / "a.mp4"))
    with pytest.raises(SystemExit, match=r'needs OpenCV .* pip install -e "\.\[video\]"'):
        visualize.run_command(args)


@pytest.mark.skipif(
    not has_cv2(), reason="--video and .mp4 need OpenCV (pip install -e '.[video]')"
)
def test_drawn_over_the_video_frames(tmp_path):
    import cv2

    video = SIGNING_CLIP  # 58 frames, 540x720: about 1.9 s
    clip = two_hand_clip(115)
    out = tmp_path / "over.mp4"
    args = command_args(keypoints=str(write_clip(tmp_path, clip)), out=str(out), video=str(video))
    visualize.run_command(args)
    capture = cv2.VideoCapture(str(out))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    size = (int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)), int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    ok, first = capture.read()
    capture.release()
    assert ok and frames == len(rendering.frame_indices(115, 20)) and size == (480, 640)
    assert first.std() > 20  # the video shows through, not the plain canvas


def write_stage_events(folder, losses, accuracies) -> None:
    writer = metric_writers.EventFileWriter(str(folder))
    for step, loss in enumerate(losses, start=1):
        writer.write_scalars(step * 10, {"loss/total": loss, "steps_per_s": 5.0})
    for step, accuracy in enumerate(accuracies, start=1):
        writer.write_scalars(step * 20, {"val/accuracy": accuracy, "val/loss/total": 1 - accuracy})
    writer.close()


def test_training_curves_from_event_files(tmp_path):
    write_stage_events(tmp_path / "stage2", [2.0, 1.0, float("nan"), 0.5], [0.5, 0.75])
    write_stage_events(tmp_path / "stage1", [40.0, 20.0], [0.25])
    (tmp_path / "eval").mkdir()
    (tmp_path / "config.json").write_text(json.dumps({"stage_order": ["stage1", "stage2"]}))
    folders = curves_image.stage_folders(tmp_path)
    assert [folder.name for folder in folders] == ["stage1", "stage2"]
    stage2 = curves_image.read_curves(folders[1])
    np.testing.assert_array_equal(stage2["loss/total"][0], [10, 20, 40])  # NaN left out
    np.testing.assert_allclose(stage2["loss/total"][1], [2.0, 1.0, 0.5])
    np.testing.assert_allclose(stage2["val/accuracy"][1], [0.5, 0.75])
    assert "val/wer" not in stage2

    out = tmp_path / "curves.png"
    visualize.run_command(command_args(curves=True, workdir=str(tmp_path), out=str(out)))
    with Image.open(out) as picture:
        assert picture.size == (960, 640)
        for _, series in curves_image.PANELS:
            for tag, _, colour in series:  # every series drawn is in the legend or plotted
                assert colour_count(picture, colour) > (40 if tag != "val/wer" else 0), tag


def test_curves_need_a_workdir_with_events(tmp_path):
    out = str(tmp_path / "curves.png")
    with pytest.raises(SystemExit, match="no stage folder with TensorBoard events"):
        visualize.run_command(command_args(curves=True, workdir=str(tmp_path), out=out))
    with pytest.raises(SystemExit, match=r"unknown picture type '\.gif'; end the name in \.png"):
        visualize.run_command(
            command_args(curves=True, workdir=str(tmp_path), out=out[:-3] + "gif")
        )


def test_nice_ticks():
    assert curves_image.nice_ticks(0, 1) == pytest.approx([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert curves_image.nice_ticks(0, 1500, 8) == pytest.approx(list(range(0, 1601, 200)))


def test_training_logs_a_sheet_of_validation_samples(tmp_path):
    from whispersign_jax.training import loop

    config = synthetic.SyntheticConfig(num_glosses=3, mode="continuous", val_signers=1,
                                       continuous_samples_per_signer=4)  # fmt: skip
    samples = synthetic.generate_split(config, "val")
    names = synthetic.gloss_names(config)
    plan = SimpleNamespace(splits={"val": samples}, vocabulary=SimpleNamespace(glosses=names))
    writer = metric_writers.EventFileWriter(str(tmp_path))
    loop.write_samples(plan, writer)
    writer.close()
    (event,) = event_accumulator(tmp_path).Tensors("val_samples")
    width, height, png = event.tensor_proto.string_val
    image = Image.open(io.BytesIO(png))
    assert event.step == 0 and (int(width), int(height)) == image.size
    assert image.size == (6 * 194 - 2, 3 * (18 + 144 + rendering._panel_height(144)))
    pixels = np.asarray(image)
    assert colour_count(image, rendering.HIGHLIGHT_COLOUR) > 0  # reference glosses captioned
    assert (pixels == LEFT).all(-1).any() or (pixels == RIGHT).all(-1).any()


def test_no_validation_samples_no_image(tmp_path):
    assert rendering.samples_sheet([], ["A"]) is None
    sample = Sample(two_hand_clip(30), np.array([1]), np.array([[0, 30]]), signer=0)
    sheet = rendering.samples_sheet([sample], ["A"])
    assert sheet.dtype == np.uint8 and sheet.shape[0] == 18 + 144 + rendering._panel_height(144)


def test_workdir_glosses_become_captions(tmp_path, monkeypatch, tiny_trained_model):
    from whispersign_jax import recognize

    model, clips = tiny_trained_model
    recognizer = recognize.Recognizer(model)
    monkeypatch.setattr(recognize.Recognizer, "load", lambda *args, **kwargs: recognizer)
    clip = clips[0].keypoints
    glosses = recognizer.recognize(clip).glosses
    assert glosses  # the over-fitted model finds glosses in its training clip
    out = tmp_path / "clip.gif"
    path = str(write_clip(tmp_path, clip))
    visualize.run_command(command_args(keypoints=path, out=str(out), workdir="run", size="160x120"))
    with Image.open(out) as gif:
        assert gif.size == (160, 120 + rendering._panel_height(120))
    frames = rendering.render_frames(clip, glosses, fps=60, size=SIZE)
    lit = [colour_count(frame, rendering.HIGHLIGHT_COLOUR) > 0 for frame in frames]
    assert lit == [
        rendering.current_gloss(glosses, i / kp.FPS) is not None for i in range(len(clip))
    ]
    assert any(lit) and not all(lit)


def resident_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


BOUNDED_FRAMES, BOUNDED_MARGIN_MB = 2400, 24


@pytest.mark.parametrize(
    "suffix",
    [
        ".gif",
        pytest.param(".mp4", marks=pytest.mark.skipif(not has_cv2(), reason="needs OpenCV")),
    ],
)
def test_visualize_bounded_memory(tmp_path, monkeypatch, suffix):
    """A 40 s clip drawn at 160x120, every keypoint frame: 2,400 frames of 56 KiB (RGB), ~130
    MB. Each frame goes to the writer as it is drawn, so RSS between the 400th frame and the
    last stays flat (measured +0.0 MB); a command that kept the frames grew ~120 MB in that
    time (and Pillow's GIF writer its copies on top). The margin, 24 MB, is ~1 frame in 5."""
    samples = {}
    render_frame = rendering.render_frame

    def sampled(clip, index, *args, **kwargs):
        if index % 400 == 0:
            samples[index] = resident_mb()
        return render_frame(clip, index, *args, **kwargs)

    monkeypatch.setattr(rendering, "render_frame", sampled)
    out = tmp_path / f"long{suffix}"
    keypoints = write_clip(tmp_path, two_hand_clip(BOUNDED_FRAMES))
    args = command_args(keypoints=str(keypoints), out=str(out), fps=60.0, size="160x120")
    visualize.run_command(args)
    growth = samples[BOUNDED_FRAMES - 400] - samples[400]
    print(f"RSS MB by frame {samples}; growth {growth:.1f} MB")
    assert growth < BOUNDED_MARGIN_MB, samples
    if suffix == ".gif":
        with Image.open(out) as gif:
            assert gif.n_frames == BOUNDED_FRAMES and gif.size == (160, 120)
    else:
        import cv2

        capture = cv2.VideoCapture(str(out))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == BOUNDED_FRAMES
        capture.release()


def test_visualize_bounded_memory_a_failure_midway_keeps_the_old_file(tmp_path, monkeypatch):
    """Streamed frames go to a file beside ``--out``, renamed once complete: a failure at
    frame 5 leaves an earlier ``--out`` as it was and no partial file."""
    render_frame = rendering.render_frame

    def failing(clip, index, *args, **kwargs):
        if index == 5:
            raise ValueError("frame 5 cannot be drawn")
        return render_frame(clip, index, *args, **kwargs)

    monkeypatch.setattr(rendering, "render_frame", failing)
    out = tmp_path / "clip.gif"
    out.write_bytes(b"an earlier animation")
    args = command_args(keypoints=str(write_clip(tmp_path)), out=str(out), fps=60.0)
    with pytest.raises(SystemExit, match="frame 5 cannot be drawn"):
        visualize.run_command(args)
    assert out.read_bytes() == b"an earlier animation"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.gif", "clip.npy"]
