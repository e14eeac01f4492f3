"""CTC decoders on hand-made log-probabilities: greedy (against the reference collapse of the
best path), prefix beam search, alignment, and the exact single-gloss likelihood, against
brute-force sums over every frame path."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from brute_force import collapse, label_probabilities

from whispersign_jax.decoding import (
    forced_alignment,
    greedy_decode,
    numpy_decoders,
    prefix_beam_search,
    single_gloss_log_likelihood,
)
from whispersign_jax.decoding.ctc import span_confidences


@pytest.mark.parametrize(
    ("frame_ids", "length", "expected"),
    [
        ([0, 3, 3, 0, 3, 5, 5], 7, [3, 3, 5]),  # the example of brute_force.collapse
        ([2, 2, 2, 2], 4, [2]),  # repeats merge
        ([0, 0, 0], 3, []),  # blanks only
        ([4, 0, 4, 4, 0, 0, 4], 7, [4, 4, 4]),  # every blank separates a repeat
        ([1, 2, 1, 2], 4, [1, 2, 1, 2]),  # alternating glosses all kept
        ([1, 1, 0, 2, 2, 3], 3, [1]),  # only the first `length` frames count
        ([1, 1, 0, 2, 2, 3], 4, [1, 2]),
        ([5, 0, 5], 0, []),
    ],
)
def test_greedy_decoders_merge_repeats_then_drop_blanks(frame_ids, length, expected):
    """The JAX and NumPy greedy decoders on log-probabilities that peak at ``frame_ids``, with
    the positions from ``length`` on padded."""
    assert collapse(frame_ids, length) == expected  # the reference agrees with the table
    positions = len(frame_ids)
    probabilities = np.full((positions, 6), 0.05)
    probabilities[np.arange(positions), frame_ids] = 0.75
    log_probs = np.log(probabilities).astype(np.float32)  # (positions, classes)
    valid = np.arange(positions) < length
    out = greedy_decode(jnp.asarray(log_probs[None]), jnp.asarray(valid[None]), positions)
    assert out["ids"][0, : out["lengths"][0]].tolist() == expected
    runtime = numpy_decoders.greedy(log_probs, valid, positions)
    assert runtime["ids"][: runtime["length"]].tolist() == expected


def test_greedy_decode_is_the_collapsed_best_path():
    """On random log-probabilities and lengths: the reference collapse of each row's argmax."""
    rng = np.random.default_rng(7)
    batch, positions = 16, 12
    log_probs = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(batch, positions, 4)) * 2.0))
    lengths = rng.integers(0, positions + 1, batch)
    mask = jnp.arange(positions)[None] < jnp.asarray(lengths)[:, None]
    out = greedy_decode(log_probs, mask, max_glosses=positions)
    best = np.asarray(jnp.argmax(log_probs, axis=-1))  # (batch, positions)
    for row in range(batch):
        expected = collapse(best[row], int(lengths[row]))
        assert out["ids"][row, : out["lengths"][row]].tolist() == expected
    assert sum(int(n) for n in out["lengths"]) > batch  # the rows hold glosses to compare


def test_single_gloss_log_likelihood_matches_optax_ctc_loss():
    batch, positions, num_glosses = 3, 7, 5
    logits = jax.random.normal(jax.random.key(0), (batch, positions, num_glosses + 1)) * 2.0
    lengths = np.array([7, 4, 1])
    encoder_mask = jnp.arange(positions)[None, :] < lengths[:, None]  # (batch, positions)
    got = np.asarray(single_gloss_log_likelihood(logits, encoder_mask))
    assert got.shape == (batch, num_glosses)
    assert np.all(np.isfinite(got)) and np.all(got < 0)

    logit_paddings = 1.0 - encoder_mask.astype(jnp.float32)
    label_paddings = jnp.zeros((batch, 1))
    for gloss in range(1, num_glosses + 1):
        labels = jnp.full((batch, 1), gloss, jnp.int32)
        loss = optax.ctc_loss(logits, logit_paddings, labels, label_paddings, blank_id=0)
        np.testing.assert_allclose(got[:, gloss - 1], -np.asarray(loss), atol=1e-4, rtol=1e-5)

    # A one-frame sample can only emit the gloss in its single frame.
    log_probs = np.asarray(jax.nn.log_softmax(logits, axis=-1))
    np.testing.assert_allclose(got[2], log_probs[2, 0, 1:], atol=1e-5)


def test_padded_positions_do_not_change_the_likelihood():
    logits = jax.random.normal(jax.random.key(1), (1, 6, 4))
    mask = jnp.array([[True, True, True, False, False, False]])
    padded = single_gloss_log_likelihood(logits, mask)
    garbage = logits.at[:, 3:].set(100.0 * jax.random.normal(jax.random.key(2), (1, 3, 4)))
    truncated = single_gloss_log_likelihood(logits[:, :3], jnp.ones((1, 3), bool))
    np.testing.assert_allclose(padded, truncated, atol=1e-5)
    np.testing.assert_allclose(single_gloss_log_likelihood(garbage, mask), padded, atol=1e-5)


def brute_force_single_gloss(log_probs: np.ndarray) -> np.ndarray:
    """Sums the probability of every frame path whose CTC collapse is exactly ``[g]``."""
    positions, classes = log_probs.shape
    probability = np.zeros(classes - 1)
    for path in itertools.product(range(classes), repeat=positions):
        merged = [token for token, _ in itertools.groupby(path)]
        emitted = [token for token in merged if token != 0]
        if len(emitted) == 1:
            probability[emitted[0] - 1] += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return np.log(probability)


def test_single_gloss_log_likelihood_matches_brute_force_paths():
    logits = np.random.default_rng(3).normal(size=(4, 3)) * 1.5  # T=4, blank + 2 glosses
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))  # float64
    expected = brute_force_single_gloss(log_probs)
    got = single_gloss_log_likelihood(
        jnp.asarray(logits[None], jnp.float32), jnp.ones((1, 4), bool)
    )
    np.testing.assert_allclose(np.asarray(got)[0], expected, atol=1e-5)
    # The two single-gloss labels do not exhaust the path space (blank-only, two-gloss paths).
    assert np.exp(expected).sum() < 1.0


def as_log_probs(probabilities) -> jnp.ndarray:
    return jnp.log(jnp.asarray(probabilities, jnp.float32))[None]  # (1, positions, classes)


def test_prefix_beam_finds_the_sequence_that_greedy_misses():
    # Every position: blank 0.4, gloss 1 0.35, gloss 2 0.25. The best single path is all
    # blanks (0.16), but the label sequence [1] collects 0.35^2 + 2 * 0.35 * 0.4 = 0.4025.
    log_probs = as_log_probs([[0.4, 0.35, 0.25]] * 2)
    mask = jnp.ones((1, 2), bool)
    greedy = greedy_decode(log_probs, mask, max_glosses=2)
    assert int(greedy["lengths"][0]) == 0
    np.testing.assert_allclose(np.exp(greedy["scores"][0]), 0.16, rtol=1e-5)
    beam = prefix_beam_search(log_probs, mask, beam_size=4, max_glosses=2)
    assert int(beam["lengths"][0, 0]) == 1 and int(beam["ids"][0, 0, 0]) == 1
    np.testing.assert_allclose(np.exp(beam["scores"][0, 0]), 0.4025, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prefix_beam_scores_are_exact_label_probabilities(seed):
    logits = np.random.default_rng(seed).normal(size=(5, 3)) * 2.0  # T=5, blank + 2 glosses
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    expected = sorted(label_probabilities(log_probs).items(), key=lambda item: -item[1])
    # A beam as wide as every prefix that can occur keeps the search exact.
    out = prefix_beam_search(
        jnp.asarray(log_probs[None], jnp.float32), jnp.ones((1, 5), bool), 40, 5
    )
    for k, (labels, probability) in enumerate(expected[:8]):
        assert tuple(out["ids"][0, k, : out["lengths"][0, k]].tolist()) == labels
        np.testing.assert_allclose(np.exp(out["scores"][0, k]), probability, rtol=1e-4)


def test_prefix_beam_keeps_a_repeated_gloss_only_across_a_blank():
    # 1 1 blank 1: the label sequence [1, 1] dominates, [1] is second.
    probabilities = [[0.05, 0.9, 0.05], [0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.9, 0.05]]
    out = prefix_beam_search(as_log_probs(probabilities), jnp.ones((1, 4), bool), 3, 4)
    assert out["ids"][0, 0, : out["lengths"][0, 0]].tolist() == [1, 1]
    assert out["ids"][0, 1, : out["lengths"][0, 1]].tolist() == [1]


def test_prefix_beam_ignores_padded_positions():
    logits = jax.random.normal(jax.random.key(4), (1, 6, 4)) * 2.0
    log_probs = jax.nn.log_softmax(logits)
    padded = prefix_beam_search(log_probs, jnp.arange(6)[None] < 4, 5, 6)
    cut = prefix_beam_search(log_probs[:, :4], jnp.ones((1, 4), bool), 5, 6)
    np.testing.assert_array_equal(padded["ids"], cut["ids"])
    np.testing.assert_allclose(padded["scores"], cut["scores"], rtol=1e-6)


def test_batched_prefix_beam_matches_one_sample_at_a_time():
    log_probs = jax.nn.log_softmax(jax.random.normal(jax.random.key(5), (3, 7, 5)) * 3.0)
    mask = jnp.arange(7)[None] < jnp.array([[7], [5], [2]])
    batched = prefix_beam_search(log_probs, mask, 4, 5)
    for row in range(3):
        single = prefix_beam_search(log_probs[row : row + 1], mask[row : row + 1], 4, 5)
        np.testing.assert_array_equal(batched["ids"][row], single["ids"][0])


def test_greedy_decode_collapses_and_times_each_gloss():
    # Positions: 1 1 blank 2 2 2 blank 2 (padded beyond 7).
    frame_ids = [1, 1, 0, 2, 2, 2, 0, 2]
    probabilities = np.full((8, 3), 0.05)
    probabilities[np.arange(8), frame_ids] = 0.9
    mask = jnp.arange(8)[None] < 7
    out = greedy_decode(as_log_probs(probabilities), mask, max_glosses=4)
    assert int(out["lengths"][0]) == 2
    assert out["ids"][0].tolist() == [1, 2, 0, 0]
    assert out["spans"][0, :2].tolist() == [[0, 2], [3, 6]]
    np.testing.assert_allclose(np.exp(out["scores"][0]), 0.9**7, rtol=1e-5)


def test_greedy_decode_drops_glosses_beyond_the_cap():
    probabilities = np.full((5, 4), 0.05)
    probabilities[np.arange(5), [1, 2, 3, 1, 2]] = 0.85
    out = greedy_decode(as_log_probs(probabilities), jnp.ones((1, 5), bool), max_glosses=3)
    assert out["ids"][0].tolist() == [1, 2, 3] and int(out["lengths"][0]) == 3


def test_forced_alignment_finds_the_best_path_and_its_spans():
    # Labels [1, 1] need a blank in between; gloss 1 is likely at positions 0-1 and 4.
    probabilities = np.array(
        [[0.1, 0.8, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.7, 0.2, 0.1], [0.1, 0.8, 0.1]]
    )
    ids, lengths = jnp.array([[1, 1, 0]]), jnp.array([2])
    log_probs = as_log_probs(probabilities)
    out = forced_alignment(log_probs, jnp.ones((1, 5), bool), ids, lengths)
    assert out["spans"][0].tolist() == [[0, 2], [4, 5], [0, 0]]
    best = max(  # brute force over every path that collapses to [1, 1]
        np.prod(probabilities[np.arange(5), path])
        for path in itertools.product(range(3), repeat=5)
        if [t for t, _ in itertools.groupby(path) if t] == [1, 1]
    )
    np.testing.assert_allclose(np.exp(out["scores"][0]), best, rtol=1e-5)
    confidences = span_confidences(log_probs, ids, out["spans"])
    np.testing.assert_allclose(confidences[0], [0.8, 0.8, 0.0], rtol=1e-5)


def test_forced_alignment_of_an_impossible_label_is_minus_infinity():
    log_probs = jax.nn.log_softmax(jnp.zeros((1, 2, 3)))
    out = forced_alignment(log_probs, jnp.ones((1, 2), bool), jnp.array([[1, 1]]), jnp.array([2]))
    assert np.isneginf(out["scores"][0])  # [1, 1] needs three positions
