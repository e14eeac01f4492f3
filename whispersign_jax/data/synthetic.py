"""Built-in synthetic sign-language dataset: kinematic hands signing a generated vocabulary.

A gloss is one or two handshapes, a location, a palm orientation, a movement and a choice of
hands. Glosses come in pairs that are time reverses of each other (opposite movement direction,
swapped handshape order), so the time-averaged pose cannot tell the two apart and a model has
to see the order of events. Signers differ in hand size, speed, placement, handedness, style
and tracking noise, and the splits have disjoint signers. NumPy only; everything is
deterministic for a seed.

This module draws the vocabulary, the signers and the samples of each split;
``synthetic_hand`` is the kinematic hand and ``synthetic_motion`` turns glosses into motion.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.contract import SPLITS
from whispersign_jax.data.sample import Sample
from whispersign_jax.data.synthetic_hand import DEFAULT_BONES, HANDSHAPES, hand_joints
from whispersign_jax.data.synthetic_motion import (
    IMAGE_ASPECT,
    MOVEMENTS,
    NEEDS_HANDSHAPE_CHANGE,
    ORIENTATIONS,
    PLACES,
    GlossSpec,
    SignerProfile,
    hand_states,
    render,
)

__all__ = [
    "DEFAULT_BONES",
    "HANDSHAPES",
    "IMAGE_ASPECT",
    "MODES",
    "SPLITS",
    "GlossSpec",
    "Sample",
    "SignerProfile",
    "SyntheticConfig",
    "generate_sample",
    "generate_split",
    "gloss_names",
    "hand_joints",
    "signer_profile",
    "split_signers",
    "split_size",
    "vocabulary",
]

MODES = ("isolated", "continuous")

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


# Vocabulary and signers.
def _random_gloss(rng: np.random.Generator, hands: str, location: str) -> GlossSpec:
    movement = str(rng.choice(MOVEMENTS))
    names = sorted(HANDSHAPES)
    first = str(rng.choice(names))
    second = first
    if movement in NEEDS_HANDSHAPE_CHANGE or rng.random() < 0.35:
        second = str(rng.choice([name for name in names if name != first]))
    return GlossSpec(
        handshapes=(first, second),
        location=location,
        orientation=str(rng.choice(sorted(ORIENTATIONS))),
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
            places = [PLACES[index] for index in rng.permutation(len(PLACES))]
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
    states, spans = hand_states([specs[gloss] for gloss in gloss_ids], profile, rng)

    xyz = render(states, profile)  # (frames, joints, xyz), right-handed signer
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
