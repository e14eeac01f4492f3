"""``streaming.js`` against ``inference/streaming.py`` (the sliding-window recogniser) and the
page's window plan, run in Node on the same inputs (``js_node.py``)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.decoding.result import Recognition, RecognizedGloss
from whispersign_jax.inference import streaming

from .js_node import (
    GLOSSES,
    node,  # noqa: F401  (the module's Node.js fixture)
    page_settings,
    run_js,
    values,
)


def fake_window_glosses(start: int, end: int, signs: list[dict]) -> list[RecognizedGloss]:
    """js_harness.mjs's fakeWindows: signs inside [start, end) whole, those cut by its edges
    clipped at half confidence, one frame early or late depending on the window."""
    jitter = (start // 7) % 3 - 1
    glosses = []
    for sign in signs:
        begin, finish = max(sign["frame"], start), min(sign["frame"] + sign["duration"], end)
        if begin >= finish:
            continue
        whole = begin == sign["frame"] and finish == sign["frame"] + sign["duration"]
        start_frame = max(begin - start + jitter, 0)
        confidence = sign["confidence"] if whole else sign["confidence"] * 0.5
        name = GLOSSES[sign["id"] - 1]
        glosses.append(
            RecognizedGloss(sign["id"], name, confidence, start_frame, start_frame + finish - begin)
        )
    return glosses


class FakeWindowRecognizer:
    """Reads a window's first stream frame from the keypoints (frame index in joint 0's x)."""

    def __init__(self, signs: list[dict]):
        self.signs = signs
        self.windows = []

    def recognize(self, window: np.ndarray) -> Recognition:
        start = int(window[0, 0, 0])
        self.windows.append((start, start + len(window)))
        glosses = fake_window_glosses(start, start + len(window), self.signs)
        return Recognition(glosses=tuple(glosses), score=0.0, decoder="fake")


def stream_case(rng: np.random.Generator, frames: int) -> dict:
    """Signs (some repeated a few frames apart, some at once, some weak), hand-less
    stretches, and the chunks the stream arrives in."""
    signs, frame = [], int(rng.integers(0, 20))
    while frame < frames:
        gloss_id = int(rng.integers(1, 6))
        confidence = float(np.round(rng.uniform(0.05, 1.0), 3))
        signs.append({"frame": frame, "duration": int(rng.integers(3, 25)), "id": gloss_id})
        signs[-1]["confidence"] = confidence
        if rng.random() < 0.3:  # the same gloss again, close enough to be taken for one
            signs.append({**signs[-1], "frame": frame + int(rng.integers(4, 30))})
        if rng.random() < 0.2:  # another gloss at about the same time
            other = {"id": gloss_id % 5 + 1, "frame": frame + int(rng.integers(0, 2))}
            signs.append({**signs[-1], **other})
        frame += int(rng.integers(8, 60))
    handless = []
    if rng.random() < 0.7:
        begin = int(rng.integers(0, frames))
        handless.append([begin, begin + int(rng.integers(100, 400))])
    chunks = []
    while sum(chunks) < frames:
        chunks.append(int(rng.choice([1, 2, 7, 30, 61, 90, 180, 200])))
    return {"signs": signs, "handless": handless, "chunks": chunks}


def stream_keypoints(frames: int, handless: list[list[int]]) -> np.ndarray:
    """(frames, joints, 7): the frame index in joint 0's x, hands present outside ``handless``."""
    keypoints = np.zeros((frames, kp.NUM_JOINTS, kp.NUM_FEATURES), np.float32)
    keypoints[:, 0, 0] = np.arange(frames)
    keypoints[:, :, kp.CONFIDENCE] = 1.0
    for begin, end in handless:
        keypoints[begin:end, :, kp.CONFIDENCE] = 0.0
    return keypoints


def stream_in_python(case: dict, settings: dict) -> dict:
    stream = settings["stream"]
    recognizer = FakeWindowRecognizer(case["signs"])
    streamer = streaming.StreamingRecognizer(
        recognizer,
        stream["window_s"],
        stream["overlap"],
        stream["min_confidence"],
        stream["dedupe_s"],
        stream["lookahead_s"],
    )
    keypoints = stream_keypoints(sum(case["chunks"]), case["handless"])
    steps, seen = [], 0
    for chunk in case["chunks"]:
        added = streamer.push(keypoints[seen : seen + chunk])
        seen += chunk
        steps.append({"added": added, "keepFrom": streamer.buffer_start})
    flushed = streamer.flush()
    after_flush = streamer.push(keypoints[: streamer.plan.window])
    return {
        "steps": steps,
        "flushed": flushed,
        "afterFlush": after_flush,
        "committed": streamer.committed,
        "windows": recognizer.windows,
    }


def as_dicts(glosses: list[RecognizedGloss]) -> list[dict]:
    return [dataclasses.asdict(gloss) for gloss in glosses]


STREAM_SETTINGS = [
    {},
    {"min_confidence": 0.4},
    {"window_s": 2.0, "overlap": 0.25, "dedupe_s": 0.5},
    {"window_s": 91 / kp.FPS, "overlap": 0.5},  # hop 45.5 frames: rounded to 46
    {"window_s": 1.5, "overlap": 0.8, "lookahead_s": 0.25},  # commits soon after emission
    {"window_s": 1.0, "overlap": 0.5, "lookahead_s": 0.0},
]


def test_streaming_matches_python_streaming_recognizer():
    rng = np.random.default_rng(24)
    calls, expected = [], []
    # Window 3 (frames 270-450) commits SIGN1 at frame 404; window 4 places SIGN2, which
    # window 3 saw after its boundary (405), at 404 too: never before the last commit + 1.
    one_frame_later = [
        {"frame": 401, "duration": 4, "id": 1, "confidence": 0.9},
        {"frame": 403, "duration": 4, "id": 2, "confidence": 0.8},
    ]
    cases = [({"signs": one_frame_later, "handless": [], "chunks": [600]}, page_settings())]
    for index in range(16):
        frames = int(rng.choice([0, 50, 179, 180, 181, 400, 900, 1500]))
        stream = {**page_settings()["stream"], **STREAM_SETTINGS[index % len(STREAM_SETTINGS)]}
        cases.append((stream_case(rng, frames), page_settings(stream=stream)))
    for case, settings in cases:
        expected.append(stream_in_python(case, settings))
        calls.append({"op": "stream", "settings": settings} | case)
    assert [gloss.name for gloss in expected[0]["committed"]] == ["SIGN1"]
    committed = windows = 0
    for call, js, python in zip(calls, values(run_js(calls)), expected, strict=True):
        where = f"stream of {sum(call['chunks'])} frames, {call['settings']['stream']}"
        for step, (js_step, py_step) in enumerate(zip(js["steps"], python["steps"], strict=True)):
            assert js_step["added"] == as_dicts(py_step["added"]), f"{where}: chunk {step}"
            assert js_step["keepFrom"] == py_step["keepFrom"], f"{where}: chunk {step}"
        assert js["flushed"] == as_dicts(python["flushed"]), where
        assert js["afterFlush"] == as_dicts(python["afterFlush"]) == []
        assert js["committed"] == as_dicts(python["committed"]), where
        committed += len(python["committed"])
        windows += len(python["windows"])
    assert committed > 50 and windows > 30


def test_window_plan_rounds_as_python():
    cases = [(3.0, 0.5, None), (91 / 60, 0.5, None), (93 / 60, 0.5, None), (1.5, 0.75, None),
             (0.3, 0.75, None), (0.01, 0.0, None), (1.5, 0.8, 0.25), (1.0, 0.5, 0.0),
             (91 / 60, 0.5, 0.375)]  # fmt: skip
    calls = [
        {"op": "windowPlan", "windowS": w, "overlap": o, "fps": kp.FPS, "lookaheadS": a}
        for w, o, a in cases
    ]
    calls.append({"op": "windowPlan", "windowS": 3.0, "overlap": 1.0, "fps": kp.FPS})
    calls.append({"op": "windowPlan", "windowS": 1.0, "overlap": 0.5, "fps": kp.FPS,
                  "lookaheadS": 0.6})  # fmt: skip
    results = run_js(calls)
    for (window_s, overlap, lookahead_s), result in zip(cases, values(results[:-2]), strict=True):
        plan = streaming.WindowPlan.from_seconds(window_s, overlap, lookahead_s)
        boundaries = [plan.boundary(i) for i in (1, 2, 3)]
        assert result == {
            "window": plan.window,
            "hop": plan.hop,
            "overlap": plan.overlap,
            "lookahead": plan.lookahead,
            "boundaries": boundaries,
        }
    with pytest.raises(ValueError, match="overlap must be a fraction") as error:
        streaming.WindowPlan.from_seconds(3.0, 1.0)
    assert results[-2]["error"].startswith(str(error.value).split(", got")[0])
    with pytest.raises(ValueError, match=r"lookahead_s must lie in \[0, 0.5\] s") as error:
        streaming.WindowPlan.from_seconds(1.0, 0.5, 0.6)
    assert results[-1]["error"].startswith("lookahead_s must lie in [0, 0.5] s")


# ---------------------------------------------------------------- the resampled frame count
