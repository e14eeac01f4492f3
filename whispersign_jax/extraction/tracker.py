"""Frame-by-frame tracking into the joints of a joint set, for videos and live cameras:
`HandTracker` (hands, two anatomical slots) and `BodyTracker` (hands, pose and lips)."""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction import model_file
from whispersign_jax.extraction.backends import (
    BACKENDS,
    LEGACY_INSTALL_HINT,
    HandBackend,
    LegacyBackend,
    TasksBackend,
    has_legacy_hands,
    import_mediapipe,
)
from whispersign_jax.extraction.body import body_parts
from whispersign_jax.extraction.body_backends import (
    BodyBackend,
    HolisticBackend,
    TasksBodyBackend,
    has_legacy_holistic,
)
from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.slots import SlotAssigner


class FrameTracker:
    """What every tracker shares: RGB frame checks, MediaPipe's clock, closing on exit.

    `track(frame_rgb, timestamp_s)` takes RGB uint8 `(H, W, 3)` frames in time order and
    returns `(positions, presence)` of one frame (see the subclasses).
    """

    joint_set: kp.JointSet

    def __init__(self, backend: HandBackend | BodyBackend, mirrored: bool = False):
        self.backend = backend
        self.backend_name = backend.name
        self._slots = SlotAssigner(mirrored, backend.labels_assume_mirrored)
        self._last_ms: int | None = None

    def track(self, frame_rgb: np.ndarray, timestamp_s: float) -> tuple[np.ndarray, np.ndarray]:
        frame_rgb = np.asarray(frame_rgb)
        if frame_rgb.dtype != np.uint8 or frame_rgb.ndim != 3 or frame_rgb.shape[-1] != 3:
            raise ValueError(
                f"track expects an RGB uint8 frame (H, W, 3), got {frame_rgb.dtype} "
                f"{frame_rgb.shape}"
            )
        return self._track(self.backend.detect(frame_rgb, self._next_timestamp_ms(timestamp_s)))

    def _track(self, detection) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _next_timestamp_ms(self, timestamp_s: float) -> int:
        """MediaPipe's VIDEO mode needs strictly increasing whole milliseconds."""
        milliseconds = round(timestamp_s * 1000)
        if self._last_ms is not None and milliseconds <= self._last_ms:
            milliseconds = self._last_ms + 1  # repeated or rounded-together container times
        self._last_ms = milliseconds
        return milliseconds

    def close(self) -> None:
        self.backend.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


class HandTracker(FrameTracker):
    """Tracks both hands: positions `(2, 21, 3)` and presence `(2,)` per frame, in anatomical
    slots (0 left, 1 right)."""

    joint_set = kp.joint_set(kp.DEFAULT_JOINT_SET)

    def _track(self, detections) -> tuple[np.ndarray, np.ndarray]:
        return self._slots.assign(detections)


class BodyTracker(FrameTracker):
    """Tracks the joints of a joint set with pose (and lips): positions `(J, 3)` and confidence
    `(J,)` per frame (`keypoints.stack_parts`). The hands go to anatomical slots as with
    `HandTracker`; pose and lip points keep MediaPipe's anatomical names, which a mirrored
    (selfie) image gets from the wrong side: there they trade with their mirror points."""

    def __init__(self, backend: BodyBackend, joint_set: str, mirrored: bool = False):
        super().__init__(backend, mirrored)
        self.joint_set = kp.joint_set(joint_set)
        # Each body part's points in the order they take from MediaPipe's: a mirrored image
        # swaps every point with its mirror point (`JointSet.mirror` within the part).
        self._order = {}
        for part in self.joint_set.parts:
            if part not in kp.HAND_PARTS:
                joints = self.joint_set.part(part)
                mirror = np.array(self.joint_set.mirror[joints]) - joints.start
                self._order[part] = mirror if mirrored else np.arange(mirror.size)

    def _track(self, detection) -> tuple[np.ndarray, np.ndarray]:
        hands, presence = self._slots.assign(detection.hands)  # (2, 21, 3), (2,)
        slots = enumerate(kp.HAND_PARTS)
        parts = {part: (hands[None, slot], presence[None, slot]) for slot, part in slots}
        for part, (xyz, confidence) in body_parts(detection).items():
            if part in self._order:
                order = self._order[part]
                parts[part] = (xyz[None, order], confidence[None, order])  # (1, points, ...)
        positions, confidence = kp.stack_parts(self.joint_set, parts)  # (1, J, 3), (1, J)
        return positions[0], confidence[0]


@dataclasses.dataclass(frozen=True)
class TrackerSettings:
    """How video frames become keypoints: the joint set and the extractor's choices, the
    arguments of ``open_tracker`` (``extract``'s, ``recognize``'s and ``prepare``'s flags)."""

    keypoints: str = kp.DEFAULT_JOINT_SET  # the joint set (``--joint_set``)
    backend: str = "auto"
    mirrored: bool = False
    model_path: str | None = None  # --hand_model
    pose_model_path: str | None = None  # --pose_model
    face_model_path: str | None = None  # --face_model

    def options(self) -> dict:
        """``open_tracker``'s (and ``extract_keypoints``'s) keyword arguments."""
        return dataclasses.asdict(self)

    def open(self) -> FrameTracker:
        return open_tracker(**self.options())


def open_tracker(
    keypoints: str = kp.DEFAULT_JOINT_SET,
    backend: str = "auto",
    *,
    mirrored: bool = False,
    model_path: str | os.PathLike | None = None,
    pose_model_path: str | os.PathLike | None = None,
    face_model_path: str | os.PathLike | None = None,
) -> FrameTracker:
    """A tracker of joint set `keypoints` on the chosen backend: a HandTracker for `hands`,
    else a BodyTracker (legacy: Holistic; tasks: the Hand, Pose and Face landmarkers).

    `auto` takes Tasks when all its model files are at hand (given or cached), else the legacy
    solution when installed, else Tasks with downloads.
    """
    if backend not in BACKENDS:
        raise ExtractionError(f"--backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    try:
        joint_set = kp.joint_set(keypoints)
    except ValueError as error:
        raise ExtractionError(f"--joint_set: {error}") from error
    models = _task_models(joint_set, model_path, pose_model_path, face_model_path)
    hands_only = joint_set.parts == kp.HAND_PARTS

    def legacy() -> FrameTracker:
        if hands_only:
            return HandTracker(LegacyBackend(), mirrored)
        return BodyTracker(HolisticBackend(), joint_set.name, mirrored)

    def tasks() -> FrameTracker:
        files = [model_file.ensure_model(path, model=model) for model, path in models]
        if hands_only:
            return HandTracker(TasksBackend(*files), mirrored)
        return BodyTracker(TasksBodyBackend(*files), joint_set.name, mirrored)

    if backend == "legacy":
        return legacy()
    if backend == "tasks":
        return tasks()
    mediapipe = import_mediapipe()
    has_legacy = has_legacy_hands(mediapipe) if hands_only else has_legacy_holistic(mediapipe)
    given = any(path is not None for _, path in models)
    at_hand = all(model_file.available_model(path, model) for model, path in models)
    if not given and not at_hand and has_legacy:
        return legacy()
    try:
        return tasks()
    except ExtractionError as error:
        if has_legacy:
            raise  # a model file given or cached is the problem; the message says which
        what, solution = ("hand", "hands") if hands_only else ("hand, pose and face", "holistic")
        raise ExtractionError(
            f"No {what} tracking backend is usable. tasks: {error} legacy: mp.solutions."
            f"{solution} needs mediapipe 0.10.21 or older (installed: "
            f"{mediapipe.__version__}); {LEGACY_INSTALL_HINT}."
        ) from error


def _task_models(
    joint_set: kp.JointSet,
    model_path: str | os.PathLike | None,
    pose_model_path: str | os.PathLike | None,
    face_model_path: str | os.PathLike | None,
) -> list[tuple[model_file.ModelFile, str | os.PathLike | None]]:
    """The Tasks model files `joint_set` needs, each with the path given for it (or None); a
    path given for a model the set does not use is an ExtractionError."""
    wanted = [  # (model, path given, the part it finds)
        (model_file.HAND_MODEL, model_path, "left_hand"),
        (model_file.POSE_MODEL, pose_model_path, "pose"),
        (model_file.FACE_MODEL, face_model_path, "lips"),
    ]
    for model, path, part in wanted:
        if path is not None and part not in joint_set.parts:
            users = [s.name for s in kp.JOINT_SETS.values() if part in s.parts]
            raise ExtractionError(
                f"{model.flag} {path}: the {joint_set.name} joint set needs no "
                f"{model.description}; leave {model.flag} out, or extract --joint_set "
                f"{' or '.join(users)}"
            )
    return [(model, path) for model, path, part in wanted if part in joint_set.parts]


def open_hand_tracker(
    backend: str = "auto",
    *,
    mirrored: bool = False,
    model_path: str | os.PathLike | None = None,
) -> HandTracker:
    """A HandTracker on the chosen backend (`open_tracker` of the `hands` joint set)."""
    return open_tracker(kp.DEFAULT_JOINT_SET, backend, mirrored=mirrored, model_path=model_path)
