"""MediaPipe hand detections -> the two anatomical hand slots (docs/design.md, "Data contract").

The legacy `mp.solutions.hands` labels handedness as if the image were mirrored (a selfie
view): on a camera that films the signer (`mirrored=False`) its "Left" is the signer's
anatomical RIGHT hand. The Tasks HandLandmarker labels each hand as it appears in the image
instead (measured on data/samples/signing_clip.mp4 with mediapipe 0.10.5 to 1.2.2);
each backend states its convention. Two detections
with the same label still go to different slots: the one nearer each slot's wrist in the
previous frame takes that slot, or, without history, the one on that slot's side of the
image. NumPy only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from whispersign_jax import keypoints as kp

LEFT_SLOT = 0
RIGHT_SLOT = 1
# Two detections whose joints are this close on average (image units) are one hand seen twice.
DUPLICATE_DISTANCE = 0.02
# A detected hand always has confidence above 0, which means "missing".
MIN_CONFIDENCE = 1e-3


@dataclass(frozen=True)
class HandDetection:
    """One detected hand: `(21, 3)` landmarks, MediaPipe's label ("Left"/"Right"), its score."""

    landmarks: np.ndarray  # (joints, xyz) normalised image coordinates, z relative depth
    label: str
    score: float


def label_to_slot(label: str, mirrored: bool, labels_assume_mirrored: bool = True) -> int:
    """The anatomical slot (0 left, 1 right) of a MediaPipe handedness label.

    `labels_assume_mirrored`: the backend's labels are right for a mirrored (selfie) image.
    """
    if label not in ("Left", "Right"):
        raise ValueError(f"unknown MediaPipe handedness label {label!r}, expected Left or Right")
    # A label is the anatomical side when the image is mirrored exactly as the labels assume.
    is_left = (label == "Left") == (mirrored == labels_assume_mirrored)
    return LEFT_SLOT if is_left else RIGHT_SLOT


class SlotAssigner:
    """Assigns each frame's detections to slots, remembering the previous frame's wrists."""

    def __init__(self, mirrored: bool = False, labels_assume_mirrored: bool = True):
        self.mirrored = mirrored
        self.labels_assume_mirrored = labels_assume_mirrored
        self._previous_wrists: dict[int, np.ndarray] = {}  # slot -> (xy,) of the last frame

    def assign(self, detections: Sequence[HandDetection]) -> tuple[np.ndarray, np.ndarray]:
        """Returns positions `(2, 21, 3)` and presence `(2,)` (0 where a slot has no hand)."""
        hands = _distinct_hands(detections)
        slots = [
            label_to_slot(hand.label, self.mirrored, self.labels_assume_mirrored) for hand in hands
        ]
        if len(hands) == 2 and slots[0] == slots[1]:
            slots = self._split_same_label(hands)
        positions = np.zeros((2, kp.JOINTS_PER_HAND, 3))  # (slots, joints, xyz)
        presence = np.zeros(2)
        for hand, slot in zip(hands, slots, strict=True):
            positions[slot] = hand.landmarks
            presence[slot] = np.clip(hand.score, MIN_CONFIDENCE, 1.0)
        self._previous_wrists = {
            slot: hand.landmarks[kp.WRIST, :2] for hand, slot in zip(hands, slots, strict=True)
        }
        return positions, presence

    def _split_same_label(self, hands: Sequence[HandDetection]) -> list[int]:
        """Slots for two hands with the same label: tracking continuity, else image side."""
        wrists = np.stack([hand.landmarks[kp.WRIST, :2] for hand in hands])  # (2, xy)
        previous = self._previous_wrists
        if previous:
            # Cost of keeping the order (hand 0 -> left slot) versus swapping it.
            def cost(order: tuple[int, int]) -> float:
                return sum(
                    float(np.linalg.norm(wrists[hand] - previous[slot]))
                    for hand, slot in zip((0, 1), order, strict=True)
                    if slot in previous
                )

            in_order = cost((LEFT_SLOT, RIGHT_SLOT)) <= cost((RIGHT_SLOT, LEFT_SLOT))
            return [LEFT_SLOT, RIGHT_SLOT] if in_order else [RIGHT_SLOT, LEFT_SLOT]
        # Facing the camera, the signer's right hand is on the image's left (smaller x);
        # a mirrored image shows it on the right.
        first_is_leftmost = wrists[0, 0] <= wrists[1, 0]
        leftmost_slot = LEFT_SLOT if self.mirrored else RIGHT_SLOT
        other_slot = 1 - leftmost_slot
        return [leftmost_slot, other_slot] if first_is_leftmost else [other_slot, leftmost_slot]


def _distinct_hands(detections: Sequence[HandDetection]) -> list[HandDetection]:
    """At most two finite detections, best score first, one per physical hand."""
    finite = [hand for hand in detections if np.all(np.isfinite(hand.landmarks))]
    hands: list[HandDetection] = []
    for hand in sorted(finite, key=lambda hand: -hand.score):
        if hand.landmarks.shape != (kp.JOINTS_PER_HAND, 3):
            raise ValueError(
                f"a hand detection needs (21, 3) landmarks, got {hand.landmarks.shape}"
            )
        duplicate = any(
            np.mean(np.linalg.norm(hand.landmarks[:, :2] - kept.landmarks[:, :2], axis=-1))
            < DUPLICATE_DISTANCE
            for kept in hands
        )
        if not duplicate:
            hands.append(hand)
        if len(hands) == 2:
            break
    return hands
