"""The page's JavaScript ports against the Python they mirror, run in Node on the same inputs
(``js_harness.mjs``), one file per Python module (``test_js_ports.py`` holds the list):
``numpy_decoders.js`` (decoding/numpy_decoders.py), ``options.js`` (decoding/options.py),
``result.js`` (decoding/result.py), ``runtime.js`` (export/runtime.py: ExportedModel.score's
scorer padding, ExportedRecognizer.recognize's glue), ``tracks.js`` (extraction/tracks.py: the
resampled frame count, also through camera_tracks.js), ``streaming.js``
(inference/streaming.py) and ``slots.js`` (extraction/slots.py). One Node process per test;
skipped where ``node`` is not installed.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import load_script

from whispersign_jax import keypoints as kp
from whispersign_jax.decoding import numpy_decoders
from whispersign_jax.decoding.options import (
    RUNTIME_DECODERS,
    DecodeOptions,
    length_buckets,
    padded_frames,
)
from whispersign_jax.decoding.result import Recognition, RecognizedGloss, to_recognitions
from whispersign_jax.export.runtime import ExportedModel, ExportedRecognizer
from whispersign_jax.export.web import camera_frames, page_constants
from whispersign_jax.extraction import slots, tracks
from whispersign_jax.inference import streaming
from whispersign_jax.inference.sources import CAMERA_CHUNK_S
from whispersign_jax.vocab import BLANK_ID, Vocabulary

HARNESS = Path(__file__).with_name("js_harness.mjs")


@pytest.fixture(scope="module", autouse=True)
def node() -> str:
    """Node.js, installed with apt-get where it is missing and the tests run as root."""
    if shutil.which("node") is None:
        reason = load_script("browser_support").ensure_tools()
        if reason:
            pytest.skip(reason)
    return shutil.which("node")


NUM_GLOSSES = 40
GLOSSES = tuple(f"SIGN{i}" for i in range(1, NUM_GLOSSES + 1))
WINDOW_FRAMES = 180  # the page's 3 s window
PATCH_SIZE = 4
SCORE_TOLERANCE = 1e-5  # float32 exp, log1p: NumPy (glibc) and V8 may round a last bit apart


def page_settings(**overrides) -> dict:
    """whispersign_web.json's fields the ports read: the page's constants (export.web) and
    a 40-gloss model on the 3 s window."""
    options = DecodeOptions()
    settings = {
        **page_constants(options),
        "window_frames": WINDOW_FRAMES,
        "patch_size": PATCH_SIZE,
        "max_frames": WINDOW_FRAMES,
        "scorer_beam": options.beam_size,
        "scorer_lengths": length_buckets(15),
        "glosses": list(GLOSSES),
    }
    return {**settings, **overrides}


def _plain(value):
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value)} is not JSON")


def run_js(calls: list[dict]) -> list:
    """Each call's result in Node: its ``value``, or the ``error`` message it threw."""
    request = json.dumps({"calls": calls}, default=_plain)
    done = subprocess.run(
        ["node", str(HARNESS)], input=request, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"node {HARNESS.name} failed:\n{done.stderr}"
    results = json.loads(done.stdout)
    assert len(results) == len(calls)
    return results


def values(results: list) -> list:
    """The results' values; fails on the first error."""
    for result in results:
        assert "error" not in result, result["error"]
    return [result["value"] for result in results]


# ---------------------------------------------------------------- the fake attention decoder


def fake_attention(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """js_harness.mjs's fakeAttention: a score of each (K, L) row's first ``length`` ids."""
    scores = []
    for row, length in zip(ids.tolist(), lengths.tolist(), strict=True):
        total = sum((row[i] * (i + 3)) % 7 for i in range(length))
        scores.append(-0.37 * length - 0.11 * total)
    return np.array(scores, np.float32)


class FakeScorer:
    """An exported scorer (``ExportedModel._scorer``) that records what it is given."""

    def __init__(self):
        self.calls = []

    def __call__(self, signature, ids, lengths, encoder_out, encoder_mask) -> dict:
        self.calls.append({"signature": signature, "ids": ids, "lengths": lengths})
        return {"log_likelihoods": fake_attention(ids, lengths)}


def fake_exported_model(settings: dict, logits=None, mask=None) -> ExportedModel:
    """ExportedModel's own ``score`` (and an ``encode`` returning ``logits`` (P, C)) around
    the fake scorer, with the bundle fields ``score`` and ``recognize`` read."""
    model = object.__new__(ExportedModel)
    model.folder = Path("fake_export")
    model.bundle = SimpleNamespace(
        beam_size=settings["scorer_beam"],
        scorer_lengths=settings["scorer_lengths"],
        joint_set=kp.DEFAULT_JOINT_SET,
        window_frames=settings["window_frames"],
        max_frames=settings["max_frames"],
        patch_size=settings["patch_size"],
        vocabulary=Vocabulary(GLOSSES),
        preprocessor=lambda clip: clip,
    )
    model._scorer = FakeScorer()
    model.encode = lambda batch, frame_mask: {
        "ctc_logits": logits[None],
        "encoder_out": np.zeros((1, len(logits), 8), np.float32),
        "encoder_mask": mask[None],
    }
    return model


# ---------------------------------------------------------------- decoders


def recognition_dict(recognition: Recognition) -> dict:
    return {
        "decoder": recognition.decoder,
        "score": recognition.score,
        "ctc_score": recognition.ctc_score,
        "attention_score": recognition.attention_score,
        "nbest": [list(ids) for ids in recognition.nbest],
        "glosses": [dataclasses.asdict(gloss) for gloss in recognition.glosses],
    }


def assert_same_recognition(js: dict, python: Recognition, where: str) -> None:
    """Ids, names, frames and n-best equal; scores and confidences within SCORE_TOLERANCE."""
    expected = recognition_dict(python)
    for key in ("decoder", "nbest"):
        assert js[key] == expected[key], f"{where}: {key}"
    for key in ("score", "ctc_score", "attention_score"):
        if expected[key] is None:
            assert js[key] is None, f"{where}: {key} {js[key]} instead of None"
        else:
            assert js[key] == pytest.approx(expected[key], abs=SCORE_TOLERANCE), f"{where}: {key}"
    assert len(js["glosses"]) == len(expected["glosses"]), where
    for js_gloss, gloss in zip(js["glosses"], expected["glosses"], strict=True):
        confidence = gloss.pop("confidence")
        assert js_gloss.pop("confidence") == pytest.approx(confidence, abs=SCORE_TOLERANCE)
        assert js_gloss == gloss, where


def logits_case(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """CTC logits (P, C) float32 and valid (P,) bool of one kind of input."""
    positions = int(rng.integers(1, 36))
    classes = int(rng.choice([3, 5, 12, NUM_GLOSSES + 1]))
    valid = np.ones(positions, bool)
    if kind == "random":
        logits = rng.normal(0.0, 2.0, (positions, classes))
    elif kind == "ties":  # few distinct values: equal log-probs, equal beam candidates
        logits = rng.integers(0, 3, (positions, classes)).astype(float)
    elif kind == "all_blank":
        logits = rng.normal(0.0, 1.0, (positions, classes))
        logits[:, BLANK_ID] += 12.0
    else:  # "peaky" like a trained model: blank, with spikes of a gloss over a few positions
        logits = rng.normal(-6.0, 1.0, (positions, classes))
        logits[:, BLANK_ID] = 4.0
        for start in range(0, positions, int(rng.integers(2, 5))):
            run = int(rng.integers(1, 3))
            logits[start : start + run, rng.integers(1, classes)] = rng.uniform(3.0, 8.0)
    if rng.random() < 0.4:  # padding at the end, or invalid positions anywhere
        valid[int(rng.integers(0, positions + 1)) :] = False
    elif rng.random() < 0.3:
        valid = rng.random(positions) > 0.3
    return logits.astype(np.float32), valid


DECODER_SETTINGS = [
    {"decoder": "ctc_greedy"},
    {"decoder": "ctc_prefix_beam", "beam_size": 1},
    {"decoder": "ctc_prefix_beam", "beam_size": 4},
    {"decoder": "ctc_prefix_beam", "beam_size": 8},
    {"decoder": "attention_rescoring", "beam_size": 4, "ctc_weight": 0.5, "scorer_beam": 8},
    {"decoder": "attention_rescoring", "beam_size": 8, "ctc_weight": 0.3, "scorer_lengths": None},
    {"decoder": "attention_rescoring", "beam_size": 8, "ctc_weight": 0.7},
]
KINDS = ("random", "peaky", "ties", "all_blank")


def decode_in_python(log_probs, valid, settings: dict, max_glosses: int, num_frames: int):
    options = DecodeOptions(
        decoder=settings["decoder"],
        beam_size=settings["beam_size"],
        ctc_weight=settings["ctc_weight"],
    )
    model = fake_exported_model(settings)

    def attention_scores(ids, lengths):
        return model.score(ids, lengths, np.zeros((1, 1, 8)), np.ones((1, 1), bool))

    outputs = numpy_decoders.decode(log_probs, valid, options, max_glosses, attention_scores)
    recognition = to_recognitions(
        outputs, Vocabulary(GLOSSES), options.decoder, PATCH_SIZE, np.array([num_frames])
    )[0]
    return outputs, recognition, model._scorer.calls


def decoder_inputs(rng: np.random.Generator, count: int):
    """(log_probs (P, C), valid (P,), max_glosses, num_frames): random cases of each kind,
    then a gloss that the alignment places on the invalid first position only (its span
    is empty: the recognition clips its end to the clip)."""
    for index in range(count):
        logits, valid = logits_case(rng, KINDS[index % len(KINDS)])
        positions = len(logits)
        max_glosses = int(rng.choice([1, 2, 3, max(1, positions // 3), positions]))
        num_frames = int(rng.integers(1, positions * PATCH_SIZE + 1))
        yield numpy_decoders.log_softmax(logits), valid, max_glosses, num_frames
    first_only = np.log(np.array([[1e-3, 1.0, 1e-3], [0.55, 0.45, 1e-3], [0.55, 0.45, 1e-3]]))
    yield first_only.astype(np.float32), np.array([False, True, True]), 2, 10


def test_decoders_match_numpy_decoders():
    rng = np.random.default_rng(20)
    calls, expected = [], []
    for log_probs, valid, max_glosses, num_frames in decoder_inputs(rng, 36):
        classes = log_probs.shape[1]
        for overrides in DECODER_SETTINGS:
            settings = page_settings(**overrides)
            if settings["scorer_lengths"] is not None:
                settings["scorer_lengths"] = length_buckets(max_glosses)
            expected.append(decode_in_python(log_probs, valid, settings, max_glosses, num_frames))
            calls.append(
                {
                    "op": "decode",
                    "logProbs": log_probs.ravel(),
                    "valid": valid.astype(int),
                    "classes": classes,
                    "settings": settings,
                    "maxGlosses": max_glosses,
                    "numFrames": num_frames,
                }
            )
    glosses = rescored = 0
    for call, js, (outputs, recognition, scorer_calls) in zip(
        calls, values(run_js(calls)), expected, strict=True
    ):
        where = f"{call['settings']['decoder']} beam {call['settings']['beam_size']}"
        length = int(outputs["lengths"][0])
        assert js["outputs"]["length"] == length, where
        assert js["outputs"]["ids"] == outputs["ids"][0].tolist(), where
        assert js["outputs"]["spans"] == outputs["spans"][0].ravel().tolist(), where
        np.testing.assert_allclose(
            js["outputs"]["confidences"], outputs["confidences"][0], atol=SCORE_TOLERANCE
        )
        score = float(outputs["scores"][0])
        if call["settings"]["decoder"] == "ctc_greedy":  # float32 sums only: bit for bit
            assert js["outputs"]["score"] == score, where
        assert js["outputs"]["score"] == pytest.approx(score, abs=SCORE_TOLERANCE), where
        assert_same_recognition(js["recognition"], recognition, where)
        assert len(js["scorerCalls"]) == len(scorer_calls), where
        for js_call, call_made in zip(js["scorerCalls"], scorer_calls, strict=True):
            assert js_call["ids"] == call_made["ids"].ravel().tolist(), where
            assert js_call["lengths"] == call_made["lengths"].tolist(), where
        glosses += length
        if "attention_scores" in outputs:
            rescored += outputs["ids"][0].tolist() != outputs["nbest_ids"][0, 0].tolist()
    assert glosses > 400 and rescored > 10  # hypotheses, and rescoring that changes them


def test_recognize_glue_matches_exported_recognizer():
    """Encoder logits -> glosses as ExportedRecognizer.recognize does it (log-softmax, the
    hypothesis cap of the padded clip, decoding, spans clipped to the clip's frames)."""
    rng = np.random.default_rng(21)
    positions = WINDOW_FRAMES // PATCH_SIZE
    calls, expected = [], []
    for index, num_frames in enumerate([7, 60, 61, 119, 150, 180] * 3):
        settings = page_settings(**DECODER_SETTINGS[index % len(DECODER_SETTINGS)])
        logits, _ = logits_case(rng, ("random", "peaky")[index % 2])
        logits = np.resize(logits, (positions, logits.shape[1]))
        mask = np.arange(positions) < -(-num_frames // PATCH_SIZE)
        model = fake_exported_model(settings, logits, mask)
        options = DecodeOptions(
            decoder=settings["decoder"],
            beam_size=settings["beam_size"],
            ctc_weight=settings["ctc_weight"],
        )
        clip = np.zeros((num_frames, kp.NUM_JOINTS, kp.NUM_FEATURES), np.float32)
        clip[:, :, kp.CONFIDENCE] = 1.0
        expected.append(ExportedRecognizer(model, options).recognize(clip))
        calls.append(
            {
                "op": "recognize",
                "logits": logits.ravel(),
                "mask": mask.astype(int),
                "classes": logits.shape[1],
                "settings": settings,
                "numFrames": num_frames,
            }
        )
    glosses = 0
    for call, js, recognition in zip(calls, values(run_js(calls)), expected, strict=True):
        assert_same_recognition(js, recognition, f"{call['settings']['decoder']}")
        glosses += len(recognition.glosses)
    assert glosses > 20  # the clips decode to glosses, not only to empty hypotheses


def test_log_softmax_matches_numpy():
    rng = np.random.default_rng(22)
    cases = [
        rng.normal(0.0, 3.0, (7, 41)),
        rng.normal(0.0, 30.0, (3, 300)),  # rows longer than NumPy's 128-value sum blocks
        rng.integers(-2, 3, (4, 5)).astype(float),
        np.array([[1e4, -1e4, 0.0]]),
    ]
    calls = [
        {"op": "logSoftmax", "logits": c.astype(np.float32).ravel(), "classes": c.shape[1]}
        for c in cases
    ]
    for case, js in zip(cases, values(run_js(calls)), strict=True):
        expected = numpy_decoders.log_softmax(case).ravel()
        np.testing.assert_allclose(js, expected, rtol=1e-6, atol=1e-6)


def test_max_glosses_and_padding_match_the_runtime():
    calls, expected = [], []
    for decoder in ("ctc_greedy", "ctc_prefix_beam", "attention_rescoring"):
        for max_glosses in (None, 1, 5, 100):
            for patch_size in (2, 4):
                settings = page_settings(
                    decoder=decoder, max_glosses=max_glosses, patch_size=patch_size
                )
                options = DecodeOptions(decoder=decoder, max_glosses=max_glosses)
                for num_frames in (0, 1, 59, 60, 61, 121, 179, 180, 250):
                    as_recognized = padded_frames(num_frames, settings["max_frames"])
                    expected += [
                        as_recognized,
                        options.glosses_for(-(-as_recognized // patch_size)),
                    ]
                    calls += [
                        {"op": "paddedFrames", "settings": settings, "numFrames": num_frames},
                        {"op": "maxGlossesFor", "settings": settings, "numFrames": num_frames},
                    ]
    assert values(run_js(calls)) == expected
    assert len(set(expected)) > 10


def test_scorer_inputs_match_exported_model_score():
    rng = np.random.default_rng(23)
    cases = [  # (hypotheses K, width L, scorer_beam, scorer_lengths)
        (4, 15, 8, [1, 2, 4, 8, 15]),
        (8, 15, 8, [1, 2, 4, 8, 15]),
        (8, 3, 8, [1, 2, 4, 8, 15]),  # the scorer's length is wider than the hypotheses
        (2, 6, 4, None),  # a scorer of any shape: unpadded
        (9, 6, 8, [1, 2, 4, 8]),  # more hypotheses than the scorer takes
        (4, 12, 8, [1, 2, 4]),  # longer hypotheses than it takes
    ]
    calls, expected = [], []
    for beam, width, scorer_beam, scorer_lengths in cases:
        lengths = rng.integers(0, width + 1, beam).astype(np.int32)
        ids = rng.integers(1, NUM_GLOSSES, (beam, width)).astype(np.int32)
        ids[np.arange(width)[None, :] >= lengths[:, None]] = 0
        settings = page_settings(scorer_beam=scorer_beam, scorer_lengths=scorer_lengths)
        model = fake_exported_model(settings)
        try:
            model.score(ids, lengths, np.zeros((1, 1, 8)), np.ones((1, 1), bool))
            (made,) = model._scorer.calls
            expected.append({"ids": made["ids"].ravel().tolist(), "lengths": made["lengths"]})
        except ValueError as error:
            expected.append(str(error).split(": ", 1)[1])  # without the export folder
        calls.append(
            {"op": "scorerInputs", "ids": ids.ravel(), "lengths": lengths, "width": width}
            | {"settings": settings}
        )
    for js, python in zip(run_js(calls), expected, strict=True):
        if isinstance(python, str):
            assert js.get("error") == python
        else:
            assert js["value"]["ids"] == python["ids"]
            assert js["value"]["lengths"] == python["lengths"].tolist()
            assert js["value"]["length"] * len(python["lengths"]) == len(python["ids"])


def test_unknown_decoder_is_refused():
    settings = page_settings(decoder="joint_beam")
    call = {"op": "decode", "logProbs": [0.0, 0.0], "valid": [1], "classes": 2}
    call |= {"settings": settings, "maxGlosses": 1, "numFrames": 4}
    (result,) = run_js([call])
    for name in ("joint_beam", "ctc_greedy", "ctc_prefix_beam", "attention_rescoring"):
        assert name in result["error"]


def test_runtime_decoders_and_glosses_for_match_options():
    calls, expected = [{"op": "runtimeDecoders"}], [list(RUNTIME_DECODERS)]
    for decoder in RUNTIME_DECODERS:
        for max_glosses in (None, 1, 3, 7, 100):
            settings = page_settings(decoder=decoder, max_glosses=max_glosses)
            options = DecodeOptions(decoder=decoder, max_glosses=max_glosses)
            for positions in [*range(0, 50), 60, 61, 100, 450]:
                expected.append(options.glosses_for(positions))
                calls.append({"op": "glossesFor", "settings": settings, "positions": positions})
    assert values(run_js(calls)) == expected
    assert len(set(expected[1:])) > 40


def decoder_outputs(rng: np.random.Generator, decoder: str) -> dict:
    """numpy_decoders.decode's outputs (batch 1) of one made-up hypothesis: spans empty,
    reversed or past the clip, scores -inf or NaN where a decoder may give them."""
    width, positions = int(rng.integers(1, 7)), 45
    length = int(rng.integers(0, width + 1))
    starts = rng.integers(0, positions, width)
    spans = np.stack([starts, starts + rng.integers(-2, 6, width)], axis=1)
    spans[rng.random(width) < 0.2] = (positions, 0)  # a gloss the alignment could not place
    outputs = {
        "ids": rng.integers(1, NUM_GLOSSES + 1, (1, width)).astype(np.int32),
        "lengths": np.array([length], np.int32),
        "scores": rng.normal(-5.0, 3.0, 1).astype(np.float32),
        "spans": spans[None].astype(np.int32),
        "confidences": rng.random((1, width)).astype(np.float32),
    }
    outputs["ctc_scores"] = outputs["scores"].copy()
    if decoder == "ctc_greedy":
        return outputs
    beam = 4
    if rng.random() < 0.2:
        outputs["ctc_scores"][0] = -np.inf
    if decoder == "attention_rescoring":
        attention = rng.normal(-4.0, 2.0, 1).astype(np.float32)
        attention[0] = rng.choice([attention[0], attention[0], -np.inf, np.nan])
        outputs["attention_scores"] = attention
    outputs["nbest_ids"] = rng.integers(1, NUM_GLOSSES + 1, (1, beam, width)).astype(np.int32)
    outputs["nbest_lengths"] = rng.integers(0, width + 1, (1, beam)).astype(np.int32)
    nbest_scores = -np.sort(rng.uniform(0.0, 20.0, (1, beam))).astype(np.float32)
    nbest_scores[0, int(rng.integers(1, beam + 1)) :] = -np.inf  # dead hypotheses
    outputs["nbest_scores"] = nbest_scores
    return outputs


def js_outputs(outputs: dict) -> dict:
    """Python decoder outputs (batch 1) -> those of numpy_decoders.js's decode."""
    nbest = None
    if "nbest_ids" in outputs:
        nbest = {key: outputs[f"nbest_{key}"][0] for key in ("ids", "lengths", "scores")}
    attention = outputs.get("attention_scores", [None])[0]
    return {
        "ids": outputs["ids"][0],
        "length": int(outputs["lengths"][0]),
        "score": outputs["scores"][0],
        "ctcScore": outputs["ctc_scores"][0],
        "attentionScore": attention,
        "spans": outputs["spans"][0].ravel(),
        "confidences": outputs["confidences"][0],
        "nbest": nbest,
    }


def test_to_recognition_matches_to_recognitions():
    """result.js on the same decoder outputs: equal glosses (clipped spans, names), scores
    (None where not finite) and n-best (live hypotheses only), bit for bit."""
    rng = np.random.default_rng(27)
    calls, expected = [], []
    for index in range(60):
        decoder = RUNTIME_DECODERS[index % len(RUNTIME_DECODERS)]
        outputs = decoder_outputs(rng, decoder)
        num_frames = int(rng.integers(1, 45 * PATCH_SIZE + 1))
        recognition = to_recognitions(
            outputs, Vocabulary(GLOSSES), decoder, PATCH_SIZE, np.array([num_frames])
        )[0]
        expected.append(recognition_dict(recognition))
        calls.append(
            {"op": "toRecognition", "outputs": js_outputs(outputs), "numFrames": num_frames}
            | {"settings": page_settings(decoder=decoder)}
        )
    assert values(run_js(calls)) == expected
    clipped = sum(g["end_frame"] != g["start_frame"] + 1 for e in expected for g in e["glosses"])
    assert sum(len(e["glosses"]) for e in expected) > 80 and clipped > 40
    assert any(e["ctc_score"] is None for e in expected)
    assert any(e["attention_score"] is None for e in expected if e["decoder"] != "ctc_greedy")


# ---------------------------------------------------------------- streaming


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
    cases = [(3.0, 0.5), (91 / 60, 0.5), (93 / 60, 0.5), (1.5, 0.75), (0.3, 0.75), (0.01, 0.0)]
    calls = [{"op": "windowPlan", "windowS": w, "overlap": o, "fps": kp.FPS} for w, o in cases]
    calls.append({"op": "windowPlan", "windowS": 3.0, "overlap": 1.0, "fps": kp.FPS})
    results = run_js(calls)
    for (window_s, overlap), result in zip(cases, values(results[:-1]), strict=True):
        plan = streaming.WindowPlan.from_seconds(window_s, overlap)
        boundaries = [plan.boundary(i) for i in (1, 2, 3)]
        assert result == {
            "window": plan.window,
            "hop": plan.hop,
            "overlap": plan.overlap,
            "boundaries": boundaries,
        }
    with pytest.raises(ValueError, match="overlap must be a fraction") as error:
        streaming.WindowPlan.from_seconds(3.0, 1.0)
    assert results[-1]["error"].startswith(str(error.value).split(", got")[0])


# ---------------------------------------------------------------- the resampled frame count

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
