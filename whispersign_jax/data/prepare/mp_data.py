"""MP_Data folders of the MediaPipe-Holistic sign tutorial: `<root>/<gloss>/<sequence>/<frame>.npy`.

One `.npy` per frame, frames numbered 0, 1, ... (sorted numerically); one sequence is one
sample of one gloss and its own recording. No timestamps: frames are `fps` apart (default
`contract.UNTIMED_FPS`, a webcam's rate). The frame layout is detected from its length (see
`LAYOUTS`); it decides the joint sets the dataset can give (`LAYOUT_PARTS`): 1662 values all of
them, 258 hands and hands_pose, 126 hands only. Pose confidence is Holistic's visibility,
lips have confidence 1 where a face was detected; a part stored as zeros was not detected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.contract import UNTIMED_FPS
from whispersign_jax.data.prepare.common import (
    SourceResult,
    SourceSample,
    clean_gloss,
    collect_samples,
    hand_presence,
    joint_tracks,
    tracks_to_sample_keypoints,
)
from whispersign_jax.data.prepare.runner import progress

HAND_VALUES = kp.JOINTS_PER_HAND * 3  # 63: x, y, z of 21 points
# Values per frame -> where Holistic's left hand starts (the right hand follows it).
# 1662: pose 33 x 4, face 468 x 3, left, right. 258: pose 33 x 4, left, right. 126: hands only.
LAYOUTS = {1662: 132 + 468 * 3, 258: 132, 126: 0}
# What else each layout carries: pose 33 x (x, y, z, visibility) at value 0, face 468 x 3 at 132.
LAYOUT_PARTS = {1662: ("pose", "lips"), 258: ("pose",), 126: ()}
POSE_POINTS, POSE_VALUES = 33, 33 * 4
FACE_POINTS = 468
DESCRIPTIONS = {1662: "pose, face and hands", 258: "pose and hands", 126: "hands only"}


def find_root(data_dir: str | Path) -> Path:
    """`data_dir` itself, or its `MP_Data` subfolder when it has one."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir} is not a folder")
    nested = data_dir / "MP_Data"
    return nested if nested.is_dir() else data_dir


def frame_files(sequence_dir: Path) -> list[Path]:
    """The sequence's `<n>.npy` files in numeric order, numbered 0, 1, ... without gaps;
    other names and gaps raise a ValueError."""
    files = list(sequence_dir.glob("*.npy"))
    odd = [f.name for f in files if not f.stem.isdecimal()]
    if odd:
        raise ValueError(
            f"{sequence_dir}: frame files must be numbered (0.npy, 1.npy, ...), found {odd[:3]}"
        )
    files = sorted(files, key=lambda f: int(f.stem))
    numbers = [int(f.stem) for f in files]
    if numbers != list(range(len(files))):  # a gap would compress time without a word
        missing = sorted(set(range(numbers[-1] + 1)) - set(numbers)) if numbers else []
        raise ValueError(
            f"{sequence_dir}: frames must be numbered 0..{len(files) - 1} without gaps; "
            f"missing {missing[:5]}{' ...' if len(missing) > 5 else ''}"
            + (f", or duplicated numbers such as {odd}" if (odd := _duplicates(files)) else "")
        )
    return files


def _duplicates(files: list[Path]) -> list[str]:
    """Names of frame files whose number another file also has (``1.npy`` and ``01.npy``)."""
    seen: dict[int, str] = {}
    return [f.name for f in files if seen.setdefault(int(f.stem), f.name) != f.name]


def read_frames(sequence_dir: Path) -> np.ndarray:
    """`(T, values)` float64 frames of one sequence; raises ValueError naming the bad file."""
    frames = []
    for path in frame_files(sequence_dir):
        frame = kp.load_npy(path)
        if frame.ndim != 1 or frame.size not in LAYOUTS:
            raise ValueError(
                f"{path}: a frame must be 1-D with one of {sorted(LAYOUTS)} values "
                f"(MP_Data layouts), got shape {frame.shape}"
            )
        if frames and frame.size != frames[0].size:
            raise ValueError(f"{path}: {frame.size} values, earlier frames have {frames[0].size}")
        frames.append(frame.astype(np.float64))
    if not frames:
        raise ValueError(f"{sequence_dir}: no frame files (<n>.npy)")
    return np.stack(frames)  # (frames, values)


def frames_to_tracks(frames: np.ndarray, mirrored: bool = False) -> np.ndarray:
    """`(T, values)` MP_Data frames -> `(T, 2, 21, 3)` hands in anatomical order (left, right).

    Holistic names hands from the signer's point of view on an unmirrored image; a mirrored
    (selfie) recording swaps them.
    """
    start = LAYOUTS[frames.shape[1]]
    hands = frames[:, start : start + 2 * HAND_VALUES].reshape(len(frames), 2, -1, 3)
    return hands[:, ::-1] if mirrored else hands  # (frames, hands, joints, xyz)


def layout_joint_sets(values: int) -> list[str]:
    """The joint sets that frames of `values` values carry."""
    return [
        s.name
        for s in kp.JOINT_SETS.values()
        if set(s.parts) - set(kp.HAND_PARTS) <= set(LAYOUT_PARTS[values])
    ]


def frames_to_joints(
    frames: np.ndarray, keypoints: str, mirrored: bool, origin: str
) -> tuple[np.ndarray, np.ndarray]:
    """`(T, values)` MP_Data frames -> `(T, J, 3)` positions and `(T, J)` confidence of joint
    set `keypoints`; a ValueError naming `origin` when the layout does not carry it."""
    values, num_frames = frames.shape[1], len(frames)
    if keypoints not in layout_joint_sets(values):
        raise ValueError(
            f"{origin}: frames of {values} values carry {DESCRIPTIONS[values]}, not the "
            f"{keypoints} joint set"
        )
    hands = frames_to_tracks(frames)  # (frames, hands, joints, xyz), slots as Holistic names them
    presence = hand_presence(hands).astype(np.float64)
    parts = {part: (hands[:, i], presence[:, i]) for i, part in enumerate(kp.HAND_PARTS)}
    if "pose" in LAYOUT_PARTS[values]:
        pose = frames[:, :POSE_VALUES].reshape(num_frames, POSE_POINTS, 4)
        detected = np.any(pose != 0, axis=(1, 2))[:, None]  # (frames, 1)
        visibility = np.where(detected, np.clip(pose[:, kp.POSE_POINTS, 3], 0.0, 1.0), 0.0)
        parts["pose"] = (pose[:, kp.POSE_POINTS, :3], visibility)
    if "lips" in LAYOUT_PARTS[values]:
        face = frames[:, POSE_VALUES : POSE_VALUES + FACE_POINTS * 3]
        face = face.reshape(num_frames, FACE_POINTS, 3)
        parts["lips"] = (face[:, kp.LIP_POINTS], np.any(face != 0, axis=(1, 2)).astype(float))
    return joint_tracks(keypoints, parts, mirrored)


def read_sequence(
    sequence_dir: Path,
    fps: float,
    target_fps: float,
    mirrored: bool,
    origin: str,
    keypoints: str = kp.DEFAULT_JOINT_SET,
) -> np.ndarray:
    """One sequence folder -> float32 `(T', J, 7)` keypoints of joint set `keypoints` at
    `target_fps`."""
    frames = read_frames(sequence_dir)
    if keypoints == kp.DEFAULT_JOINT_SET:
        tracks = frames_to_tracks(frames, mirrored)
        presence = hand_presence(tracks).astype(np.float32)  # (frames, hands)
    else:
        tracks, presence = frames_to_joints(frames, keypoints, mirrored, origin)
    return tracks_to_sample_keypoints(tracks, presence, fps, target_fps, origin)


def detect_layout(sequence_dirs: list[Path]) -> int | None:
    """The value count of the first readable frame of a known layout, or None."""
    for sequence_dir in sequence_dirs:
        for path in sorted(sequence_dir.glob("*.npy")):
            try:
                frame = kp.load_npy(path)
            except ValueError:
                continue
            if frame.ndim == 1 and frame.size in LAYOUTS:
                return frame.size
    return None


def check_layout(root: Path, sequence_dirs: list[Path], keypoints: str) -> None:
    """Dataset-level: a ValueError when the frame layout (detected once) does not carry the
    joint set, naming the layout, what it carries and the --joint_set that fit."""
    values = detect_layout(sequence_dirs)
    if values is not None and keypoints not in layout_joint_sets(values):
        raise ValueError(
            f"{root}: MP_Data frames of {values} values carry {DESCRIPTIONS[values]}, not the "
            f"{keypoints} joint set; use --joint_set "
            f"{' or --joint_set '.join(layout_joint_sets(values))}"
        )


def _numeric_first(path: Path) -> tuple:
    return (0, int(path.name), "") if path.name.isdecimal() else (1, 0, path.name)


def mp_data_samples(
    data_dir: str | Path,
    result: SourceResult,
    *,
    fps: float = UNTIMED_FPS,
    target_fps: float = kp.FPS,
    mirrored: bool = False,
    keypoints: str = kp.DEFAULT_JOINT_SET,
) -> Iterator[SourceSample]:
    """Every `<gloss>/<sequence>/` folder under the MP_Data root as keypoints of joint set
    `keypoints`, one at a time; bad sequences are skipped into `result`, a layout without the
    set is a ValueError."""
    root = find_root(data_dir)
    gloss_dirs = sorted(path for path in root.iterdir() if path.is_dir())
    if not gloss_dirs:
        raise FileNotFoundError(
            f"{root} has no gloss folders; expected <root>/<gloss>/<sequence>/<frame>.npy"
        )
    sequence_dirs = [
        sequence_dir
        for gloss_dir in gloss_dirs
        for sequence_dir in sorted(filter(Path.is_dir, gloss_dir.iterdir()), key=_numeric_first)
    ]
    check_layout(root, sequence_dirs, keypoints)
    for sequence_dir in progress(sequence_dirs, "MP_Data", "sequence"):
        origin = str(sequence_dir)
        try:
            clip = read_sequence(sequence_dir, fps, target_fps, mirrored, origin, keypoints)
        except ValueError as error:
            result.skip(origin, str(error))
            continue
        gloss = sequence_dir.parent.name
        recording = f"mp_data:{gloss}/{sequence_dir.name}"
        yield SourceSample(clip, (clean_gloss(gloss),), recording, origin)


def read_mp_data(data_dir: str | Path, **options) -> SourceResult:
    """`mp_data_samples` (same options), all of them."""
    return collect_samples(mp_data_samples, data_dir, **options)
