"""VOYA_VSL (`--format huggingface`): a local copy of the Hugging Face dataset `Kateht/VOYA_VSL`.

    <data_dir>/labels.json                  class id -> gloss name (or name -> id, or a list)
    <data_dir>/Merged/class_0000.npz        sequences (N, 60, 1605), labels (N,)

A 1605-value frame is 535 points x (x, y, z): 25 upper-body pose points (MediaPipe Pose 0-24,
no visibility), the left hand (points 25-45), the right hand (46-66), then 468 face points;
so it gives every joint set (`--joint_set`), pose and lips with confidence 1 in the frames
where the pose or the face has points. That hand layout was believed,
not documented, so it is verified on the data (bone-length ratios, `hand_anatomy`) and
against the pose wrists before anything is written. Each class file holds augmented copies
of one recording, so a class file is one recording: it never spans two splits. The frame
rate is not published; `fps` (default `contract.UNTIMED_FPS`, the camera rate of MediaPipe
webcam captures; at 30, 60 frames = 2 s, a typical isolated sign) is a setting.
"""

from __future__ import annotations

import json
import os
import zipfile
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
from whispersign_jax.data.prepare.hand_anatomy import hand_fit, rank_offsets
from whispersign_jax.data.prepare.runner import progress

POINTS, VALUES = 535, 1605
POSE_POINTS = 25  # MediaPipe Pose 0-24, first in the frame
HAND_STARTS = (25, 46)  # left, right
FACE_START = 67  # 468 Face Mesh points
POSE_WRISTS = (15, 16)  # MediaPipe Pose left, right wrist among the 25 pose points
SCAN_STARTS = range(0, 100)  # block starts compared with the believed ones (pose, hands, face)
SCAN_FRAMES = 120


class LayoutError(ValueError):
    """The data do not hold hands where VOYA_VSL's layout puts them."""


def find_files(data_dir: Path) -> tuple[list[Path], Path]:
    """(class files, labels.json) of a VOYA_VSL copy; FileNotFoundError saying what is missing."""
    merged = data_dir / "Merged" if (data_dir / "Merged").is_dir() else data_dir
    files = sorted(merged.glob("class_*.npz"))
    if not files:
        raise FileNotFoundError(
            f"{data_dir}: no Merged/class_XXXX.npz files; download Kateht/VOYA_VSL and pass "
            "its folder as --data_dir"
        )
    for folder in (data_dir, merged, data_dir.parent):
        if (folder / "labels.json").is_file():
            return files, folder / "labels.json"
    raise FileNotFoundError(f"{data_dir}: labels.json (class id -> gloss name) not found")


def load_label_names(path: Path) -> dict[int, str]:
    """{class id: gloss name} from labels.json in any of its plausible shapes."""
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not readable JSON ({error})") from error
    if isinstance(content, list):
        return {i: clean_gloss(name) for i, name in enumerate(content)}
    if isinstance(content, dict) and content:
        if all(isinstance(v, int) for v in content.values()):
            return {int(v): clean_gloss(k) for k, v in content.items()}  # name -> id
        if all(str(k).lstrip("-").isdecimal() for k in content):
            return {int(k): clean_gloss(v) for k, v in content.items()}  # id -> name
    raise ValueError(
        f"{path}: expected a list of gloss names, {{id: name}} or {{name: id}}, got "
        f"{type(content).__name__} {str(content)[:80]}"
    )


def load_class_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(points `(N, frames, 535, 3)`, labels `(N,)`) of one class file; ValueError if unusable."""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: unreadable .npz file (not a zip archive); download it again")
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = {"sequences", "labels"} - set(npz.files)
            if missing:
                raise ValueError(f"{path}: no {sorted(missing)} array (has {npz.files})")
            sequences, labels = npz["sequences"], npz["labels"].reshape(-1)
    except (OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"{path}: unreadable .npz file ({error})") from error
    except ValueError as error:
        if "pickle" in str(error):
            raise ValueError(f"{path}: arrays stored as Python objects are not loaded") from error
        raise
    if sequences.ndim != 3 or sequences.shape[2] != VALUES or len(sequences) != len(labels):
        raise ValueError(
            f"{path}: sequences {sequences.shape} with {len(labels)} labels; expected "
            f"(N, frames, {VALUES}) and N labels"
        )
    return sequences.reshape(*sequences.shape[:2], POINTS, 3).astype(np.float64), labels


def _hands(points: np.ndarray) -> list[np.ndarray]:
    """The two believed hand blocks of `(..., 535, 3)` points."""
    return [points[..., start : start + kp.JOINTS_PER_HAND, :] for start in HAND_STARTS]


def check_hands(points: np.ndarray, origin: str) -> None:
    """Raises LayoutError unless each believed hand block with points is hand-shaped."""
    frames = points.reshape(-1, POINTS, 3)  # (frames, points, xyz)
    for side, block in zip(("left", "right"), _hands(frames), strict=True):
        fit = hand_fit(block)
        if fit.frames and not fit.fits:
            start = HAND_STARTS[side == "right"]
            raise LayoutError(
                f"{origin}: points {start}-{start + 20} are not a {side} hand: {fit.describe()}"
            )


def verify_layout(points: np.ndarray, origin: str) -> None:
    """Dataset-level check on one class file: the believed blocks are hand-shaped, beat
    every other block start in `SCAN_STARTS`, and each sits at its own pose wrist."""
    frames = points.reshape(-1, POINTS, 3)
    frames = frames[np.linspace(0, len(frames) - 1, min(SCAN_FRAMES, len(frames))).astype(int)]
    check_hands(frames, origin)
    ranking = rank_offsets(frames, SCAN_STARTS)
    believed = [(s, f) for s, f in ranking if s in HAND_STARTS and f.frames]
    if not believed:
        raise LayoutError(f"{origin}: no hand points at {HAND_STARTS}; cannot verify the layout")
    weakest = min(fit.score for _, fit in believed)
    better = [s for s, f in ranking if s not in HAND_STARTS and f.fits and f.score > weakest]
    if better:
        raise LayoutError(
            f"{origin}: points starting at {better[:3]} look more like a hand than the believed "
            f"hands at {HAND_STARTS}; the 1605-value layout is not the expected one"
        )
    pose_wrists = frames[:, POSE_WRISTS, :2]  # (frames, 2, xy)
    for side, block in enumerate(_hands(frames)):
        usable = np.any(block != 0, axis=(1, 2)) & np.all(pose_wrists != 0, axis=(1, 2))
        if not usable.any():
            continue
        distances = np.linalg.norm(block[usable, None, kp.WRIST, :2] - pose_wrists[usable], axis=-1)
        own = np.mean(distances[:, side] < distances[:, 1 - side])  # share nearer its own wrist
        if own < 0.5:
            raise LayoutError(
                f"{origin}: the {('left', 'right')[side]} hand block (points "
                f"{HAND_STARTS[side]}-{HAND_STARTS[side] + 20}) sits at the pose's other wrist "
                f"in {1 - own:.0%} of frames; the hands are swapped relative to the pose"
            )


def sequence_joints(sequence: np.ndarray, keypoints: str) -> tuple[np.ndarray, np.ndarray]:
    """`(frames, 535, 3)` points -> `(frames, J, 3)` positions and `(frames, J)` confidence of
    joint set `keypoints`; a part whose points are all zero in a frame is missing there."""
    parts = {}
    for part, block in zip(kp.HAND_PARTS, _hands(sequence), strict=True):
        parts[part] = (block, np.any(block != 0, axis=(1, 2)).astype(float))
    pose = sequence[:, :POSE_POINTS]
    parts["pose"] = (pose[:, kp.POSE_POINTS], np.any(pose != 0, axis=(1, 2)).astype(float))
    face = sequence[:, FACE_START:]
    parts["lips"] = (face[:, kp.LIP_POINTS], np.any(face != 0, axis=(1, 2)).astype(float))
    return joint_tracks(keypoints, parts)


def read_class_file(
    path: Path,
    names: dict[int, str],
    fps: float,
    target_fps: float,
    result: SourceResult,
    keypoints: str = kp.DEFAULT_JOINT_SET,
) -> Iterator[SourceSample]:
    """The samples of one class file as joint set `keypoints`, one at a time; bad sequences
    are skipped into `result`."""
    points, labels = load_class_file(path)
    check_hands(points, str(path))
    recording = f"voya:{path.name}"
    glosses = set(names.values())
    for index, (sequence, label) in enumerate(zip(points, labels, strict=True)):
        origin = f"{path}[{index}]"
        text = str(label.item() if hasattr(label, "item") else label)
        gloss = names.get(int(text)) if text.lstrip("-").isdecimal() else clean_gloss(text)
        if gloss is None or gloss not in glosses:
            result.skip(origin, f"{origin}: label {text!r} is not in labels.json")
            continue
        if keypoints == kp.DEFAULT_JOINT_SET:
            tracks = np.stack(_hands(sequence), axis=1)  # (frames, hands, joints, xyz)
            presence = hand_presence(tracks).astype(np.float32)  # all-zero hand: missing
        else:
            tracks, presence = sequence_joints(sequence, keypoints)
        try:
            clip = tracks_to_sample_keypoints(tracks, presence, fps, target_fps, origin)
        except ValueError as error:
            result.skip(origin, str(error))
            continue
        yield SourceSample(clip, (gloss,), recording, origin)


def voya_samples(
    data_dir: str | Path,
    result: SourceResult,
    *,
    fps: float = UNTIMED_FPS,
    target_fps: float = kp.FPS,
    keypoints: str = kp.DEFAULT_JOINT_SET,
) -> Iterator[SourceSample]:
    """Every class file's samples as joint set `keypoints`, one at a time; the layout is
    verified on the first readable one (LayoutError), bad entries are skipped into `result`."""
    data_dir = Path(os.path.abspath(data_dir))
    files, labels_json = find_files(data_dir)
    names = load_label_names(labels_json)
    verified = False
    for path in progress(files, "VOYA_VSL", "class file"):
        try:
            if not verified:
                verify_layout(load_class_file(path)[0], str(path))
                verified = True
            yield from read_class_file(path, names, fps, target_fps, result, keypoints)
        except ValueError as error:
            if isinstance(error, LayoutError) and not verified:
                raise  # the whole dataset is not in the expected layout
            result.skip(str(path), str(error))


def read_voya(data_dir: str | Path, **options) -> SourceResult:
    """`voya_samples` (same options), all of them."""
    return collect_samples(voya_samples, data_dir, **options)
