import dataclasses
import sys

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction import __main__ as extract_command
from whispersign_jax.extraction import model_file, pipeline, tracker
from whispersign_jax.extraction.slots import HandDetection


class ScriptedBackend:
    """A stand-in for MediaPipe: returns scripted detections and records the timestamps."""

    name = "scripted"

    def __init__(self, detections_per_frame, labels_assume_mirrored=True):
        self.detections_per_frame = list(detections_per_frame)
        self.labels_assume_mirrored = labels_assume_mirrored
        self.timestamps_ms = []
        self.closed = False

    def detect(self, frame_rgb, timestamp_ms):
        self.timestamps_ms.append(timestamp_ms)
        return self.detections_per_frame[len(self.timestamps_ms) - 1]

    def close(self):
        self.closed = True


def _hand(wrist_x: float, label: str = "Left") -> HandDetection:
    landmarks = np.tile([wrist_x, 0.5, -0.01], (21, 1)) + np.linspace(0, 0.1, 21)[:, None]
    return HandDetection(landmarks, label, 0.9)


def _frames(times):
    return [(np.zeros((4, 6, 3), np.uint8), time_s) for time_s in times]


def test_tracker_sends_strictly_increasing_milliseconds_and_closes():
    backend = ScriptedBackend([[]] * 4)
    with tracker.HandTracker(backend) as hand_tracker:
        for frame, time_s in _frames([0.0, 0.0334, 0.0334, 0.0336]):
            hand_tracker.track(frame, time_s)
    assert backend.timestamps_ms == [0, 33, 34, 35]
    assert backend.closed


def test_tracker_rejects_frames_that_are_not_rgb_uint8():
    hand_tracker = tracker.HandTracker(ScriptedBackend([[]]))
    with pytest.raises(ValueError, match="RGB uint8"):
        hand_tracker.track(np.zeros((4, 6), np.uint8), 0.0)


@pytest.mark.parametrize(("labels_assume_mirrored", "slot"), [(True, 1), (False, 0)])
def test_tracker_uses_the_backend_label_convention(labels_assume_mirrored, slot):
    backend = ScriptedBackend([[_hand(0.3, "Left")]], labels_assume_mirrored)
    _, presence = tracker.HandTracker(backend).track(*_frames([0.0])[0])
    assert presence[slot] == pytest.approx(0.9) and presence[1 - slot] == 0.0


def test_frames_become_60_fps_keypoints():
    times = np.arange(10) / 30.0
    detections = [[_hand(0.3 + 0.01 * i)] if i != 4 else [] for i in range(10)]
    tracks = pipeline.track_frames(
        _frames(times), tracker.HandTracker(ScriptedBackend(detections)), "clip.mp4", 30.0
    )
    assert tracks.positions.shape == (10, 2, 21, 3) and tracks.backend == "scripted"
    keypoints = pipeline.keypoints_from_tracks(tracks, "clip.mp4", 60.0)
    assert keypoints.shape == (19, 42, 7)
    right = keypoints[:, kp.RIGHT_HAND]
    np.testing.assert_array_equal(np.nonzero(right[:, 0, kp.CONFIDENCE] == 0)[0], [7, 8, 9])
    np.testing.assert_allclose(right[:6, :, 3], 0.3, atol=1e-3)  # 0.01 per 1/30 s
    assert np.all(keypoints[:, kp.LEFT_HAND] == 0.0)


def test_empty_and_one_frame_inputs_are_errors():
    for times in ([], [0.0]):
        backend = ScriptedBackend([[_hand(0.3)]] * len(times))
        with pytest.raises(pipeline.ExtractionError, match=r"clip\.mp4: \d readable frame"):
            pipeline.track_frames(_frames(times), tracker.HandTracker(backend), "clip.mp4")


def test_video_without_hands_is_an_error():
    tracks = pipeline.track_frames(
        _frames([0.0, 0.1, 0.2]), tracker.HandTracker(ScriptedBackend([[]] * 3)), "clip.mp4"
    )
    with pytest.raises(pipeline.ExtractionError, match=r"clip\.mp4: no hand detected in any of"):
        pipeline.keypoints_from_tracks(tracks, "clip.mp4", 60.0)


def test_backend_failure_names_the_file_and_frame():
    class Failing(ScriptedBackend):
        def detect(self, frame_rgb, timestamp_ms):
            raise RuntimeError("graph error")

    with pytest.raises(pipeline.ExtractionError, match=r"clip\.mp4: .* frame 0 \(graph error\)"):
        pipeline.track_frames(_frames([0.0]), tracker.HandTracker(Failing([])), "clip.mp4")


@pytest.fixture
def fake_mediapipe(monkeypatch, tmp_path):
    """Fake backends and an empty model cache; returns a setter for legacy availability."""
    monkeypatch.setenv(model_file.CACHE_ENV, str(tmp_path / "cache"))
    for name in ("HAND_MODEL", "POSE_MODEL", "FACE_MODEL"):  # downloads fail at once
        model = getattr(model_file, name)
        offline = dataclasses.replace(model, url=f"http://127.0.0.1:9/{model.filename}")
        monkeypatch.setattr(model_file, name, offline)

    class FakeMediapipe:
        __version__ = "1.2.2"

    state = {"legacy": False}
    monkeypatch.setattr(tracker, "import_mediapipe", lambda: FakeMediapipe)
    monkeypatch.setattr(tracker, "has_legacy_hands", lambda mediapipe: state["legacy"])
    monkeypatch.setattr(tracker, "LegacyBackend", lambda: ScriptedBackend([], True))

    def tasks_backend(model_path):
        backend = ScriptedBackend([], False)
        backend.model_path = model_path
        return backend

    monkeypatch.setattr(tracker, "TasksBackend", tasks_backend)
    return state


def test_auto_prefers_tasks_with_a_model_file(fake_mediapipe, tmp_path):
    fake_mediapipe["legacy"] = True
    own = tmp_path / "own.task"
    own.write_bytes(b"model")
    hand_tracker = tracker.open_hand_tracker("auto", model_path=own)
    assert hand_tracker.backend.model_path == own
    assert not hand_tracker.backend.labels_assume_mirrored


def test_auto_falls_back_to_legacy_without_a_model_file(fake_mediapipe):
    fake_mediapipe["legacy"] = True
    assert tracker.open_hand_tracker("auto").backend.labels_assume_mirrored


def test_auto_reports_a_damaged_cached_model_as_such(fake_mediapipe):
    fake_mediapipe["legacy"] = True
    model_file.default_model_path().parent.mkdir(parents=True)
    model_file.default_model_path().write_bytes(b"truncated download")
    with pytest.raises(pipeline.ExtractionError, match="does not match the expected"):
        tracker.open_hand_tracker("auto")


def test_auto_without_model_or_legacy_names_both_options(fake_mediapipe):
    with pytest.raises(pipeline.ExtractionError) as error:
        tracker.open_hand_tracker("auto")
    message = str(error.value)
    assert "mediapipe==0.10.21" in message and model_file.HAND_MODEL.sha256 in message


def test_unknown_backend_and_missing_mediapipe_are_explained(monkeypatch):
    with pytest.raises(pipeline.ExtractionError, match="choose one of auto, tasks, legacy"):
        tracker.open_hand_tracker("opencv")
    monkeypatch.setitem(sys.modules, "mediapipe", None)
    with pytest.raises(pipeline.ExtractionError, match="MediaPipe cannot be imported"):
        tracker.open_hand_tracker("legacy")


def test_cli_reports_a_missing_video(tmp_path, capsys):
    out = tmp_path / "out.npy"
    status = extract_command.main(
        ["--video", str(tmp_path / "missing.mp4"), "--out", str(out), "--backend", "legacy"]
    )
    assert status == 1 and not out.exists()
    assert "missing.mp4: no such video file" in capsys.readouterr().err
