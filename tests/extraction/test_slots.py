import numpy as np
import pytest

from whispersign_jax.extraction.slots import (
    LEFT_SLOT,
    RIGHT_SLOT,
    HandDetection,
    SlotAssigner,
    label_to_slot,
)


def _hand(wrist_x: float, label: str, score: float = 0.9, wrist_y: float = 0.6) -> HandDetection:
    """A synthetic detection: a fan of 21 points above the wrist at (wrist_x, wrist_y)."""
    offsets = np.linspace(-0.05, 0.05, 21)
    landmarks = np.stack(
        [wrist_x + offsets, wrist_y - np.abs(offsets) * 3, np.zeros(21)], axis=-1
    )  # (joints, xyz)
    landmarks[0] = (wrist_x, wrist_y, 0.0)
    return HandDetection(landmarks, label, score)


@pytest.mark.parametrize(
    ("label", "mirrored", "labels_assume_mirrored", "slot"),
    [
        ("Left", False, True, RIGHT_SLOT),  # legacy on a camera filming the signer
        ("Right", False, True, LEFT_SLOT),
        ("Left", True, True, LEFT_SLOT),  # legacy on a selfie view
        ("Left", False, False, LEFT_SLOT),  # Tasks on a camera filming the signer
        ("Left", True, False, RIGHT_SLOT),
    ],
)
def test_labels_map_to_anatomical_slots(label, mirrored, labels_assume_mirrored, slot):
    assert label_to_slot(label, mirrored, labels_assume_mirrored) == slot


def test_unknown_label_is_rejected():
    with pytest.raises(ValueError, match="handedness label 'left'"):
        label_to_slot("left", False)


def test_one_hand_goes_to_its_label_slot_with_its_score():
    positions, presence = SlotAssigner().assign([_hand(0.3, "Left", score=0.8)])
    np.testing.assert_allclose(presence, [0.0, 0.8])
    assert positions[RIGHT_SLOT, 0, 0] == pytest.approx(0.3)
    assert np.all(positions[LEFT_SLOT] == 0.0)


def test_no_detection_gives_two_missing_slots():
    positions, presence = SlotAssigner().assign([])
    assert positions.shape == (2, 21, 3) and np.all(positions == 0) and np.all(presence == 0)


@pytest.mark.parametrize(("mirrored", "slot_of_leftmost"), [(False, RIGHT_SLOT), (True, LEFT_SLOT)])
def test_same_label_without_history_splits_by_image_side(mirrored, slot_of_leftmost):
    leftmost, rightmost = _hand(0.25, "Left", 0.7), _hand(0.7, "Left", 0.95)
    positions, presence = SlotAssigner(mirrored).assign([rightmost, leftmost])
    assert presence[slot_of_leftmost] == pytest.approx(0.7)
    assert positions[slot_of_leftmost, 0, 0] == pytest.approx(0.25)
    assert positions[1 - slot_of_leftmost, 0, 0] == pytest.approx(0.7)


def test_same_label_follows_the_previous_frame_wrists():
    assigner = SlotAssigner()
    # Frame 1: correctly labelled, the right hand (label "Left") on the image's right side,
    # which is unusual but possible when the arms cross.
    assigner.assign([_hand(0.8, "Left"), _hand(0.2, "Right")])
    # Frame 2: both labelled "Right"; continuity keeps each hand in its slot although the
    # image-side rule alone would swap them.
    positions, presence = assigner.assign([_hand(0.21, "Right"), _hand(0.78, "Right")])
    assert positions[RIGHT_SLOT, 0, 0] == pytest.approx(0.78)
    assert positions[LEFT_SLOT, 0, 0] == pytest.approx(0.21)
    assert np.all(presence > 0)


def test_same_label_with_one_remembered_wrist():
    assigner = SlotAssigner()
    assigner.assign([_hand(0.75, "Right")])  # the left hand alone, on the image's right side
    positions, _ = assigner.assign([_hand(0.3, "Right"), _hand(0.72, "Right")])
    assert positions[LEFT_SLOT, 0, 0] == pytest.approx(0.72)
    assert positions[RIGHT_SLOT, 0, 0] == pytest.approx(0.3)


def test_duplicate_and_extra_detections_are_dropped():
    best, twin, third = _hand(0.3, "Left", 0.9), _hand(0.305, "Right", 0.6), _hand(0.7, "Right")
    positions, presence = SlotAssigner().assign([twin, best])
    np.testing.assert_allclose(presence, [0.0, 0.9])  # the same hand seen twice counts once
    positions, presence = SlotAssigner().assign([twin, _hand(0.5, "Left", 0.2), best, third])
    np.testing.assert_allclose(presence, [0.9, 0.9])  # the two best distinct hands
    assert positions[LEFT_SLOT, 0, 0] == pytest.approx(0.7)


def test_non_finite_detection_is_ignored_and_score_never_zero():
    broken = _hand(0.4, "Right")
    broken.landmarks[3, 1] = np.nan
    _, presence = SlotAssigner().assign([broken, _hand(0.3, "Left", score=0.0)])
    assert presence[LEFT_SLOT] == 0.0 and 0 < presence[RIGHT_SLOT] <= 0.01
