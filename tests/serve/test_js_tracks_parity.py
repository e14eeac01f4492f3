"""``tracks.js`` (the resampled frame count, also through ``camera_tracks.js``) and ``slots.js``
against ``extraction/tracks.py`` and ``extraction/slots.py``, run in Node (``js_node.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.export.web import camera_frames
from whispersign_jax.extraction import slots, tracks
from whispersign_jax.inference.sources import CAMERA_CHUNK_S

from .js_node import (
    WINDOW_FRAMES,
    node,  # noqa: F401  (the module's Node.js fixture)
    page_settings,
    run_js,
    values,
)

FRAME_RATES = (kp.FPS, 30.0, 25.0, 30000 / 1001, 120.0, 1.0)


def python_frame_count(first: float, last: float, fps: float) -> int:
    return len(tracks.resampling_times(np.array([first, last]), fps))


def frame_count_cases(rng: np.random.Generator) -> tuple[list, list]:
    """(first, last, fps) cases, and (below, above) pairs of cases two ulps of ``last`` on
    each side of a rounding boundary (``last - first`` = n + 0.75 frame periods)."""
    cases, boundaries = [], []
    for fps in FRAME_RATES:
        for first in (0.0, 0.1, 1 / 3, 12.345, 3600.0 + 1 / 7):
            for frames in (0, 1, 2, 15, 59, 60, 61, 180, 1001):
                for offset in (0.0, 0.25, 0.5, 0.74, 0.75, 0.76, -0.25):  # 0.0: exact multiples
                    last = first + (frames + offset) / fps
                    cases.append((first, max(last, first), fps))
                edge = first + (frames + 0.75) / fps
                below = np.nextafter(np.nextafter(edge, -np.inf), -np.inf)
                above = np.nextafter(np.nextafter(edge, np.inf), np.inf)
                boundaries.append((len(cases), len(cases) + 1))
                cases += [(first, float(below), fps), (first, float(above), fps)]
            for tiny in (1e-12, 1e-6, 0.1 / fps, 0.7499 / fps):  # tiny spans: one frame
                cases.append((first, first + tiny, fps))
            cases.append((first, float(np.nextafter(first, np.inf)), fps))
    # The Python camera's chunks: from a frame to the first one CAMERA_CHUNK_S or more later,
    # of cameras with millisecond timestamps.
    for camera_fps in (30.0, 30000 / 1001, 25.0, 15.0, 60.0):
        times = np.round(np.arange(400) / camera_fps + rng.uniform(0, 100), 3)
        for start in range(0, 350, 7):
            end = int(np.searchsorted(times, times[start] + CAMERA_CHUNK_S))
            cases.append((float(times[start]), float(times[end]), kp.FPS))
    for _ in range(300):
        first = float(rng.uniform(0.0, 1e4))
        cases.append((first, first + float(rng.uniform(0.0, 10.0)), float(rng.choice(FRAME_RATES))))
    return cases, boundaries


def test_resampled_frames_match_resampling_times():
    """tracks.js's count of grid frames = len(tracks.resampling_times) over exact multiples
    of the period, tiny spans, both sides of the quarter-period rounding and camera chunks."""
    cases, boundaries = frame_count_cases(np.random.default_rng(28))
    calls = [{"op": "resampledFrames", "first": a, "last": b, "fps": f} for a, b, f in cases]
    expected = [python_frame_count(*case) for case in cases]
    assert values(run_js(calls)) == expected
    # Each boundary pair straddles the rounding: one more frame on the upper side.
    assert all(expected[above] == expected[below] + 1 for below, above in boundaries)
    assert len(cases) > 2500 and len(set(expected)) > 100


def camera_times(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Camera frame times from 0 s, as the page keeps them."""
    if kind == "ms_30":  # a 30 FPS camera with millisecond timestamps
        times = np.round(np.arange(int(rng.integers(1, 400))) / 30.0 + rng.uniform(0, 9), 3)
    elif kind == "grid_60":  # already on the grid
        times = np.arange(int(rng.integers(1, 400))) / kp.FPS
    elif kind == "ntsc":
        times = np.arange(int(rng.integers(1, 400))) * 1001 / 30000
    else:  # a webcam's jittery intervals
        times = np.cumsum(rng.uniform(0.025, 0.045, int(rng.integers(1, 400))))
    return times - times[0]


def test_camera_tracks_total_frames_match_resampling_times():
    """camera_tracks.js counts a stream's grid frames with tracks.js, also after forgetting
    its first frames: the count of tracks.resampling_times on the stream's times."""
    rng = np.random.default_rng(29)
    settings = page_settings(camera_frames=camera_frames(WINDOW_FRAMES))
    streams = [np.array([0.0]), np.array([0.0, 0.001]), np.array([0.0, 0.74 / kp.FPS])]
    streams += [camera_times(rng, ("ms_30", "grid_60", "ntsc", "webcam")[i % 4]) for i in range(40)]
    calls, expected = [], []
    for times in streams:
        expected.append(len(tracks.resampling_times(times, kp.FPS)))
        forget = int(rng.integers(0, expected[-1] + 1))
        calls.append({"op": "cameraTotalFrames", "settings": settings, "times": times})
        calls[-1]["forgetBefore"] = forget
    assert values(run_js(calls)) == expected
    assert expected[:3] == [1, 1, 1] and len(set(expected)) > 30


# ---------------------------------------------------------------- slots


def random_hand(rng: np.random.Generator, wrist: np.ndarray) -> np.ndarray:
    """(21, 3) landmarks around ``wrist`` (x, y)."""
    landmarks = rng.normal(0.0, 0.05, (kp.JOINTS_PER_HAND, 3))
    landmarks[:, :2] += wrist
    landmarks[kp.WRIST, :2] = wrist
    return landmarks


def detection_frames(rng: np.random.Generator, count: int) -> list[list[dict]]:
    """Frames of 0 to 3 detections: two hands moving smoothly, labels sometimes equal or
    swapped, duplicates closer than DUPLICATE_DISTANCE, non-finite landmarks."""
    wrists = rng.uniform(0.2, 0.8, (2, 2))
    frames = []
    for _ in range(count):
        wrists += rng.normal(0.0, 0.02, (2, 2))
        hands = []
        for wrist in wrists[: int(rng.choice([0, 1, 2, 2, 2]))]:
            label = str(rng.choice(["Left", "Right"]))
            hands.append({"landmarks": random_hand(rng, wrist), "label": label})
            hands[-1]["score"] = float(rng.uniform(0.0, 1.2))
        if hands and rng.random() < 0.3:  # the same hand seen twice
            twin = hands[0]["landmarks"] + rng.normal(0.0, 0.003, (kp.JOINTS_PER_HAND, 3))
            score = hands[0]["score"] if rng.random() < 0.5 else float(rng.uniform(0, 1))
            hands.append({**hands[0], "landmarks": twin, "score": score})
        if hands and rng.random() < 0.15:
            broken = hands[-1]["landmarks"].copy()
            broken[int(rng.integers(0, kp.JOINTS_PER_HAND)), 1] = np.nan
            hands[-1] = {**hands[-1], "landmarks": broken}
        order = rng.permutation(len(hands))
        frames.append([hands[i] for i in order])
    return frames


def assign_in_python(frames, mirrored: bool, labels_assume_mirrored: bool) -> list:
    assigner = slots.SlotAssigner(mirrored, labels_assume_mirrored)
    out = []
    for detections in frames:
        hands = [
            slots.HandDetection(np.asarray(d["landmarks"]), d["label"], d["score"])
            for d in detections
        ]
        out.append(assigner.assign(hands))
    return out


def test_slots_match_python_slot_assigner():
    rng = np.random.default_rng(25)
    calls, expected = [], []
    for index in range(12):
        mirrored, labels_assume_mirrored = bool(index % 2), index % 4 == 3
        frames = detection_frames(rng, 40)
        settings = page_settings()
        settings["slots"] = {**settings["slots"], "labels_assume_mirrored": labels_assume_mirrored}
        expected.append(assign_in_python(frames, mirrored, labels_assume_mirrored))
        calls.append({"op": "slots", "settings": settings, "mirrored": mirrored, "frames": frames})
    both_present = 0
    for js_frames, python_frames in zip(values(run_js(calls)), expected, strict=True):
        for js, (positions, presence) in zip(js_frames, python_frames, strict=True):
            np.testing.assert_array_equal(js["presence"], presence.astype(np.float32))
            np.testing.assert_array_equal(js["positions"], positions.astype(np.float32).ravel())
            both_present += bool(np.all(presence > 0))
    assert both_present > 100


def test_slots_refuse_bad_labels_and_shapes():
    rng = np.random.default_rng(26)
    hand = random_hand(rng, np.array([0.5, 0.5]))
    bad_label = [{"landmarks": hand, "label": "Middle", "score": 0.9}]
    bad_shape = [{"landmarks": hand[:20], "label": "Left", "score": 0.9}]
    calls = [
        {"op": "slots", "settings": page_settings(), "mirrored": False, "frames": [frame]}
        for frame in (bad_label, bad_shape)
    ]
    for frame, result in zip((bad_label, bad_shape), run_js(calls), strict=True):
        with pytest.raises(ValueError) as error:
            assign_in_python([frame], False, False)
        assert result["error"] == str(error.value)
