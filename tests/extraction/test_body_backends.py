"""The Holistic and Tasks body backends against fake MediaPipe modules, and the choice of
backend for the joint sets with pose and lips (the real Holistic: test_real_holistic.py)."""

import dataclasses
import sys
import types
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction import body_backends, model_file, pipeline, tracker


def _landmarks(count, x0, visibility=None):
    """`count` landmarks at x = x0 + i / 1000, y = 0.5, z = -0.01 i."""
    return [
        SimpleNamespace(x=x0 + i / 1000, y=0.5, z=-0.01 * i, visibility=visibility)
        for i in range(count)
    ]


class FakeLandmarker:
    """A Tasks landmarker returning one scripted result per call."""

    def __init__(self, options, results):
        self.options, self.results, self.calls, self.closed = options, list(results), [], False

    def detect_for_video(self, image, timestamp_ms):
        self.calls.append(timestamp_ms)
        return self.results[len(self.calls) - 1]

    def close(self):
        self.closed = True


@pytest.fixture
def fake_tasks(monkeypatch):
    """Fake `mediapipe` and `mediapipe.tasks.python` modules; returns the landmarkers made and
    the results each kind returns, to script per test."""
    made, results, failing = {}, {"hand": [], "pose": [], "face": []}, set()

    def task(kind):
        def create_from_options(options):
            if kind in failing:
                raise RuntimeError("bad model bundle")
            made[kind] = FakeLandmarker(options, results[kind])
            return made[kind]

        return SimpleNamespace(create_from_options=create_from_options)

    vision = SimpleNamespace(
        RunningMode=SimpleNamespace(VIDEO="VIDEO"),
        HandLandmarkerOptions=lambda **kwargs: kwargs,
        PoseLandmarkerOptions=lambda **kwargs: kwargs,
        FaceLandmarkerOptions=lambda **kwargs: kwargs,
        HandLandmarker=task("hand"),
        PoseLandmarker=task("pose"),
        FaceLandmarker=task("face"),
    )
    python = types.ModuleType("mediapipe.tasks.python")
    python.BaseOptions = lambda model_asset_path: {"model_asset_path": model_asset_path}
    python.vision = vision
    mediapipe = types.ModuleType("mediapipe")
    mediapipe.__version__ = "1.2.2"
    mediapipe.Image = lambda image_format, data: ("image", data.shape)
    mediapipe.ImageFormat = SimpleNamespace(SRGB="SRGB")
    monkeypatch.setitem(sys.modules, "mediapipe", mediapipe)
    monkeypatch.setitem(sys.modules, "mediapipe.tasks", types.ModuleType("mediapipe.tasks"))
    monkeypatch.setitem(sys.modules, "mediapipe.tasks.python", python)
    return SimpleNamespace(made=made, results=results, failing=failing)


def _hand_result(*hands):
    """A HandLandmarkerResult of `(wrist_x, label, score)` hands."""
    return SimpleNamespace(
        hand_landmarks=[_landmarks(21, x) for x, _, _ in hands],
        handedness=[[SimpleNamespace(category_name=label, score=s)] for _, label, s in hands],
    )


FRAME = np.zeros((8, 6, 3), np.uint8)


def test_tasks_body_backend_runs_three_landmarkers_on_each_frame(fake_tasks):
    fake_tasks.results["hand"] += [_hand_result((0.3, "Right", 0.9)), _hand_result()]
    fake_tasks.results["pose"] += [
        SimpleNamespace(pose_landmarks=[_landmarks(33, 0.2, visibility=0.7)]),
        SimpleNamespace(pose_landmarks=[]),
    ]
    fake_tasks.results["face"] += [
        SimpleNamespace(face_landmarks=[]),
        SimpleNamespace(face_landmarks=[_landmarks(478, 0.4)]),  # 468 + 10 iris points
    ]
    backend = body_backends.TasksBodyBackend("hand.task", "pose.task", "face.task")
    made = fake_tasks.made
    assert made["hand"].options["num_hands"] == 2 and made["pose"].options["num_poses"] == 1
    assert made["face"].options["num_faces"] == 1
    for kind in ("hand", "pose", "face"):
        assert made[kind].options["running_mode"] == "VIDEO"
        assert made[kind].options["base_options"] == {"model_asset_path": f"{kind}.task"}
    with tracker.BodyTracker(backend, "hands_pose_lips") as body_tracker:
        first = body_tracker.track(FRAME, 0.0)
        second = body_tracker.track(FRAME, 0.0334)
    assert [made[kind].calls for kind in ("hand", "pose", "face")] == [[0, 33]] * 3
    assert all(made[kind].closed for kind in ("hand", "pose", "face"))
    joints = kp.joint_set("hands_pose_lips")
    pose, lips = joints.part("pose"), joints.part("lips")
    positions, confidence = first  # (95, 3), (95,)
    # Tasks labels hands as seen in an unmirrored image: "Right" is the signer's right hand.
    np.testing.assert_allclose(confidence[kp.RIGHT_HAND], 0.9)
    np.testing.assert_allclose(positions[pose, 0], 0.2 + np.array(kp.POSE_POINTS) / 1000)
    np.testing.assert_allclose(confidence[pose], 0.7)
    assert np.all(positions[lips] == 0) and np.all(confidence[lips] == 0)  # no face
    positions, confidence = second
    assert np.all(confidence[:42] == 0) and np.all(confidence[pose] == 0)  # no hand, no pose
    np.testing.assert_allclose(positions[lips, 0], 0.4 + np.array(kp.LIP_POINTS) / 1000)
    np.testing.assert_array_equal(confidence[lips], 1.0)


def test_tasks_pose_without_visibility_counts_as_seen(fake_tasks):
    fake_tasks.results["hand"].append(_hand_result())
    fake_tasks.results["pose"].append(SimpleNamespace(pose_landmarks=[_landmarks(33, 0.2)]))
    backend = body_backends.TasksBodyBackend("hand.task", "pose.task")  # hands_pose: no face
    assert "face" not in fake_tasks.made
    _, confidence = tracker.BodyTracker(backend, "hands_pose").track(FRAME, 0.0)
    np.testing.assert_array_equal(confidence[42:], 1.0)


def test_a_pose_model_that_does_not_load_names_the_file_and_closes_the_others(fake_tasks):
    fake_tasks.failing.add("pose")
    with pytest.raises(pipeline.ExtractionError) as error:
        body_backends.TasksBodyBackend("hand.task", "my_pose.task", "face.task")
    assert "my_pose.task: MediaPipe cannot load this pose landmarker model" in str(error.value)
    assert "--pose_model" in str(error.value)
    assert fake_tasks.made["hand"].closed and "face" not in fake_tasks.made


class FakeHolistic:
    """`mp.solutions.holistic.Holistic` returning scripted results."""

    made: ClassVar[list] = []

    def __init__(self, **options):
        self.options, self.closed, self.results = options, False, []
        FakeHolistic.made.append(self)

    def process(self, image):
        return self.results.pop(0)

    def close(self):
        self.closed = True


def _holistic_result(left=None, right=None, pose=True, face=True):
    def wrapped(points):
        return None if points is None else SimpleNamespace(landmark=points)

    return SimpleNamespace(
        left_hand_landmarks=wrapped(None if left is None else _landmarks(21, left)),
        right_hand_landmarks=wrapped(None if right is None else _landmarks(21, right)),
        pose_landmarks=wrapped(_landmarks(33, 0.2, visibility=1.3) if pose else None),
        face_landmarks=wrapped(_landmarks(468, 0.4) if face else None),
    )


@pytest.fixture
def fake_holistic(monkeypatch):
    module = types.ModuleType("mediapipe.python.solutions.holistic")
    module.Holistic = FakeHolistic
    mediapipe = types.ModuleType("mediapipe")
    mediapipe.__version__ = "0.10.21"
    monkeypatch.setitem(sys.modules, "mediapipe", mediapipe)
    monkeypatch.setitem(sys.modules, "mediapipe.python", types.ModuleType("mediapipe.python"))
    solutions = types.ModuleType("mediapipe.python.solutions")
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions", solutions)
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions.holistic", module)
    FakeHolistic.made.clear()
    return FakeHolistic.made


@pytest.mark.parametrize(("mirrored", "slot"), [(False, kp.LEFT_HAND), (True, kp.RIGHT_HAND)])
def test_holistic_hands_are_named_from_the_signer(fake_holistic, mirrored, slot):
    backend = body_backends.HolisticBackend()
    holistic = fake_holistic[0]
    assert holistic.options == {"static_image_mode": False, "refine_face_landmarks": False}
    holistic.results += [_holistic_result(left=0.6), _holistic_result(right=0.3, face=False)]
    body_tracker = tracker.BodyTracker(backend, "hands_pose_lips", mirrored)
    positions, confidence = body_tracker.track(FRAME, 0.0)
    # Holistic gives no hand score: a found hand has confidence 1.
    np.testing.assert_array_equal(confidence[slot], 1.0)
    np.testing.assert_allclose(positions[slot][0, 0], 0.6)
    assert confidence[:42].sum() == 21
    pose = kp.joint_set("hands_pose_lips").part("pose")
    np.testing.assert_array_equal(confidence[pose], 1.0)  # visibility 1.3 clipped
    positions, confidence = body_tracker.track(FRAME, 0.04)
    assert np.all(confidence[-40:] == 0) and confidence[:42].sum() == 21
    body_tracker.close()
    assert holistic.closed


def test_holistic_missing_is_explained(monkeypatch):
    mediapipe = types.ModuleType("mediapipe")
    mediapipe.__version__ = "1.2.2"
    monkeypatch.setitem(sys.modules, "mediapipe", mediapipe)
    monkeypatch.setitem(sys.modules, "mediapipe.python.solutions.holistic", None)
    with pytest.raises(pipeline.ExtractionError, match=r"1\.2\.2 has no mp\.solutions\.holistic"):
        body_backends.HolisticBackend()


@pytest.fixture
def fake_choice(monkeypatch, tmp_path):
    """Fake backends, an empty model cache and offline downloads; returns a setter for the
    availability of legacy Holistic."""
    monkeypatch.setenv(model_file.CACHE_ENV, str(tmp_path / "cache"))
    for name in ("HAND_MODEL", "POSE_MODEL", "FACE_MODEL"):
        model = getattr(model_file, name)
        offline = dataclasses.replace(model, url=f"http://127.0.0.1:9/{model.filename}")
        monkeypatch.setattr(model_file, name, offline)
    state = {"legacy": False}
    monkeypatch.setattr(tracker, "import_mediapipe", lambda: SimpleNamespace(__version__="1.2.2"))
    monkeypatch.setattr(tracker, "has_legacy_holistic", lambda mediapipe: state["legacy"])
    legacy = SimpleNamespace(name="legacy", labels_assume_mirrored=False)
    monkeypatch.setattr(tracker, "HolisticBackend", lambda: legacy)

    def tasks_backend(*model_paths):
        return SimpleNamespace(name="tasks", labels_assume_mirrored=False, paths=model_paths)

    monkeypatch.setattr(tracker, "TasksBodyBackend", tasks_backend)
    return state


def _files(folder, *names):
    for name in names:
        (folder / name).write_bytes(b"model")
    return [folder / name for name in names]


def test_auto_takes_tasks_when_every_model_file_is_given(fake_choice, tmp_path):
    fake_choice["legacy"] = True
    hand, pose, face = _files(tmp_path, "h.task", "p.task", "f.task")
    chosen = tracker.open_tracker(
        "hands_pose_lips", model_path=hand, pose_model_path=pose, face_model_path=face
    )
    assert isinstance(chosen, tracker.BodyTracker) and chosen.backend.paths == (hand, pose, face)
    chosen = tracker.open_tracker("hands_pose", model_path=hand, pose_model_path=pose)
    assert chosen.backend.paths == (hand, pose) and chosen.joint_set.num_joints == 55


def test_auto_takes_holistic_when_a_model_file_is_missing(fake_choice, tmp_path):
    fake_choice["legacy"] = True
    (tmp_path / "cache").mkdir()
    _files(tmp_path / "cache", "hand_landmarker.task")  # cached hand model only
    chosen = tracker.open_tracker("hands_pose")
    assert chosen.backend_name == "legacy" and chosen.joint_set.name == "hands_pose"


def test_auto_without_model_files_or_holistic_names_both_options(fake_choice):
    with pytest.raises(pipeline.ExtractionError) as error:
        tracker.open_tracker("hands_pose_lips")
    message = str(error.value)
    assert "No hand, pose and face tracking backend is usable" in message
    assert "mp.solutions.holistic needs mediapipe 0.10.21" in message
    assert model_file.HAND_MODEL.sha256 in message  # the first model it could not get


def test_a_missing_pose_model_says_where_to_get_it(fake_choice, tmp_path):
    (hand,) = _files(tmp_path, "h.task")
    with pytest.raises(pipeline.ExtractionError) as error:
        tracker.open_tracker("hands_pose", "tasks", model_path=hand)
    message = str(error.value)
    assert model_file.POSE_MODEL.url in message and model_file.POSE_MODEL.sha256 in message
    assert "pose_landmarker_full.task" in message and "--pose_model FILE" in message


def test_model_paths_the_joint_set_does_not_use_are_refused(fake_choice, tmp_path):
    refused = r"--face_model f\.task: the hands_pose joint set needs no face landmarker"
    with pytest.raises(pipeline.ExtractionError, match=refused + ".*--joint_set hands_pose_lips"):
        tracker.open_tracker("hands_pose", face_model_path="f.task")
    with pytest.raises(pipeline.ExtractionError, match=r"--pose_model p\.task: the hands "):
        tracker.open_tracker("hands", pose_model_path="p.task")
    with pytest.raises(pipeline.ExtractionError, match="--joint_set: Unknown keypoint joint set"):
        tracker.open_tracker("hands_face")
