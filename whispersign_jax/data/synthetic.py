"""Built-in synthetic sign-language dataset: kinematic hands signing a generated vocabulary.

A gloss is one or two handshapes, a location, a palm orientation, a movement and a choice of
hands. Glosses come in pairs that are time reverses of each other (opposite movement direction,
swapped handshape order), so the time-averaged pose cannot tell the two apart and a model has
to see the order of events. Signers differ in hand size, speed, placement, handedness, style
and tracking noise, and the splits have disjoint signers. NumPy only; everything is
deterministic for a seed.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample

MODES = ("isolated", "continuous")
IMAGE_ASPECT = 4 / 3  # image width / height: a length of 1 width unit spans 4/3 height units

# Independent random streams, the first word after the seed.
_VOCABULARY_STREAM, _SIGNER_STREAM, _SAMPLE_STREAM = 0, 1, 2


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """What to generate; every field changes the data deterministically."""

    num_glosses: int = 20
    mode: str = "isolated"  # or "continuous"
    train_signers: int = 8
    val_signers: int = 2
    test_signers: int = 3
    samples_per_gloss_per_signer: int = 5  # isolated mode
    continuous_samples_per_signer: int = 40  # continuous mode
    min_glosses: int = 2  # glosses per continuous sample, inclusive
    max_glosses: int = 6
    seed: int = 0


@dataclasses.dataclass(frozen=True)
class GlossSpec:
    """How one gloss is signed by a right-handed signer; `reverse` plays it backwards."""

    handshapes: tuple[str, str]  # at the start and at the end (equal: no handshape change)
    location: str
    orientation: str
    movement: str
    direction: float  # radians in the image plane: 0 toward image +x, pi/2 down
    hands: str  # "one", "symmetric" (mirrored non-dominant hand) or "base" (passive hand)
    amplitude: float  # movement size, image-width units
    duration: float  # seconds at speed 1
    reverse: bool = False


@dataclasses.dataclass(frozen=True, eq=False)
class SignerProfile:
    """Everything that stays fixed for one signer."""

    signer: int
    left_handed: bool
    hand_length: float  # wrist to middle fingertip, image-width units
    bone_lengths: np.ndarray  # (5, 4) fractions of hand_length, see `hand_joints`
    speed: float  # signing speed factor: durations are divided by it
    scale: float  # distance to the camera: scales everything about the image centre
    offset: np.ndarray  # (2,) x, y shift of the whole signer in the image
    rest_height: float  # y of resting wrists before `scale` and `offset`
    tracking_noise: float  # standard deviation of the coordinate noise
    location_style: np.ndarray  # (2,) habitual shift of signing locations
    orientation_style: np.ndarray  # (3,) habitual roll, pitch, tilt offsets, radians
    shape_style: np.ndarray  # (15,) habitual offsets of the handshape parameters
    amplitude_style: float  # habitual movement size factor


# Kinematic hand.
# Bone lengths as fractions of the hand length (wrist to middle fingertip). Rows: thumb
# (wrist-CMC, metacarpal, proximal, distal), then index, middle, ring, little (metacarpal,
# proximal, middle, distal phalanx).
DEFAULT_BONES = np.array(
    [
        [0.20, 0.24, 0.18, 0.14],
        [0.40, 0.26, 0.15, 0.12],
        [0.40, 0.28, 0.17, 0.13],
        [0.38, 0.26, 0.16, 0.13],
        [0.35, 0.21, 0.12, 0.11],
    ]
)
_METACARPAL_ANGLES = np.radians([14.0, 2.0, -10.0, -22.0])  # from the hand axis toward the thumb
_SPLAY = np.radians([10.0, 0.0, -9.0, -18.0])  # extra finger angle at full spread


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector, axis=-1, keepdims=True)


_THUMB_BASE = _unit(np.array([0.55, -0.8, -0.25]))
_THUMB_OPEN = _unit(np.array([0.8, -0.55, -0.2]))
_THUMB_OPPOSED = _unit(np.array([-0.25, -0.55, -0.8]))
_THUMB_CURL = np.array([-1.0, 0.3, -0.3])
_PALM_NORMAL = np.array([0.0, 0.0, -1.0])


def _handshape(fingers: list, spread: float, opposition: float, thumb_flex: float) -> np.ndarray:
    """Handshape parameters (15,): MCP/PIP/DIP flexion of index..little (radians), spread,
    thumb opposition and thumb flexion (both in [0, 1])."""
    flexion = np.radians(np.asarray(fingers, dtype=np.float64)).reshape(12)
    return np.concatenate([flexion, [spread, opposition, thumb_flex]])


_STRAIGHT, _CURLED, _HOOKED = (0, 0, 0), (85, 100, 65), (10, 85, 55)
_HALF, _BENT, _LOOSE = (45, 50, 30), (80, 0, 0), (20, 25, 12)
HANDSHAPES = {
    "flat": _handshape([_STRAIGHT] * 4, 0.0, 0.15, 0.1),
    "spread": _handshape([_STRAIGHT] * 4, 1.0, 0.0, 0.0),
    "fist": _handshape([_CURLED] * 4, 0.0, 0.55, 0.7),
    "index": _handshape([_STRAIGHT, _CURLED, _CURLED, _CURLED], 0.2, 0.8, 0.8),
    "v": _handshape([_STRAIGHT, _STRAIGHT, _CURLED, _CURLED], 1.0, 0.8, 0.8),
    "w": _handshape([_STRAIGHT, _STRAIGHT, _STRAIGHT, _CURLED], 1.0, 0.9, 0.9),
    "l": _handshape([_STRAIGHT, _CURLED, _CURLED, _CURLED], 0.2, 0.0, 0.0),
    "y": _handshape([_CURLED, _CURLED, _CURLED, _STRAIGHT], 1.0, 0.0, 0.0),
    "claw": _handshape([_HOOKED] * 4, 1.0, 0.2, 0.5),
    "o": _handshape([_HALF] * 4, 0.0, 1.0, 0.4),
    "bent": _handshape([_BENT] * 4, 0.0, 0.3, 0.1),
}
_RELAXED = _handshape([_LOOSE] * 4, 0.3, 0.3, 0.3)


def hand_joints(handshape: np.ndarray, bone_lengths: np.ndarray = DEFAULT_BONES) -> np.ndarray:
    """Forward kinematics of a right hand: `(N, 15)` handshape parameters -> `(N, 21, 3)` joints.

    Hand frame: wrist at the origin, fingers along -y, palm facing -z (the camera), thumb
    toward +x. Units are hand lengths; every bone keeps its length whatever the handshape.
    """
    handshape = np.asarray(handshape, dtype=np.float64)
    count = handshape.shape[0]
    joints = np.zeros((count, kp.JOINTS_PER_HAND, 3))  # (hands, joints, xyz)

    # Index..little: the metacarpal is rigid, the three phalanges flex toward the palm.
    flexion = np.cumsum(handshape[:, :12].reshape(count, 4, 3), axis=2)  # (hands, finger, bone)
    spread = handshape[:, 12]
    knuckles = bone_lengths[1:, 0, None] * np.stack(
        [np.sin(_METACARPAL_ANGLES), -np.cos(_METACARPAL_ANGLES), np.zeros(4)], axis=-1
    )  # (finger, xyz)
    base_angle = 0.5 * _METACARPAL_ANGLES + spread[:, None] * _SPLAY  # (hands, finger)
    base = np.stack([np.sin(base_angle), -np.cos(base_angle), np.zeros_like(base_angle)], -1)
    directions = (
        np.cos(flexion)[..., None] * base[:, :, None, :] + np.sin(flexion)[..., None] * _PALM_NORMAL
    )  # (hands, finger, bone, xyz), unit vectors
    phalanges = np.cumsum(directions * bone_lengths[1:, 1:, None], axis=2)
    fingers = np.concatenate(
        [np.broadcast_to(knuckles[None, :, None], (count, 4, 1, 3)), knuckles[:, None] + phalanges],
        axis=2,
    )  # (hands, finger, joint, xyz)
    joints[:, 5:] = fingers.reshape(count, 16, 3)

    # Thumb: opposition swings the metacarpal across the palm, flexion curls the phalanges.
    opposition, thumb_flex = handshape[:, 13:14], handshape[:, 14:15]
    axis = _unit((1 - opposition) * _THUMB_OPEN + opposition * _THUMB_OPPOSED)  # (hands, xyz)
    curl = _unit(_THUMB_CURL - np.sum(_THUMB_CURL * axis, -1, keepdims=True) * axis)
    angles = thumb_flex * np.radians([0.0, 45.0, 90.0])  # (hands, bone)
    thumb = np.cos(angles)[..., None] * axis[:, None] + np.sin(angles)[..., None] * curl[:, None]
    joints[:, 1] = bone_lengths[0, 0] * _THUMB_BASE
    joints[:, 2:5] = joints[:, 1:2] + np.cumsum(thumb * bone_lengths[0, 1:, None], axis=1)
    return joints


def _rotations(angles: np.ndarray) -> np.ndarray:
    """`(N, 3)` roll (about the hand axis), pitch, tilt (in the image plane) -> `(N, 3, 3)`."""
    cos, sin = np.cos(angles), np.sin(angles)  # (N, 3)
    one, zero = np.ones(len(angles)), np.zeros(len(angles))
    roll = np.stack([cos[:, 0], zero, sin[:, 0], zero, one, zero, -sin[:, 0], zero, cos[:, 0]])
    pitch = np.stack([one, zero, zero, zero, cos[:, 1], -sin[:, 1], zero, sin[:, 1], cos[:, 1]])
    tilt = np.stack([cos[:, 2], -sin[:, 2], zero, sin[:, 2], cos[:, 2], zero, zero, zero, one])
    roll, pitch, tilt = (m.T.reshape(-1, 3, 3) for m in (roll, pitch, tilt))
    return tilt @ pitch @ roll


# The signing space.
# Wrist targets of the dominant (right) hand of a right-handed signer centred at x = 0.5; the
# right hand appears on the image's left. Symmetric signs mirror the other hand to 1 - x.
_LOCATIONS = {
    "forehead": (0.45, 0.30),
    "cheek": (0.38, 0.40),
    "chin": (0.47, 0.47),
    "chest": (0.42, 0.70),
    "neutral": (0.36, 0.62),
    "side": (0.24, 0.64),
    "base": (0.50, 0.60),  # above the passive hand of a "base" sign
}
# Where each kind of sign can be made: (hands, location). The vocabulary spreads its gloss
# pairs over these before it uses one twice.
_PLACES = (
    *(("one", name) for name in ("forehead", "cheek", "chin", "chest", "neutral", "side")),
    *(("symmetric", name) for name in ("cheek", "chest", "neutral", "side")),
    ("base", "base"),
)
_ORIENTATIONS = {  # (roll, pitch, tilt) in degrees, for the right hand
    "palm_forward": (0.0, 0.0, 0.0),
    "palm_back": (180.0, 0.0, 0.0),
    "palm_side": (-90.0, 0.0, 0.0),
    "palm_down": (0.0, 70.0, 0.0),
    "palm_up": (180.0, 70.0, 0.0),
    "fingers_across": (0.0, 0.0, 60.0),
}
_REST_ORIENTATION = np.radians([-90.0, 0.0, 160.0])
_BASE_HAND = (0.62, 0.72, np.radians([180.0, 60.0, 50.0]), "flat")  # x, y, orientation, shape
_MOVEMENTS = ("line", "arc", "circle", "twist", "tap", "shake", "hold")
_NEEDS_HANDSHAPE_CHANGE = ("tap", "shake", "hold")  # these look the same played backwards

# A hand's state in one frame: wrist x, y; roll, pitch, tilt; 15 handshape parameters.
_POSITION, _ORIENTATION, _SHAPE = slice(0, 2), slice(2, 5), slice(5, 20)
_STATE_SIZE = 20


def _smoothstep(s: np.ndarray) -> np.ndarray:
    return s * s * (3 - 2 * s)


def _movement(spec: GlossSpec, s: np.ndarray, amplitude: float) -> tuple[np.ndarray, np.ndarray]:
    """Wrist offset `(n, 2)` and extra roll `(n,)` along the sign, for sign time `s` in [0, 1]."""
    eased = _smoothstep(s)
    along, across, roll = np.zeros_like(s), np.zeros_like(s), np.zeros_like(s)
    if spec.movement in ("line", "arc"):
        along = amplitude * (eased - 0.5)
        if spec.movement == "arc":
            across = -0.3 * amplitude * np.sin(np.pi * eased)
    elif spec.movement == "circle":
        angle = 2 * np.pi * eased
        along, across = 0.4 * amplitude * np.sin(angle), 0.4 * amplitude * (1 - np.cos(angle))
    elif spec.movement == "twist":
        roll = np.radians(110.0) * (eased - 0.5)
    elif spec.movement == "tap":
        along = 0.12 * amplitude * (1 - np.cos(6 * np.pi * s))
    elif spec.movement == "shake":
        along = 0.25 * amplitude * np.sin(4 * np.pi * s)
    elif spec.movement == "hold":
        along = 0.15 * amplitude * (eased - 0.5)
    unit = np.array([np.cos(spec.direction), np.sin(spec.direction)])
    normal = np.array([-unit[1], unit[0]])
    return along[:, None] * unit + across[:, None] * normal, roll


def _rest_state(profile: SignerProfile, shape_offset: np.ndarray) -> np.ndarray:
    """Both hands resting low at the signer's sides: `(2, STATE)`, rows left, right."""
    rest = np.empty((2, _STATE_SIZE))
    rest[:, _POSITION] = [[0.64, profile.rest_height], [0.36, profile.rest_height]]
    rest[:, _ORIENTATION] = _REST_ORIENTATION
    rest[:, _SHAPE] = _RELAXED + shape_offset
    return rest


def _sign_states(
    spec: GlossSpec, rest: np.ndarray, style: dict[str, np.ndarray], frames: int
) -> np.ndarray:
    """Both hands signing `spec` over `frames` frames: `(frames, 2, STATE)`, rows left, right."""
    s = np.linspace(0.0, 1.0, frames)
    if spec.reverse:
        s = 1.0 - s
    offset, roll = _movement(spec, s, spec.amplitude * style["amplitude"])
    change = _smoothstep(np.clip((s - 0.3) / 0.4, 0.0, 1.0))[:, None]
    start, end = (HANDSHAPES[name] for name in spec.handshapes)

    dominant = np.empty((frames, _STATE_SIZE))
    dominant[:, _POSITION] = np.add(_LOCATIONS[spec.location], style["location"]) + offset
    dominant[:, _ORIENTATION] = np.radians(_ORIENTATIONS[spec.orientation]) + style["orientation"]
    dominant[:, 2] += roll
    dominant[:, _SHAPE] = (1 - change) * start + change * end + style["shape"]

    if spec.hands == "symmetric":
        other = dominant.copy()
        other[:, 0] = 1.0 - dominant[:, 0]
    elif spec.hands == "base":
        x, y, orientation, shape = _BASE_HAND
        other = np.empty((frames, _STATE_SIZE))
        other[:, _POSITION] = np.array([x, y]) + style["location"] * [-1, 1]
        other[:, _ORIENTATION] = orientation + style["orientation"]
        other[:, _SHAPE] = HANDSHAPES[shape] + style["shape"]
    else:
        other = np.broadcast_to(rest[0], (frames, _STATE_SIZE))
    return np.stack([other, dominant], axis=1)


def _transition(start: np.ndarray, end: np.ndarray, frames: int) -> np.ndarray:
    """Smooth move between two `(2, STATE)` states, endpoints excluded: `(frames, 2, STATE)`."""
    weight = _smoothstep(np.arange(1, frames + 1) / (frames + 1))[:, None, None]
    return start + weight * (end - start)


def _render(states: np.ndarray, profile: SignerProfile) -> np.ndarray:
    """Hand states `(T, 2, STATE)` -> joint positions `(T, 42, 3)` for a right-handed signer."""
    frames = states.shape[0]
    flat = states.reshape(frames * 2, _STATE_SIZE)  # (frames * hands, state), left hand first
    shape = flat[:, _SHAPE].copy()
    shape[:, :12] = np.clip(shape[:, :12], np.radians(-15.0), np.radians(110.0))
    shape[:, 12:] = np.clip(shape[:, 12:], 0.0, 1.0)
    local = hand_joints(shape, profile.bone_lengths)  # (frames * hands, joints, xyz)
    offsets = np.einsum("nij,nkj->nki", _rotations(flat[:, _ORIENTATION]), local)
    offsets *= profile.hand_length
    offsets[0::2, :, 0] *= -1.0  # a left hand is the mirror image of a right hand
    xyz = np.empty_like(offsets)
    xyz[..., 0] = flat[:, None, 0] + offsets[..., 0]
    xyz[..., 1] = flat[:, None, 1] + offsets[..., 1] * IMAGE_ASPECT
    xyz[..., 2] = offsets[..., 2]  # depth relative to the wrist, like MediaPipe's z
    return xyz.reshape(frames, kp.NUM_JOINTS, 3)


# Vocabulary and signers.
def _random_gloss(rng: np.random.Generator, hands: str, location: str) -> GlossSpec:
    movement = str(rng.choice(_MOVEMENTS))
    names = sorted(HANDSHAPES)
    first = str(rng.choice(names))
    second = first
    if movement in _NEEDS_HANDSHAPE_CHANGE or rng.random() < 0.35:
        second = str(rng.choice([name for name in names if name != first]))
    return GlossSpec(
        handshapes=(first, second),
        location=location,
        orientation=str(rng.choice(sorted(_ORIENTATIONS))),
        movement=movement,
        direction=0.0 if movement == "twist" else float(rng.integers(8)) * np.pi / 4,
        hands=hands,
        amplitude=float(rng.uniform(0.08, 0.13)),
        duration=float(rng.uniform(0.6, 0.75)),
    )


def _differences(first: GlossSpec, second: GlossSpec) -> int:
    """How many visible attributes differ (the handshape order does not count)."""
    return sum(
        [
            set(first.handshapes) != set(second.handshapes),
            first.location != second.location,
            first.orientation != second.orientation,
            first.movement != second.movement,
            first.hands != second.hands,
            first.direction != second.direction,
        ]
    )


@functools.lru_cache(maxsize=16)
def _vocabulary(num_glosses: int, seed: int) -> tuple[GlossSpec, ...]:
    rng = np.random.default_rng([seed, _VOCABULARY_STREAM])
    bases: list[GlossSpec] = []
    places: list[tuple[str, str]] = []  # (hands, location), each used once per round
    attempts = 0
    while 2 * len(bases) < num_glosses:
        attempts += 1
        if attempts > 1000 * num_glosses:
            raise ValueError(
                f"num_glosses={num_glosses} is more than the synthetic vocabulary holds"
            )
        if not places:
            places = [_PLACES[index] for index in rng.permutation(len(_PLACES))]
        candidate = _random_gloss(rng, *places[-1])
        if all(_differences(candidate, other) >= 2 for other in bases):  # never near-duplicates
            bases.append(candidate)
            places.pop()
    glosses = [gloss for base in bases for gloss in (base, dataclasses.replace(base, reverse=True))]
    return tuple(glosses[:num_glosses])


def vocabulary(config: SyntheticConfig) -> tuple[GlossSpec, ...]:
    """How each gloss is signed; gloss id i + 1 is entry i. Glosses 2k and 2k + 1 are signed
    in reverse of each other."""
    _check_config(config)
    return _vocabulary(config.num_glosses, config.seed)


def gloss_names(config: SyntheticConfig) -> list[str]:
    """Index i -> name of gloss id i + 1: `synthetic_00`, `synthetic_01`, ..."""
    _check_config(config)
    width = max(2, len(str(config.num_glosses - 1)))
    return [f"synthetic_{index:0{width}d}" for index in range(config.num_glosses)]


def _signer_counts(config: SyntheticConfig) -> dict[str, int]:
    return dict(
        zip(SPLITS, (config.train_signers, config.val_signers, config.test_signers), strict=True)
    )


def split_signers(config: SyntheticConfig, split: str) -> range:
    """Signer ids of a split: train first, then val, then test; splits never share a signer."""
    _check_config(config)
    _check_split(split)
    counts = _signer_counts(config)
    start = sum(counts[name] for name in SPLITS[: SPLITS.index(split)])
    return range(start, start + counts[split])


def signer_profile(config: SyntheticConfig, signer: int) -> SignerProfile:
    """The fixed traits of signer `signer`. The second, fifth, eighth ... signer of each split is
    left-handed, so every split with two or more signers has a left-handed one."""
    _check_config(config)
    split = next((name for name in SPLITS if signer in split_signers(config, name)), None)
    if split is None:
        total = sum(_signer_counts(config).values())
        raise ValueError(f"signer must be in [0, {total}) for this config, got {signer}")
    rng = np.random.default_rng([config.seed, _SIGNER_STREAM, signer])
    scale, offset = float(rng.uniform(0.88, 1.12)), rng.uniform([-0.06, -0.04], [0.06, 0.04])
    # Most signers rest their hands below the frame; some keep them in view.
    rest_in_image = rng.uniform(0.88, 0.96) if rng.random() < 0.3 else rng.uniform(1.04, 1.15)
    return SignerProfile(
        signer=signer,
        left_handed=(signer - split_signers(config, split).start) % 3 == 1,
        hand_length=float(rng.uniform(0.105, 0.135)),
        bone_lengths=DEFAULT_BONES * rng.uniform(0.95, 1.05, size=DEFAULT_BONES.shape),
        speed=float(rng.uniform(0.5, 1.5)),
        scale=scale,
        offset=offset,
        rest_height=float(0.5 + (rest_in_image - 0.5 - offset[1]) / scale),
        tracking_noise=float(rng.uniform(0.0008, 0.002)),
        location_style=rng.normal(0.0, 0.015, size=2),
        orientation_style=rng.normal(0.0, np.radians(6.0), size=3),
        shape_style=np.concatenate(
            [rng.normal(0.0, np.radians(5.0), size=12), rng.normal(0.0, 0.05, size=3)]
        ),
        amplitude_style=float(rng.uniform(0.85, 1.15)),
    )


# Samples.
def _check_config(config: SyntheticConfig) -> None:
    problems = []
    if config.num_glosses < 1:
        problems.append(f"num_glosses must be >= 1, got {config.num_glosses}")
    if config.mode not in MODES:
        problems.append(f"mode must be one of {MODES}, got {config.mode!r}")
    if config.train_signers < 1 or config.val_signers < 0 or config.test_signers < 0:
        problems.append("train_signers must be >= 1 and val_signers, test_signers >= 0")
    if config.samples_per_gloss_per_signer < 1 or config.continuous_samples_per_signer < 1:
        problems.append(
            "samples_per_gloss_per_signer and continuous_samples_per_signer must be >= 1"
        )
    if not 1 <= config.min_glosses <= config.max_glosses:
        problems.append(
            f"need max_glosses >= min_glosses >= 1, got min_glosses={config.min_glosses}, "
            f"max_glosses={config.max_glosses}"
        )
    if config.seed < 0:
        problems.append(f"seed must be >= 0, got {config.seed}")
    if problems:
        raise ValueError("invalid SyntheticConfig: " + "; ".join(problems))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {split!r}")


def split_size(config: SyntheticConfig, split: str) -> int:
    """Number of samples in `split`."""
    signers = len(split_signers(config, split))
    if config.mode == "isolated":
        return signers * config.num_glosses * config.samples_per_gloss_per_signer
    return signers * config.continuous_samples_per_signer


def _sample_glosses(
    config: SyntheticConfig, index: int, rng: np.random.Generator
) -> tuple[int, list[int]]:
    """Signer offset within the split and gloss indices (0-based) of sample `index`."""
    if config.mode == "isolated":
        per_signer = config.num_glosses * config.samples_per_gloss_per_signer
        return index // per_signer, [index % per_signer // config.samples_per_gloss_per_signer]
    length = int(rng.integers(config.min_glosses, config.max_glosses + 1))
    glosses = [int(rng.integers(config.num_glosses))]
    while len(glosses) < length:  # no immediate repeats, unless there is only one gloss
        gloss = int(rng.integers(config.num_glosses))
        if gloss != glosses[-1] or config.num_glosses == 1:
            glosses.append(gloss)
    return index // config.continuous_samples_per_signer, glosses


def _hand_states(
    glosses: list[GlossSpec], profile: SignerProfile, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Hand states `(T, 2, STATE)` of rest, signs with transitions, rest; and `(L, 2)` spans."""
    speed = profile.speed * rng.uniform(0.92, 1.08)
    style = {
        "location": profile.location_style + rng.normal(0.0, 0.008, size=2),
        "orientation": profile.orientation_style + rng.normal(0.0, np.radians(3.0), size=3),
        "shape": profile.shape_style + rng.normal(0.0, np.radians(3.0), size=15),
        "amplitude": profile.amplitude_style * rng.uniform(0.92, 1.08),
    }
    rest = _rest_state(profile, style["shape"])

    def transition_frames() -> int:
        return int(np.clip(round(rng.uniform(0.09, 0.14) * kp.FPS / speed), 4, 12))

    pieces = [np.repeat(rest[None], rng.integers(2, 5), axis=0)]
    spans = []
    frame, previous = len(pieces[0]), rest
    for spec in glosses:
        sign_frames = int(np.clip(round(spec.duration * kp.FPS / speed), 30, 90))
        signing = _sign_states(spec, rest, style, sign_frames)
        moving = _transition(previous, signing[0], transition_frames())
        pieces += [moving, signing]
        frame += len(moving)
        spans.append((frame, frame + sign_frames))
        frame += sign_frames
        previous = signing[-1]
    pieces.append(_transition(previous, rest, transition_frames()))
    pieces.append(np.repeat(rest[None], rng.integers(2, 5), axis=0))
    return np.concatenate(pieces), np.array(spans, dtype=np.int64).reshape(-1, 2)


def _dropouts(frames: int, rng: np.random.Generator) -> np.ndarray:
    """`(T, 2)` bool: short stretches where the tracker loses a hand."""
    dropped = np.zeros((frames, 2), dtype=bool)
    for hand in range(2):
        for _ in range(rng.poisson(0.4)):
            start, length = rng.integers(frames), rng.integers(1, 9)
            dropped[start : start + length, hand] = True
    return dropped


def generate_sample(config: SyntheticConfig, split: str, index: int) -> Sample:
    """Sample `index` of `split`; the same for the same (config, split, index), independent of
    other indices. Isolated samples hold one gloss, continuous ones min..max glosses."""
    size = split_size(config, split)
    if not 0 <= index < size:
        raise IndexError(f"sample index {index} out of range for split {split!r} of size {size}")
    rng = np.random.default_rng([config.seed, _SAMPLE_STREAM, SPLITS.index(split), index])
    signer_offset, gloss_ids = _sample_glosses(config, index, rng)
    profile = signer_profile(config, split_signers(config, split)[signer_offset])
    specs = vocabulary(config)
    states, spans = _hand_states([specs[gloss] for gloss in gloss_ids], profile, rng)

    xyz = _render(states, profile)  # (frames, joints, xyz), right-handed signer
    if profile.left_handed:  # mirror the whole signer: the dominant hand becomes the left one
        xyz = xyz[:, np.r_[kp.RIGHT_HAND, kp.LEFT_HAND]]
        xyz[..., 0] = 1.0 - xyz[..., 0]
    xyz[..., :2] = 0.5 + profile.scale * (xyz[..., :2] - 0.5) + profile.offset
    xyz[..., 2] *= profile.scale

    frames = xyz.shape[0]
    wrists = xyz[:, [0, kp.JOINTS_PER_HAND], :2]  # (frames, hands, xy)
    in_view = np.all((wrists >= 0.0) & (wrists <= 1.0), axis=-1)
    present = in_view & ~_dropouts(frames, rng)  # (frames, hands)

    noise = rng.normal(0.0, profile.tracking_noise, size=(frames, 2, kp.JOINTS_PER_HAND, 3))
    noise += rng.normal(0.0, 0.5 * profile.tracking_noise, size=(frames, 2, 1, 3))
    xyz += noise.reshape(frames, kp.NUM_JOINTS, 3)
    confidence = rng.uniform(0.86, 0.97, size=2) + rng.normal(0.0, 0.03, size=(frames, 2))
    confidence = np.where(present, np.clip(confidence, 0.8, 1.0), 0.0)  # (frames, hands)
    return Sample(
        keypoints=kp.assemble_keypoints(xyz, confidence, kp.FPS),
        labels=np.array(gloss_ids, dtype=np.int64) + 1,
        spans=spans,
        signer=profile.signer,
        timed=True,
    )


def generate_split(config: SyntheticConfig, split: str) -> list[Sample]:
    """All samples of `split`, in index order."""
    return [generate_sample(config, split, index) for index in range(split_size(config, split))]
