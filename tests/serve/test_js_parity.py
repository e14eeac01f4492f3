"""The page's JavaScript ports against the Python they mirror, run in Node on the same inputs
(``js_harness.mjs``), one file per Python module (``test_js_ports.py`` holds the list):
``numpy_decoders.js`` (decoding/numpy_decoders.py), ``options.js`` (decoding/options.py),
``result.js`` (decoding/result.py), ``runtime.js`` (export/runtime.py: ExportedModel.score's
scorer padding, ExportedRecognizer.recognize's glue), ``tracks.js`` (extraction/tracks.py: the
resampled frame count, also through camera_tracks.js), ``streaming.js``
(inference/streaming.py, in test_js_stream_parity.py) and ``slots.js`` (extraction/slots.py,
in test_js_tracks_parity.py). One Node process per test; skipped where ``node`` is not
installed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from whispersign_jax import keypoints as kp
from whispersign_jax.decoding import numpy_decoders
from whispersign_jax.decoding.options import (
    RUNTIME_DECODERS,
    DecodeOptions,
    length_buckets,
    padded_frames,
)
from whispersign_jax.decoding.result import Recognition, to_recognitions
from whispersign_jax.export.runtime import ExportedModel, ExportedRecognizer
from whispersign_jax.vocab import BLANK_ID, Vocabulary

from .js_node import (
    GLOSSES,
    NUM_GLOSSES,
    PATCH_SIZE,
    SCORE_TOLERANCE,
    WINDOW_FRAMES,
    node,  # noqa: F401  (the module's Node.js fixture)
    page_settings,
    run_js,
    values,
)


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
