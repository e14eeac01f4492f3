"""The exported-model runtime's NumPy decoders against their JAX twins, on random and peaky
CTC log-probabilities with padded tails: identical hypotheses, spans and confidences."""

import jax
import numpy as np
import pytest

from whispersign_jax.decoding import ctc, numpy_decoders
from whispersign_jax.decoding.options import DecodeOptions

CASES = [(seed, sharpness) for seed in range(6) for sharpness in (1.0, 4.0)]


def log_probs_case(seed: int, sharpness: float, positions: int = 24, classes: int = 6):
    """Log-probabilities (positions, classes) from random logits; ``sharpness`` makes paths
    peaky (long runs, repeats), the valid length is random."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(positions, classes)) * sharpness
    logits[:, 0] += rng.uniform(0, 2)  # blanks as common as in a trained model
    valid = np.arange(positions) < rng.integers(positions // 2, positions + 1)
    return numpy_decoders.log_softmax(logits), valid


def test_log_softmax_matches_jax():
    log_probs, _ = log_probs_case(0, 4.0)
    logits = log_probs * 3.0 + 1.0
    np.testing.assert_allclose(
        numpy_decoders.log_softmax(logits), jax.nn.log_softmax(logits), atol=1e-5
    )


@pytest.mark.parametrize(("seed", "sharpness"), CASES)
def test_greedy_export_matches_jax(seed, sharpness):
    log_probs, valid = log_probs_case(seed, sharpness)
    for max_glosses in (3, 24):
        want = jax.device_get(ctc.greedy_decode(log_probs[None], valid[None], max_glosses))
        got = numpy_decoders.greedy(log_probs, valid, max_glosses)
        np.testing.assert_array_equal(got["ids"], want["ids"][0])
        assert got["length"] == want["lengths"][0]
        np.testing.assert_array_equal(got["spans"], want["spans"][0])
        np.testing.assert_allclose(got["score"], want["scores"][0], rtol=1e-5)


@pytest.mark.parametrize(("seed", "sharpness"), CASES)
def test_prefix_beam_search_export_matches_jax(seed, sharpness):
    log_probs, valid = log_probs_case(seed, sharpness)
    beam, max_glosses = 5, 8
    want = jax.device_get(ctc.prefix_beam_search(log_probs[None], valid[None], beam, max_glosses))
    got = numpy_decoders.prefix_beam_search(log_probs, valid, beam, max_glosses)
    np.testing.assert_array_equal(got["lengths"], want["lengths"][0])
    np.testing.assert_array_equal(got["ids"], want["ids"][0])
    np.testing.assert_allclose(got["scores"], want["scores"][0], rtol=1e-4)
    assert len({tuple(row[:n]) for row, n in zip(got["ids"], got["lengths"], strict=True)}) == beam


@pytest.mark.parametrize(("seed", "sharpness"), CASES)
def test_alignment_and_confidences_export_match_jax(seed, sharpness):
    log_probs, valid = log_probs_case(seed, sharpness)
    nbest = numpy_decoders.prefix_beam_search(log_probs, valid, 4, 8)
    for ids, length in zip(nbest["ids"], nbest["lengths"], strict=True):
        want = jax.device_get(
            ctc.forced_alignment(log_probs[None], valid[None], ids[None], np.array([length]))
        )
        spans = numpy_decoders.forced_alignment(log_probs, valid, ids, int(length))
        np.testing.assert_array_equal(spans, want["spans"][0])
        want_confidence = ctc.span_confidences(log_probs[None], ids[None], spans[None])[0]
        np.testing.assert_allclose(
            numpy_decoders.span_confidences(log_probs, ids, spans), want_confidence, rtol=1e-5
        )


def test_rescoring_export_picks_by_the_weighted_sum():
    """The n-best's second hypothesis wins once the attention scores favour it enough."""
    log_probs, valid = log_probs_case(3, 1.0)
    options = DecodeOptions(decoder="attention_rescoring", beam_size=3, ctc_weight=0.5)
    nbest = numpy_decoders.prefix_beam_search(log_probs, valid, 3, 8)
    gap = nbest["scores"][0] - nbest["scores"][1]
    favour_second = lambda ids, lengths: np.array([-10.0, -9.0 + gap, -20.0], np.float32)[
        : len(ids)
    ]
    out = numpy_decoders.decode(log_probs, valid, options, 8, favour_second)
    assert out["lengths"][0] == nbest["lengths"][1]
    np.testing.assert_array_equal(out["ids"][0], nbest["ids"][1])
    np.testing.assert_allclose(out["scores"][0], 0.5 * nbest["scores"][1] + 0.5 * (-9.0 + gap))
    with pytest.raises(ValueError, match="needs the exported decoder"):
        numpy_decoders.decode(log_probs, valid, options, 8, None)
    with pytest.raises(ValueError, match="not 'joint_beam'"):
        numpy_decoders.decode(log_probs, valid, DecodeOptions(decoder="joint_beam"), 8)
