"""Video -> `(T, 42, 7)` keypoints with MediaPipe (docs/design.md, "Data contract").
No JAX, no TensorFlow.

    python -m whispersign_jax.extract --video F.mp4 --out F.npy [--backend auto|tasks|legacy]
        [--target_fps 60] [--mirrored] [--model_path hand_landmarker.task]

A video in which no hand is ever detected is an error (nothing to learn or recognise), as
are missing, unreadable, empty and one-frame videos; each ExtractionError names the file.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.extraction.backends import BACKENDS
from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.tracker import HandTracker, open_hand_tracker
from whispersign_jax.extraction.tracks import tracks_to_keypoints
from whispersign_jax.extraction.video import VideoReader

__all__ = [
    "ExtractionError",
    "HandTracker",
    "VideoTracks",
    "extract_keypoints",
    "extract_tracks",
    "open_hand_tracker",
    "track_frames",
    "track_video",
]


@dataclass(frozen=True)
class VideoTracks:
    """Per-frame hand tracks of one video, before resampling."""

    positions: np.ndarray  # (frames, 2, 21, 3) anatomical slots
    presence: np.ndarray  # (frames, 2) confidence, 0 = missing
    timestamps: np.ndarray  # (frames,) seconds, strictly increasing
    fps: float | None  # the container's frame rate, when it states one
    backend: str


def track_video(video_path: str | os.PathLike, tracker: HandTracker) -> VideoTracks:
    """Runs `tracker` over every frame of a video; raises ExtractionError for bad videos."""
    with VideoReader(video_path) as video:
        return track_frames(video.frames(), tracker, video_path, video.fps)


def track_frames(
    frames: Iterable[tuple[np.ndarray, float]],
    tracker: HandTracker,
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
                f"{source}: hand tracking failed at frame {len(timestamps)} ({error})"
            ) from error
        positions.append(frame_positions)  # (2, 21, 3)
        presence.append(frame_presence)  # (2,)
        timestamps.append(time_s)
    if len(timestamps) < 2:
        raise ExtractionError(
            f"{source}: {len(timestamps)} readable frame(s); a sign needs at least 2. The file "
            "is empty, truncated or not decodable by OpenCV; check it with a video player"
        )
    return VideoTracks(
        np.stack(positions), np.stack(presence), np.asarray(timestamps), fps, tracker.backend_name
    )


def extract_keypoints(
    video_path: str | os.PathLike,
    *,
    backend: str = "auto",
    target_fps: float | None = kp.FPS,
    mirrored: bool = False,
    model_path: str | os.PathLike | None = None,
) -> np.ndarray:
    """Keypoints float32 `(T, 42, 7)` of one video, resampled to `target_fps` (None: as is)."""
    tracks = extract_tracks(video_path, backend=backend, mirrored=mirrored, model_path=model_path)
    return keypoints_from_tracks(tracks, video_path, target_fps)


def extract_tracks(
    video_path: str | os.PathLike,
    *,
    backend: str = "auto",
    mirrored: bool = False,
    model_path: str | os.PathLike | None = None,
) -> VideoTracks:
    """Opens the video first (file errors come before MediaPipe starts), then tracks it."""
    with (
        VideoReader(video_path) as video,
        open_hand_tracker(backend, mirrored=mirrored, model_path=model_path) as tracker,
    ):
        return track_frames(video.frames(), tracker, video_path, video.fps)


def keypoints_from_tracks(
    tracks: VideoTracks, video_path: str | os.PathLike, target_fps: float | None
) -> np.ndarray:
    """Resamples the tracks; a video without any detected hand is an ExtractionError."""
    if not np.any(tracks.presence > 0):
        raise ExtractionError(
            f"{video_path}: no hand detected in any of its {tracks.timestamps.size} frames; "
            "check that the hands are in view and lit, or try the other backend"
        )
    try:
        return tracks_to_keypoints(tracks.positions, tracks.presence, tracks.timestamps, target_fps)
    except ValueError as error:
        raise ExtractionError(f"{video_path}: {error}") from error


def _fps_setting(text: str) -> float | None:
    if text.lower() in ("none", "0"):
        return None
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"--target_fps must be positive or none, got {text}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m whispersign_jax.extract", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--video", required=True, help="input video file")
    parser.add_argument("--out", required=True, help="output .npy file, float32 (T, 42, 7)")
    parser.add_argument("--backend", default="auto", choices=BACKENDS)
    parser.add_argument(
        "--target_fps",
        type=_fps_setting,
        default=float(kp.FPS),
        help="output frame rate (default 60); 'none' keeps the video's frames",
    )
    parser.add_argument(
        "--mirrored", action="store_true", help="the video is mirrored (a selfie view)"
    )
    parser.add_argument("--model_path", help="hand_landmarker.task for the tasks backend")
    args = parser.parse_args(argv)
    try:
        tracks = extract_tracks(
            args.video, backend=args.backend, mirrored=args.mirrored, model_path=args.model_path
        )
        keypoints = keypoints_from_tracks(tracks, args.video, args.target_fps)
    except ExtractionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, keypoints)
    hands_per_frame = (tracks.presence > 0).sum(axis=1)
    print(
        f"{args.video}: {tracks.timestamps.size} frames "
        f"({tracks.fps or float('nan'):.2f} fps), a hand in {np.count_nonzero(hands_per_frame)}, "
        f"both in {np.count_nonzero(hands_per_frame == 2)}; backend {tracks.backend}; "
        f"wrote {out} {keypoints.shape}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
