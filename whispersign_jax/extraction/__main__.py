"""Video -> `(T, J, 7)` keypoints with MediaPipe (docs/design.md, "Data contract").
No JAX, no TensorFlow.

    python -m whispersign_jax.extraction --video F.mp4 --out F.npy [--backend auto|tasks|legacy]
        [--joint_set hands|hands_pose|hands_pose_lips] [--target_fps 60] [--mirrored]
        [--hand_model hand_landmarker.task] [--pose_model pose_landmarker_full.task]
        [--face_model face_landmarker.task]

`--joint_set hands` (the default) tracks the hands only; the sets with pose and lips use
Holistic (legacy backend) or the Tasks Pose and Face landmarkers next to the hand landmarker.
A video in which no hand is ever detected is an error (nothing to learn or recognise), as
are missing, unreadable, empty and one-frame videos; each ExtractionError names the file.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from absl import flags

from whispersign_jax import cli
from whispersign_jax import keypoints as kp
from whispersign_jax.cli.flag_names import MEDIAPIPE_MODELS, RENAMED, define_absl_old_names
from whispersign_jax.errors import one_line_errors
from whispersign_jax.extraction import model_file
from whispersign_jax.extraction.backends import BACKENDS
from whispersign_jax.extraction.errors import ExtractionError
from whispersign_jax.extraction.pipeline import extract_tracks, keypoints_from_tracks
from whispersign_jax.extraction.tracker import TrackerSettings


def target_fps_setting(text: str) -> float | None:
    """``--target_fps``: a positive rate, or none (0) to keep the video's frames."""
    if text.lower() in ("none", "0"):
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        cli.usage_error(f"--target_fps must be a positive number or none, got {text!r}")
    return value


def define_flags(values: flags.FlagValues) -> None:
    """extract's flags, on ``values`` (``cli.parse_own_flags``)."""
    flags.DEFINE_string("video", None, "Input video file.", flag_values=values, required=True)
    flags.DEFINE_string(
        "out", None, "Output .npy file, float32 (T, J, 7).", flag_values=values, required=True
    )
    flags.DEFINE_enum(
        "joint_set",
        kp.DEFAULT_JOINT_SET,
        list(kp.JOINT_SETS),
        "Joint set: " + ", ".join(s.describe() for s in kp.JOINT_SETS.values()) + ".",
        flag_values=values,
    )
    flags.DEFINE_enum("backend", "auto", list(BACKENDS), "MediaPipe backend.", flag_values=values)
    flags.DEFINE_string(
        "target_fps",
        str(kp.FPS),
        f"Output frame rate (default {kp.FPS}); 'none' keeps the video's frames.",
        flag_values=values,
    )
    flags.DEFINE_bool(
        "mirrored", False, "The video is mirrored (a selfie view).", flag_values=values
    )
    for model, name in zip(
        model_file.MODELS, (RENAMED[old] for old in MEDIAPIPE_MODELS), strict=True
    ):
        flags.DEFINE_string(
            name, None, f"{model.filename} for the tasks backend.", flag_values=values
        )
    define_absl_old_names("keypoints", *MEDIAPIPE_MODELS, flag_values=values)


@one_line_errors
def main(argv: list[str] | None = None) -> int:
    args = cli.parse_own_flags(define_flags, argv, __doc__)
    target_fps = target_fps_setting(args.target_fps)
    try:
        settings = TrackerSettings(
            args.joint_set, args.backend, args.mirrored, args.hand_model, args.pose_model,
            args.face_model,
        )  # fmt: skip
        tracks = extract_tracks(args.video, **settings.options())
        keypoints = keypoints_from_tracks(tracks, args.video, target_fps)
    except ExtractionError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    np.save(out, keypoints)
    hands_per_frame = tracks.hands_per_frame()
    body = "".join(
        f", {part} in {np.count_nonzero(tracks.part_presence(part))}"
        for part in kp.joint_set(tracks.joint_set).parts
        if part not in kp.HAND_PARTS
    )
    print(
        f"{args.video}: {tracks.timestamps.size} frames "
        f"({tracks.fps or float('nan'):.2f} fps), a hand in {np.count_nonzero(hands_per_frame)}, "
        f"both in {np.count_nonzero(hands_per_frame == 2)}{body}; backend {tracks.backend}; "
        f"wrote {out} {keypoints.shape}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
