"""`.pose` files (the pose-format binary, versions 0.1 and 0.2), read with NumPy alone.

Layout, little-endian: header = version `f32`, width/height/depth `u16` x 3, component count
`u16`, then per component its name and point format (strings: `u16` length + UTF-8), point,
limb and colour counts `u16` x 3, the point names, limbs `u16` x 2 and colours `u16` x 3.
Body = fps and frame count (v0.1: `u16` x 2; v0.2: `f32` + `u32`), people `u16`, then
`float32 (frames, people, points, dims)` coordinates and `float32 (frames, people, points)`
confidences, where `dims` is the longest point format minus its confidence letter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.prepare.common import (
    SourceResult,
    SourceSample,
    clean_gloss,
    collect_samples,
    joint_tracks,
    tracks_to_sample_keypoints,
)
from whispersign_jax.data.prepare.paths import resolve_inside
from whispersign_jax.data.prepare.runner import progress

# (left, right) hand component names of the pose-format estimators, tried in order.
HAND_COMPONENTS = (
    ("LEFT_HAND_LANDMARKS", "RIGHT_HAND_LANDMARKS"),  # MediaPipe Holistic
    ("hand_left_keypoints_2d", "hand_right_keypoints_2d"),  # OpenPose
    ("LEFT_HAND", "RIGHT_HAND"),  # COCO-WholeBody 133
    ("LEFT_HAND_133", "RIGHT_HAND_133"),  # AlphaPose 133
    ("LEFT_HAND_136", "RIGHT_HAND_136"),  # AlphaPose 136
)
PIXEL_DEPTH = 10.0  # stored |z| above this is in pixels, not MediaPipe's relative units
# MediaPipe Holistic's body and face components: pose points by MediaPipe's names
# (`keypoints.POSE_POINT_NAMES`), face points by their Face Mesh number ("0" .. "467").
BODY_COMPONENTS = {"pose": "POSE_LANDMARKS", "lips": "FACE_LANDMARKS"}


@dataclasses.dataclass(frozen=True)
class PoseComponent:
    name: str
    point_format: str  # e.g. "XYZC"
    points: tuple[str, ...]
    first_point: int  # index of its first point among all points of the file


@dataclasses.dataclass(frozen=True)
class PoseFile:
    version: float
    width: int
    height: int
    components: tuple[PoseComponent, ...]
    fps: float
    data: np.ndarray  # float32 (frames, people, points, dims), pixels
    confidence: np.ndarray  # float32 (frames, people, points)


class _Reader:
    """Sequential little-endian reads; running past the end is a clear ValueError."""

    def __init__(self, buffer: bytes, origin: str):
        self.buffer, self.offset, self.origin = buffer, 0, origin

    def take(self, size: int) -> bytes:
        if self.offset + size > len(self.buffer):
            raise ValueError(
                f"{self.origin}: truncated .pose file (needs {self.offset + size} bytes, "
                f"has {len(self.buffer)})"
            )
        chunk = self.buffer[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def text(self) -> str:
        (length,) = self.unpack("H")
        return self.take(length).decode("utf-8", errors="replace")

    def floats(self, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape))
        return np.frombuffer(self.take(4 * count), dtype="<f4").reshape(shape)


def parse_pose(buffer: bytes, origin: str) -> PoseFile:
    """Parses the bytes of a `.pose` file; ValueError naming `origin` if they do not fit."""
    reader = _Reader(buffer, origin)
    (version,) = reader.unpack("f")
    version = round(version, 3)
    if version not in (0.1, 0.2):
        raise ValueError(
            f"{origin}: pose-format version {version} is not supported (0.1 and 0.2 are); "
            "re-save the file with a current pose-format"
        )
    width, height, _depth = reader.unpack("HHH")
    (count,) = reader.unpack("H")
    components, first_point = [], 0
    for _ in range(count):
        name, point_format = reader.text(), reader.text()
        num_points, num_limbs, num_colors = reader.unpack("HHH")
        points = tuple(reader.text() for _ in range(num_points))
        reader.take(4 * num_limbs + 6 * num_colors)  # limbs (u16, u16), colours (u16 x 3)
        components.append(PoseComponent(name, point_format, points, first_point))
        first_point += num_points
    if version == 0.1:
        fps, _frames = reader.unpack("HH")  # the u16 frame count overflows: use the size
        (people,) = reader.unpack("H")
    else:
        fps, _frames = reader.unpack("fI")
        (people,) = reader.unpack("H")
    dims = max((len(c.point_format) for c in components), default=1) - 1
    frame_bytes = 4 * people * first_point * (dims + 1)
    remaining = len(buffer) - reader.offset
    if frame_bytes == 0 or remaining % frame_bytes:
        raise ValueError(
            f"{origin}: body of {remaining} bytes is not whole frames of {people} people x "
            f"{first_point} points x {dims + 1} values; the file is truncated or corrupt"
        )
    frames = remaining // frame_bytes if version == 0.1 else _frames
    data = reader.floats((frames, people, first_point, dims))
    confidence = reader.floats((frames, people, first_point))
    return PoseFile(version, width, height, tuple(components), float(fps), data, confidence)


def hand_components(pose: PoseFile, origin: str) -> tuple[PoseComponent, PoseComponent]:
    """The (left, right) 21-point hand components, found by name."""
    by_name = {component.name: component for component in pose.components}
    for left, right in HAND_COMPONENTS:
        if left in by_name and right in by_name:
            hands = by_name[left], by_name[right]
            if all(len(hand.points) == kp.JOINTS_PER_HAND for hand in hands):
                return hands
    raise ValueError(
        f"{origin}: no pair of 21-point hand components; it has {sorted(by_name)}, expected "
        f"one of {[pair[0] for pair in HAND_COMPONENTS]} with its right-hand partner"
    )


def pose_to_tracks(pose: PoseFile, origin: str, mirrored: bool = False):
    """(positions `(T, 2, 21, 3)` in image units, presence `(T, 2)`) of the first person.

    Pixels are divided by the header's width and height. z becomes depth relative to the
    wrist, as MediaPipe defines it for hands: files that store raw MediaPipe z keep its scale,
    files that store it in pixels (|z| > `PIXEL_DEPTH`, e.g. 625 with an offset) are divided
    by the width; 2-D formats have z = 0. A hand whose points all have confidence 0 is missing.
    """
    if pose.width <= 0 or pose.height <= 0:
        raise ValueError(f"{origin}: header dimensions {pose.width}x{pose.height} are not usable")
    if pose.data.shape[1] < 1:
        raise ValueError(f"{origin}: the file holds no person")
    hands = []
    for component in hand_components(pose, origin):
        points = slice(component.first_point, component.first_point + kp.JOINTS_PER_HAND)
        xyz = np.zeros((pose.data.shape[0], kp.JOINTS_PER_HAND, 3))  # (frames, joints, xyz)
        dims = min(pose.data.shape[-1], 3)
        xyz[..., :dims] = pose.data[:, 0, points, :dims]
        xyz[..., 0] /= pose.width
        xyz[..., 1] /= pose.height
        xyz[..., 2] -= xyz[:, :1, 2]  # depth relative to the wrist
        if np.abs(pose.data[:, 0, points, 2:3]).max(initial=0.0) > PIXEL_DEPTH:
            xyz[..., 2] /= pose.width
        score = pose.confidence[:, 0, points]  # (frames, joints)
        presence = np.where((score > 0).any(axis=1), np.clip(score.max(axis=1), 0, 1), 0.0)
        hands.append((xyz, presence))
    if mirrored:
        hands = hands[::-1]
    positions = np.stack([xyz for xyz, _ in hands], axis=1)  # (frames, hands, joints, xyz)
    presence = np.stack([p for _, p in hands], axis=1)  # (frames, hands)
    return positions, presence


def body_part(pose: PoseFile, part: str, origin: str, missing: set[str]):
    """(positions `(T, n, 3)` in image units, confidence `(T, n)`) of the pose or lips part
    from Holistic's components, found by point name. Points the file lacks (pose-format's
    reduced Holistic keeps fewer) are missing throughout and added to `missing`; a file
    without the component or without any of the part's points is a ValueError."""
    component_name = BODY_COMPONENTS[part]
    by_name = {component.name: component for component in pose.components}
    if component_name not in by_name:
        raise ValueError(
            f"{origin}: no {component_name} component (it has {sorted(by_name)}), so no {part} "
            "points; prepare it with a smaller --joint_set (hands)"
        )
    component = by_name[component_name]
    wanted = kp.POSE_POINT_NAMES if part == "pose" else tuple(map(str, kp.LIP_POINTS))
    found = np.array([name in component.points for name in wanted])  # (n,)
    if not found.any():
        raise ValueError(f"{origin}: {component_name} has none of the {part} points {wanted}")
    missing.update(f"{component_name}:{name}" for name in np.array(wanted)[~found])
    columns = [component.first_point + component.points.index(name) for name in wanted
               if name in component.points]  # fmt: skip
    data = pose.data[:, 0, columns]  # (frames, found points, dims)
    xyz = np.zeros((len(data), len(wanted), 3))  # (frames, points, xyz)
    dims = min(data.shape[-1], 3)
    xyz[:, found, :dims] = data[..., :dims]
    xyz[..., :2] /= (pose.width, pose.height)
    confidence = np.zeros((len(data), len(wanted)))
    confidence[:, found] = np.clip(pose.confidence[:, 0, columns], 0.0, 1.0)
    if np.abs(data[..., 2:3]).max(initial=0.0) > PIXEL_DEPTH:
        # Pixel depth with an offset: relative to the part's mean depth, in image widths.
        present = confidence > 0
        mean = (xyz[..., 2] * present).sum(1) / np.maximum(present.sum(1), 1)  # (frames,)
        xyz[..., 2] = (xyz[..., 2] - mean[:, None]) / pose.width
    if part == "lips":  # Face Mesh has no per-point score: the face's detection is theirs
        face = slice(component.first_point, component.first_point + len(component.points))
        detected = (pose.confidence[:, 0, face] > 0).any(axis=1)  # (frames,)
        confidence = np.where(found, detected[:, None], False).astype(np.float64)
    return xyz, confidence


def pose_to_joints(
    pose: PoseFile, origin: str, keypoints: str, mirrored: bool = False, missing=None
) -> tuple[np.ndarray, np.ndarray]:
    """`(T, J, 3)` positions and `(T, J)` confidence of joint set `keypoints`: the hands as
    `pose_to_tracks` reads them, pose and lips from Holistic's components (`body_part`)."""
    hands, presence = pose_to_tracks(pose, origin)
    parts = {part: (hands[:, i], presence[:, i]) for i, part in enumerate(kp.HAND_PARTS)}
    for part in kp.joint_set(keypoints).parts:
        if part not in parts:
            parts[part] = body_part(pose, part, origin, set() if missing is None else missing)
    return joint_tracks(keypoints, parts, mirrored)


def read_pose_keypoints(
    path: Path,
    target_fps: float = kp.FPS,
    mirrored: bool = False,
    keypoints: str = kp.DEFAULT_JOINT_SET,
    missing: set[str] | None = None,
) -> np.ndarray:
    """One `.pose` file -> float32 `(T', J, 7)` keypoints of joint set `keypoints` at
    `target_fps`; ValueError names the file. Body points the file lacks go to `missing`."""
    try:
        buffer = path.read_bytes()
    except OSError as error:
        raise ValueError(f"{path}: cannot read the file ({error})") from error
    pose = parse_pose(buffer, str(path))
    if not pose.fps > 0:
        raise ValueError(f"{path}: frame rate {pose.fps} in the file is not usable")
    if keypoints == kp.DEFAULT_JOINT_SET:
        positions, presence = pose_to_tracks(pose, str(path), mirrored)
    else:
        positions, presence = pose_to_joints(pose, str(path), keypoints, mirrored, missing)
    return tracks_to_sample_keypoints(positions, presence, pose.fps, target_fps, str(path))


def labels_from_csv(data_dir: Path, label_csv: str | Path, result: SourceResult) -> dict:
    """{.pose path: gloss} from a CSV of file paths (relative to `data_dir`) and labels."""
    from whispersign_jax.data.prepare.video_csv import detect_columns, read_csv_rows

    csv_path = Path(label_csv)
    if not csv_path.is_file() and (data_dir / csv_path).is_file():
        csv_path = data_dir / csv_path
    if not csv_path.is_file():
        raise FileNotFoundError(f"--label_csv {label_csv}: no such file")
    columns, rows = read_csv_rows(csv_path)
    file_column, label_column = detect_columns(columns, csv_path)
    labels = {}
    for line, row in enumerate(rows, start=2):
        origin = f"{csv_path}:{line}"
        gloss = clean_gloss(row.get(label_column, ""))
        try:
            path = resolve_inside(data_dir, row.get(file_column, ""), origin)
        except ValueError as error:
            result.skip(origin, str(error))
            continue
        if not gloss:
            result.skip(origin, f"{origin}: empty {label_column}")
            continue
        labels[path] = gloss
    return labels


def pose_samples(
    data_dir: str | Path,
    result: SourceResult,
    *,
    label_csv: str | Path | None = None,
    target_fps: float = kp.FPS,
    mirrored: bool = False,
    keypoints: str = kp.DEFAULT_JOINT_SET,
) -> Iterator[SourceSample]:
    """`--format pose`: every `.pose` file under `data_dir`, one sample each, one at a time, as
    joint set `keypoints` (pose and lips from MediaPipe Holistic's components; points a file
    lacks are missing throughout, with one warning naming them).

    The gloss comes from `label_csv` (a file/path column and a label/gloss column) when
    given, else from the file's folder: `<data_dir>/<gloss>/<name>.pose`. A file is its own
    recording (identified by its bytes, so copies share a split).
    """
    data_dir = Path(os.path.abspath(data_dir))
    if not data_dir.is_dir():
        raise FileNotFoundError(f"--data_dir {data_dir} is not a folder")
    labels = None if label_csv is None else labels_from_csv(data_dir, label_csv, result)
    files = sorted(data_dir.rglob("*.pose"))
    if labels is not None:
        for path in sorted(set(labels) - set(files)):
            result.skip(str(path), f"{path}: listed in {label_csv} but not found")
    lacking: set[str] = set()  # body points some files do not have
    for path in progress(files, ".pose files", "file"):
        if labels is not None:
            gloss = labels.get(path)
            missing = f"{path}: no row in {label_csv}; skipped"
        else:
            gloss = clean_gloss(path.parent.name) if path.parent != data_dir else None
            missing = f"{path}: no label; put it in a <gloss>/ folder or pass --label_csv"
        if not gloss:
            result.skip(str(path), missing)
            continue
        try:
            clip = read_pose_keypoints(path, target_fps, mirrored, keypoints, lacking)
        except ValueError as error:
            result.skip(str(path), str(error))
            continue
        recording = "sha1:" + hashlib.sha1(path.read_bytes()).hexdigest()
        yield SourceSample(clip, (gloss,), recording, str(path))
    if lacking:
        logging.warning(
            "%s: some .pose files lack %d %s points (%s); those joints are missing (confidence "
            "0) in them.", data_dir, len(lacking), keypoints, ", ".join(sorted(lacking)),
        )  # fmt: skip


def read_pose_folder(data_dir: str | Path, **options) -> SourceResult:
    """`pose_samples` (same options), all of them."""
    return collect_samples(pose_samples, data_dir, **options)
