"""How a synthetic signer moves: the signing space (locations, orientations, movements), the
hand states of a gloss sequence with its transitions and rests, and their rendering into
joint positions. NumPy only; the randomness comes from the caller's generator."""

from __future__ import annotations

import dataclasses

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.synthetic_hand import HANDSHAPES, RELAXED, hand_joints

IMAGE_ASPECT = 4 / 3  # image width / height: a length of 1 width unit spans 4/3 height units


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
LOCATIONS = {
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
PLACES = (
    *(("one", name) for name in ("forehead", "cheek", "chin", "chest", "neutral", "side")),
    *(("symmetric", name) for name in ("cheek", "chest", "neutral", "side")),
    ("base", "base"),
)
ORIENTATIONS = {  # (roll, pitch, tilt) in degrees, for the right hand
    "palm_forward": (0.0, 0.0, 0.0),
    "palm_back": (180.0, 0.0, 0.0),
    "palm_side": (-90.0, 0.0, 0.0),
    "palm_down": (0.0, 70.0, 0.0),
    "palm_up": (180.0, 70.0, 0.0),
    "fingers_across": (0.0, 0.0, 60.0),
}
_REST_ORIENTATION = np.radians([-90.0, 0.0, 160.0])
_BASE_HAND = (0.62, 0.72, np.radians([180.0, 60.0, 50.0]), "flat")  # x, y, orientation, shape
MOVEMENTS = ("line", "arc", "circle", "twist", "tap", "shake", "hold")
NEEDS_HANDSHAPE_CHANGE = ("tap", "shake", "hold")  # these look the same played backwards

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
    rest[:, _SHAPE] = RELAXED + shape_offset
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
    dominant[:, _POSITION] = np.add(LOCATIONS[spec.location], style["location"]) + offset
    dominant[:, _ORIENTATION] = np.radians(ORIENTATIONS[spec.orientation]) + style["orientation"]
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


def render(states: np.ndarray, profile: SignerProfile) -> np.ndarray:
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


def hand_states(
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
