"""The keypoint contract: joint sets, joint order, feature layout and their helpers.

This is the one module that knows how a `(frames, joints, 7)` keypoint array is laid out
(docs/design.md, "Data contract"): the joint sets (`JOINT_SETS`: `hands` 42 joints, the
default; `hands_pose` 55; `hands_pose_lips` 95), the order of their parts and the mirror
permutation of each. Every set starts with the two hands, so `keypoints[:, :42]` is always
the hands. It imports NumPy only, so the extractor and the data tools can use it without JAX.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

import numpy as np

FPS = 60
NUM_JOINTS = 42  # joints of the `hands` set, the default
JOINTS_PER_HAND = 21
NUM_FEATURES = 7

# Hand slots: the signer's anatomical left hand first, then the right hand.
LEFT_HAND = slice(0, 21)
RIGHT_HAND = slice(21, 42)

# Features of each joint: position, velocity per second, confidence (0 = joint missing).
XYZ = slice(0, 3)
VELOCITY = slice(3, 6)
CONFIDENCE = 6

# MediaPipe's 21-point hand topology; joint numbers within one hand.
WRIST = 0
THUMB = (1, 2, 3, 4)
INDEX = (5, 6, 7, 8)
MIDDLE = (9, 10, 11, 12)
RING = (13, 14, 15, 16)
LITTLE = (17, 18, 19, 20)
# Parent of each joint (the wrist is the root); every finger chain starts at the wrist.
HAND_PARENTS = (-1, 0, 1, 2, 3, 0, 5, 6, 7, 0, 9, 10, 11, 0, 13, 14, 15, 0, 17, 18, 19)
# (parent, child) pairs, one per bone.
HAND_BONES = tuple((parent, joint) for joint, parent in enumerate(HAND_PARENTS) if parent >= 0)

# Upper-body points of MediaPipe Pose (33-point topology), in the order the sets carry them,
# with MediaPipe's names (pose-format files name their points so).
POSE_POINTS = (0, 2, 5, 7, 8, 11, 12, 13, 14, 15, 16, 23, 24)
POSE_POINT_NAMES = (
    "NOSE", "LEFT_EYE", "RIGHT_EYE", "LEFT_EAR", "RIGHT_EAR", "LEFT_SHOULDER", "RIGHT_SHOULDER",
    "LEFT_ELBOW", "RIGHT_ELBOW", "LEFT_WRIST", "RIGHT_WRIST", "LEFT_HIP", "RIGHT_HIP",
)  # fmt: skip
POSE_MIRROR_PAIRS = ((2, 5), (7, 8), (11, 12), (13, 14), (15, 16), (23, 24))  # the nose: itself
# Lip points of MediaPipe Face Mesh (468-point topology): the outer contour, then the inner.
LIP_POINTS = (
    61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 185, 40, 39, 37, 0, 267, 269, 270, 409,
    78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 191, 80, 81, 82, 13, 312, 311, 310, 415,
)  # fmt: skip
# 17, 0, 14 and 13 lie on the midline: each mirrors to itself.
LIP_MIRROR_PAIRS = (
    (61, 291), (146, 375), (91, 321), (181, 405), (84, 314), (185, 409), (40, 270), (39, 269),
    (37, 267), (78, 308), (95, 324), (88, 318), (178, 402), (87, 317), (191, 415), (80, 310),
    (81, 311), (82, 312),
)  # fmt: skip

# The parts a joint set is made of, in joint order, and their sizes.
PART_SIZES = {
    "left_hand": JOINTS_PER_HAND,
    "right_hand": JOINTS_PER_HAND,
    "pose": len(POSE_POINTS),
    "lips": len(LIP_POINTS),
}
HAND_PARTS = ("left_hand", "right_hand")


def _mirror_within(points: tuple[int, ...], pairs: tuple[tuple[int, int], ...]) -> list[int]:
    """Position of each point's mirror partner among `points` (unpaired points: themselves)."""
    partner = {point: point for point in points}
    for a, b in pairs:
        partner[a], partner[b] = b, a
    return [points.index(partner[point]) for point in points]


@dataclasses.dataclass(frozen=True)
class JointSet:
    """A joint layout: its parts in order and the left-right mirror permutation of its joints
    (an involution: in a mirrored image joints `j` and `mirror[j]` trade places)."""

    name: str
    parts: tuple[str, ...]
    num_joints: int
    mirror: tuple[int, ...]

    def part(self, name: str) -> slice:
        """The joints of part `name` (a key of `PART_SIZES`)."""
        start = 0
        for part in self.parts:
            if part == name:
                return slice(start, start + PART_SIZES[part])
            start += PART_SIZES[part]
        raise KeyError(f"joint set {self.name} has no part {name!r}; it has {self.parts}")

    def describe(self) -> str:
        return f"{self.name} ({self.num_joints} joints)"


def _joint_set(name: str, parts: tuple[str, ...]) -> JointSet:
    # Hands always come first, so their mirror swaps the two slots wherever the set ends.
    joints = range(NUM_JOINTS)
    hands = {"left_hand": list(joints[RIGHT_HAND]), "right_hand": list(joints[LEFT_HAND])}
    within = {
        "pose": _mirror_within(POSE_POINTS, POSE_MIRROR_PAIRS),
        "lips": _mirror_within(LIP_POINTS, LIP_MIRROR_PAIRS),
    }
    if parts[:2] != HAND_PARTS:
        raise ValueError(f"joint set {name}: the hands must come first, got {parts}")
    mirror, start = [], 0
    for part in parts:
        mirror += hands[part] if part in hands else [start + j for j in within[part]]
        start += PART_SIZES[part]
    return JointSet(name, parts, start, tuple(mirror))


DEFAULT_JOINT_SET = "hands"
JOINT_SETS = {
    joint_set.name: joint_set
    for joint_set in (
        _joint_set("hands", HAND_PARTS),
        _joint_set("hands_pose", (*HAND_PARTS, "pose")),
        _joint_set("hands_pose_lips", (*HAND_PARTS, "pose", "lips")),
    )
}


def joint_set(name: str | JointSet) -> JointSet:
    """The joint set called `name` (`config.data.keypoints`, `--joint_set`); a ValueError
    listing the choices for an unknown name."""
    return _resolve(name)


def _resolve(name: str | JointSet) -> JointSet:
    if isinstance(name, JointSet):
        return name
    if name not in JOINT_SETS:
        choices = ", ".join(s.describe() for s in JOINT_SETS.values())
        raise ValueError(f"Unknown keypoint joint set {name!r}; choose one of {choices}.")
    return JOINT_SETS[name]


def recorded_joint_set(name: str | None) -> str:
    """The joint set a record names (a checkpoint, a dataset's ``keypoints.json``, TFDS
    metadata, a config), checked; records written before joint sets existed name none and
    hold hands (``DEFAULT_JOINT_SET``). The one place that knows that."""
    return joint_set(name or DEFAULT_JOINT_SET).name


def joint_set_for(num_joints: int) -> JointSet | None:
    """The joint set with `num_joints` joints (the counts differ), or None."""
    return next((s for s in JOINT_SETS.values() if s.num_joints == num_joints), None)


def _per_joint(values: np.ndarray, num_joints: int) -> np.ndarray:
    """`(T, J)` per-joint values as they are, or `(T, 2)` per hand slot of the hands set
    repeated over each hand's 21 joints."""
    if values.ndim == 2 and values.shape[1] == 2 and num_joints == NUM_JOINTS:
        return np.repeat(values, JOINTS_PER_HAND, axis=1)
    return values


def _differences(xyz, present, xp=np):
    """The two frames of each joint's velocity difference, never across a missing joint:
    `upper - lower` spans frames t-1..t+1 where both neighbours have the joint, one side where
    only one has it, nothing (both t) otherwise. Returns `has_previous`, `has_next` `(T, J)`
    and `upper`, `lower` `(T, J, 3)`."""
    pairs = present[1:] & present[:-1]  # (frames - 1, joints): t and t + 1 both present
    none = xp.zeros_like(present[:1])
    has_previous = xp.concatenate([none, pairs])  # (frames, joints)
    has_next = xp.concatenate([pairs, none])
    previous = xp.concatenate([xyz[:1], xyz[:-1]])  # frame t-1 (frame 0 repeats itself)
    following = xp.concatenate([xyz[1:], xyz[-1:]])  # frame t+1 (last frame repeats)
    upper = xp.where(has_next[..., None], following, xyz)
    lower = xp.where(has_previous[..., None], previous, xyz)
    return has_previous, has_next, upper, lower


def velocities_at_fps(xyz, present, fps: float, xp=np):
    """Per-second velocities of `(T, J, 3)` positions on frames `1 / fps` apart (`present`
    `(T, J)` bool). Array code for NumPy or `jax.numpy` (`xp`) alike: the browser's feature
    graph runs this function."""
    has_previous, has_next, upper, lower = _differences(xyz, present, xp)
    steps = xp.maximum(has_next.astype(xyz.dtype) + has_previous.astype(xyz.dtype), 1.0)
    return (upper - lower) * (fps / steps)[..., None]


def compute_velocities(
    xyz: np.ndarray,
    present: np.ndarray,
    fps: float = FPS,
    timestamps: np.ndarray | None = None,
) -> np.ndarray:
    """Per-second velocities of `(T, J, 3)` positions, never across a missing joint.

    Central differences where both neighbouring frames have the joint, one-sided differences
    where only one has it, and zero where the joint is missing or has no present neighbour.
    `present` is `(T, J)` bool, or `(T, 2)` one column per hand slot for the 42 hand joints.
    Frames are `1 / fps` apart unless `timestamps` (`(T,)` seconds, increasing) gives their
    times. Returns float64 `(T, J, 3)`.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    num_frames = xyz.shape[0]
    num_joints = xyz.shape[1] if xyz.ndim == 3 else -1
    present = _per_joint(np.asarray(present, dtype=bool), num_joints)
    if xyz.shape != (num_frames, num_joints, 3) or present.shape != (num_frames, num_joints):
        raise ValueError(
            "compute_velocities expects xyz (T, J, 3) and present (T, J) (or (T, 2) for "
            f"the {NUM_JOINTS} hand joints), got {xyz.shape} and {present.shape}"
        )
    if timestamps is None:
        return velocities_at_fps(xyz, present, fps)
    times = np.asarray(timestamps, dtype=np.float64)
    if times.shape != (num_frames,):
        raise ValueError(f"compute_velocities expects timestamps (T,), got {times.shape}")
    has_previous, has_next, upper, lower = _differences(xyz, present)
    times_previous = np.concatenate([times[:1], times[:-1]])[:, None]  # (frames, 1)
    times_next = np.concatenate([times[1:], times[-1:]])[:, None]
    span = np.where(has_next, times_next, times[:, None]) - np.where(
        has_previous, times_previous, times[:, None]
    )  # (frames, joints) seconds between the two frames of each difference
    return (upper - lower) / np.where(span > 0, span, 1.0)[..., None]


def keypoint_features(positions, confidence, velocities, xp=np):
    """`(T, J, 7)` keypoints from float32 positions `(T, J, 3)`, their velocities and their
    confidence `(T, J)`; every feature of a missing joint (confidence 0) is 0. NumPy or
    `jax.numpy` (`xp`)."""
    features = xp.concatenate(
        [positions, velocities.astype(positions.dtype), confidence[..., None]], axis=-1
    )  # (frames, joints, 7) in the order XYZ, VELOCITY, CONFIDENCE
    return xp.where((confidence > 0)[..., None], features, 0.0)


def assemble_keypoints(
    xyz: np.ndarray,
    confidence: np.ndarray,
    fps: float = FPS,
    timestamps: np.ndarray | None = None,
) -> np.ndarray:
    """Builds float32 `(T, J, 7)` keypoints from `(T, J, 3)` positions and their confidence:
    `(T, J)` per joint, or `(T, 2)` per hand slot for the 42 hand joints.

    A joint whose confidence is 0 is missing: all seven of its features are set to 0.
    Velocities come from the float32 positions as they are stored, with frames `1 / fps` apart
    or at the given `timestamps` (seconds).
    """
    positions = np.asarray(xyz, dtype=np.float32)
    num_frames = positions.shape[0]
    num_joints = positions.shape[1] if positions.ndim == 3 else -1
    confidence = _per_joint(np.asarray(confidence, dtype=np.float32), num_joints)
    if positions.shape != (num_frames, num_joints, 3) or confidence.shape != (
        num_frames,
        num_joints,
    ):
        raise ValueError(
            "assemble_keypoints expects xyz (T, J, 3) and confidence (T, J) (or (T, 2) for "
            f"the {NUM_JOINTS} hand joints), got {positions.shape} and {confidence.shape}"
        )
    if not np.all((confidence >= 0.0) & (confidence <= 1.0)):
        raise ValueError("assemble_keypoints: confidence must lie in [0, 1] (0 = joint missing)")
    present = confidence > 0.0  # (frames, joints)
    velocities = compute_velocities(positions, present, fps, timestamps)
    return keypoint_features(positions, confidence, velocities).astype(np.float32)


def stack_parts(
    joint_set: str | JointSet, parts: Mapping[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Per-part tracks -> `(T, J, 3)` positions and `(T, J)` confidence in the set's order.

    `parts` maps each part of the set (`PART_SIZES`) to `(positions (T, n, 3), confidence)`,
    the confidence `(T, n)` per point or `(T,)` shared by the part's points, in [0, 1] with 0
    where the point is missing (its positions are then set to 0). A part the set needs and
    `parts` lacks is a ValueError (the caller names its source).
    """
    joint_set = _resolve(joint_set)
    missing = [part for part in joint_set.parts if part not in parts]
    if missing:
        raise ValueError(f"no {' or '.join(missing)} points for the {joint_set.name} joint set")
    positions, confidences = [], []
    for part in joint_set.parts:
        xyz, confidence = (np.asarray(a, np.float64) for a in parts[part])
        if confidence.ndim == 1:
            confidence = np.repeat(confidence[:, None], PART_SIZES[part], axis=1)
        if xyz.shape[1:] != (PART_SIZES[part], 3) or confidence.shape != xyz.shape[:2]:
            raise ValueError(
                f"{part}: expected positions (T, {PART_SIZES[part]}, 3) and confidence (T, "
                f"{PART_SIZES[part]}) or (T,), got {xyz.shape} and {confidence.shape}"
            )
        positions.append(np.where(confidence[..., None] > 0, xyz, 0.0))
        confidences.append(confidence)
    return np.concatenate(positions, axis=1), np.concatenate(confidences, axis=1)


def mirror_joints(keypoints: np.ndarray) -> np.ndarray:
    """Left-right mirror of `(..., J, 7)` keypoints of any joint set: every joint moves to its
    mirror joint (the hands swap slots, left and right body and lip points swap), x -> 1 - x,
    vx -> -vx. Missing joints stay all zero. Mirroring twice gives the input back (up to
    float32 rounding of `1 - x`)."""
    keypoints = np.asarray(keypoints)
    joints = joint_set_for(keypoints.shape[-2]) if keypoints.ndim >= 2 else None
    if joints is None or keypoints.shape[-1] != NUM_FEATURES:
        raise ValueError(
            f"mirror_joints expects keypoints (..., J, {NUM_FEATURES}) of a joint set "
            f"({', '.join(s.describe() for s in JOINT_SETS.values())}), got {keypoints.shape}"
        )
    mirrored = keypoints[..., joints.mirror, :]  # (..., joints, features), a copy
    present = mirrored[..., CONFIDENCE] > 0
    mirrored[..., 0] = np.where(present, 1 - mirrored[..., 0], 0)
    mirrored[..., VELOCITY.start] = np.where(present, -mirrored[..., VELOCITY.start], 0)
    return mirrored


def validate_keypoints(
    array: np.ndarray,
    source: str,
    joint_set: str | JointSet | None = None,
    expected_by: str = "this data",
    require_hand: bool = False,
) -> np.ndarray:
    """Checks that `array` follows the keypoint contract and returns it as float32.

    Raises a ValueError that names `source` (a file, a dataset entry) when the shape is not
    `(T, J, 7)` with T >= 1 and J the joint count of a joint set (of `joint_set` when given;
    `expected_by` then says who expects it), when a value is NaN or infinite or breaks
    `check_values`, or (with `require_hand`, for recognition) when no frame has a hand. Clips
    without any hand are valid data otherwise: datasets label them (an MP_Data "nothing"
    class), so loaders keep them and count them.
    """
    try:
        values = np.asarray(array)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{source}: keypoints are not a numeric array ({error})") from error
    if values.dtype.kind not in "iuf":  # bool, complex, strings, objects, dates: never keypoints
        raise ValueError(
            f"{source}: keypoints of dtype {values.dtype} are not real numbers; expected a "
            "float32 array (save the keypoints with np.save of a float array)"
        )
    with np.errstate(over="ignore"):  # values beyond float32's range: inf, see check_values
        keypoints = values.astype(np.float32)
    counts = ", ".join(f"{s.num_joints} ({s.name})" for s in JOINT_SETS.values())
    expected = f"(frames, J, {NUM_FEATURES}), J = {counts}"
    if joint_set is not None:
        joint_set = _resolve(joint_set)
        expected = f"(frames, {joint_set.num_joints}, {NUM_FEATURES})"
    found = joint_set_for(keypoints.shape[1]) if keypoints.ndim == 3 else None
    if keypoints.ndim != 3 or keypoints.shape[2] != NUM_FEATURES or found is None:
        raise ValueError(
            f"{source}: keypoints must have shape {expected}, got {keypoints.shape}; "
            "see docs/design.md, 'Data contract', for the joint and feature layout"
        )
    if joint_set is not None and found != joint_set:
        raise ValueError(
            f"{source}: {found.describe()} keypoints, but {expected_by} takes "
            f"{joint_set.describe()} keypoints; prepare or extract them with "
            f"--joint_set={joint_set.name}"
        )
    if keypoints.shape[0] < 1:
        raise ValueError(f"{source}: keypoints have no frames, expected shape {expected}")
    finite = np.isfinite(values)  # as stored: NaN or inf in the file itself
    if not finite.all():
        bad_frames = np.unique(np.nonzero(~finite)[0])
        raise ValueError(
            f"{source}: {np.size(finite) - np.count_nonzero(finite)} NaN or infinite values "
            f"in {bad_frames.size} frame(s), first at frame {bad_frames[0]}; "
            "re-extract the keypoints or drop those frames"
        )
    check_values(keypoints, source)
    if require_hand and not has_hand(keypoints):
        raise ValueError(
            f"{source}: no hand in any of its {len(keypoints)} frames; nothing to recognise "
            "(check the recording or the extraction)"
        )
    return keypoints


# Value ranges of the contract (docs/design.md, "Data contract"). MediaPipe's normalised
# coordinates stay within about [-1, 2] even for points outside the image; these limits only
# catch values that cannot come from a landmark model (unit mix-ups, corrupt files).
POSITION_LIMIT = 10.0  # |x|, |y|, |z| in image widths
VELOCITY_LIMIT = 1e4  # |vx|, |vy|, |vz| in image widths per second


def has_hand(keypoints: np.ndarray) -> bool:
    """True when a hand is present in some frame of `(T, J, 7)` keypoints."""
    return bool(np.any(keypoints[:, : 2 * JOINTS_PER_HAND, CONFIDENCE] > 0))


def check_values(keypoints: np.ndarray, source: str) -> None:
    """Raises a ValueError naming `source` and the first offending frame when finite
    `(T, J, 7)` keypoints break the contract's value rules: positions and velocities within
    `POSITION_LIMIT` / `VELOCITY_LIMIT`, confidence in [0, 1], a missing joint (confidence 0)
    all zero."""
    problems = {
        f"|position| above {POSITION_LIMIT:g}": np.abs(keypoints[..., XYZ]).max(-1)
        > POSITION_LIMIT,
        f"|velocity| above {VELOCITY_LIMIT:g} per second": np.abs(keypoints[..., VELOCITY]).max(-1)
        > VELOCITY_LIMIT,
        "confidence outside [0, 1]": (keypoints[..., CONFIDENCE] < 0)
        | (keypoints[..., CONFIDENCE] > 1),
        "non-zero features of a missing joint (confidence 0)": (keypoints[..., CONFIDENCE] == 0)
        & np.any(keypoints[..., :CONFIDENCE] != 0, axis=-1),
    }  # each (frames, joints) bool
    for problem, bad in problems.items():
        if bad.any():
            frames, joints = np.nonzero(bad)
            raise ValueError(
                f"{source}: {problem} at {frames.size} joint-frame(s), first frame {frames[0]} "
                f"joint {joints[0]}; the file is corrupt or not MediaPipe keypoints "
                "(docs/design.md, 'Data contract')"
            )


def load_npy(path) -> np.ndarray:
    """The array of a ``.npy`` file, never unpickled; a ValueError naming the file for a
    missing, truncated or non-``.npy`` file and for arrays of Python objects."""
    try:
        with open(path, "rb") as file:
            magic = file.read(6)
    except OSError as error:
        raise ValueError(f"{path}: unreadable .npy file ({error})") from error
    if magic.startswith(b"PK"):  # a zip: np.savez's archive, never opened here
        raise ValueError(
            f"{path}: an .npz archive (a zip file), expected one array saved with np.save"
        )
    if magic != b"\x93NUMPY":
        raise ValueError(f"{path}: not a .npy file (no NumPy header); save arrays with np.save")
    try:
        array = np.load(path, allow_pickle=False)
    except Exception as error:  # a corrupt header fails inside NumPy's parser in many ways
        if isinstance(error, ValueError) and "allow_pickle" in str(error):
            raise ValueError(  # numpy's hint would invite loading it unsafely
                f"{path}: holds Python objects, which are never loaded (no pickle); save a "
                "numeric array with np.save"
            ) from error
        raise ValueError(
            f"{path}: unreadable .npy file, truncated or corrupt ({type(error).__name__}: "
            f"{error}); save it again with np.save"
        ) from error
    return array


def load_keypoint_file(path: str | Path) -> np.ndarray:
    """A ``.npy`` file of ``(T, J, 7)`` keypoints to recognise, checked (it must show a hand);
    errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such keypoint file.")
    return validate_keypoints(load_npy(path), str(path), require_hand=True)
