"""Video -> `(T, J, 7)` keypoints with MediaPipe in one call: read frames, track them, resample
(docs/design.md, "Data contract"). No JAX, no TensorFlow; the command is ``extraction/__main__``.

A video in which no hand is ever detected is an error (nothing to learn or recognise), as are
missing, unreadable, empty and one-frame videos; each ExtractionError names the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.tracker import (
    BodyTracker,
    FrameTracker,
    HandTracker,
    open_hand_tracker,
    open_tracker,
)
from whispersign_jax.extraction.tracks import tracks_to_keypoints
from whispersign_jax.extraction.video import VideoReader

__all__ = [
    "BodyTracker",
    "ExtractionError",
    "FrameTracker",
    "HandTracker",
    "VideoTracks",
    "extract_keypoints",
    "extract_tracks",
    "open_hand_tracker",
    "open_tracker",
    "track_frames",
    "track_video",
]


@dataclass(frozen=True)
class VideoTracks:
    """Per-frame tracks of one video, before resampling: hands, or the joints of a joint set
    with pose (and lips)."""

    positions: np.ndarray  # (frames, 2, 21, 3) anatomical slots, or (frames, J, 3) joints
    presence: np.ndarray  # (frames, 2) or (frames, J) confidence, 0 = missing
    timestamps: np.ndarray  # (frames,) seconds, strictly increasing
    fps: float | None  # the container's frame rate, when it states one
    backend: str
    joint_set: str = kp.DEFAULT_JOINT_SET

    def part_presence(self, part: str) -> np.ndarray:
        """`(frames,)` bool: frames in which any point of `part` (`keypoints.PART_SIZES`) was
        found."""
        if self.presence.shape[1] == 2:  # hand slots
            return self.presence[:, kp.HAND_PARTS.index(part)] > 0
        return np.any(self.presence[:, kp.joint_set(self.joint_set).part(part)] > 0, axis=1)

    def hands_per_frame(self) -> np.ndarray:
        """`(frames,)` how many hands were found in each frame (0, 1 or 2)."""
        return sum(self.part_presence(part).astype(int) for part in kp.HAND_PARTS)


def track_video(video_path: str | os.PathLike, tracker: FrameTracker) -> VideoTracks:
    """Runs `tracker` over every frame of a video; raises ExtractionError for bad videos."""
    with VideoReader(video_path) as video:
        return track_frames(video.frames(), tracker, video_path, video.fps)


def track_frames(
    frames: Iterable[tuple[np.ndarray, float]],
    tracker: FrameTracker,
    source: str | os.PathLike,
    fps: float | None = None,
) -> VideoTracks:
    """Runs `tracker` over `(frame_rgb, time_s)` pairs; `source` names them in errors."""
    positions, presence, timestamps = [], [], []
    for frame_rgb, time_s in frames:
        try:
            frame_positions, frame_presence = tracker.track(frame_rgb, time_s)
        except (RuntimeError, ValueError) as error:
            raise ExtractionError(
                f"{source}: tracking failed at frame {len(timestamps)} ({error})"
            ) from error
        positions.append(frame_positions)  # (2, 21, 3) hands or (J, 3) joints
        presence.append(frame_presence)  # (2,) or (J,)
        timestamps.append(time_s)
    if len(timestamps) < 2:
        raise ExtractionError(
            f"{source}: {len(timestamps)} readable frame(s); a sign needs at least 2. The file "
            "is empty, truncated or not decodable by OpenCV; check it with a video player"
        )
    return VideoTracks(
        np.stack(positions),
        np.stack(presence),
        np.asarray(timestamps),
        fps,
        tracker.backend_name,
        tracker.joint_set.name,
    )


def extract_keypoints(
    video_path: str | os.PathLike, *, target_fps: float | None = kp.FPS, **tracker_options: Any
) -> np.ndarray:
    """Keypoints float32 `(T, J, 7)` of one video, resampled to `target_fps` (None: as is).
    `tracker_options` are `open_tracker`'s: the joint set `keypoints` (default hands),
    `backend`, `mirrored` and the MediaPipe model files."""
    tracks = extract_tracks(video_path, **tracker_options)
    return keypoints_from_tracks(tracks, video_path, target_fps)


def extract_tracks(video_path: str | os.PathLike, **tracker_options: Any) -> VideoTracks:
    """The tracks of one video (``tracker_options``: ``open_tracker``'s). Opens the video first,
    so file errors come before MediaPipe starts."""
    with VideoReader(video_path) as video, open_tracker(**tracker_options) as tracker:
        return track_frames(video.frames(), tracker, video_path, video.fps)


def keypoints_from_tracks(
    tracks: VideoTracks, video_path: str | os.PathLike, target_fps: float | None
) -> np.ndarray:
    """Resamples the tracks; a video without any detected hand is an ExtractionError."""
    if not np.any(tracks.hands_per_frame()):
        raise ExtractionError(
            f"{video_path}: no hand detected in any of its {tracks.timestamps.size} frames; "
            "check that the hands are in view and lit, or try the other backend"
        )
    try:
        return tracks_to_keypoints(tracks.positions, tracks.presence, tracks.timestamps, target_fps)
    except ValueError as error:
        raise ExtractionError(f"{video_path}: {error}") from error
