"""CTC prefix scores of the joint search against brute-force sums over frame paths."""

import jax.numpy as jnp
import numpy as np
import pytest
from brute_force import label_probabilities

from whispersign_jax.decoding.joint import CtcPrefixScorer

NUM_GLOSSES = 2
DECODER_SIZE = NUM_GLOSSES + 4  # blank, glosses, <sos> <eos> <pad>
EOS = NUM_GLOSSES + 2


def prefix_probability(totals, prefix) -> float:
    return sum(p for labels, p in totals.items() if labels[: len(prefix)] == tuple(prefix))


@pytest.mark.parametrize("hypothesis", [(), (1,), (2, 1), (1, 1)])
def test_gains_are_prefix_probability_ratios(hypothesis):
    positions = 5
    logits = np.random.default_rng(7).normal(size=(positions, NUM_GLOSSES + 1)) * 1.5
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    totals = label_probabilities(log_probs)
    scorer = CtcPrefixScorer(
        jnp.asarray(log_probs[None], jnp.float32), jnp.ones((1, positions), bool), DECODER_SIZE, EOS
    )
    max_glosses = 3
    state = scorer.init(batch=1, beam=1)
    tokens = jnp.zeros((1, 1, max_glosses), jnp.int32)
    for step, gloss in enumerate(hypothesis):  # extend the empty prefix one gloss at a time
        _, candidates = scorer.extend(state, tokens, jnp.asarray(step))
        state = scorer.select(state, candidates, jnp.zeros((1, 1), int), jnp.full((1, 1), gloss))
        tokens = tokens.at[0, 0, step].set(gloss)
    gain, _ = scorer.extend(state, tokens, jnp.asarray(len(hypothesis)))
    gain = np.asarray(gain[0, 0])
    own = prefix_probability(totals, hypothesis)
    np.testing.assert_allclose(np.exp(state["psi"][0, 0]), own, rtol=1e-4)
    for gloss in range(1, NUM_GLOSSES + 1):
        expected = prefix_probability(totals, (*hypothesis, gloss)) / own
        np.testing.assert_allclose(np.exp(gain[gloss]), expected, rtol=1e-4)
    np.testing.assert_allclose(np.exp(gain[EOS]), totals.get(hypothesis, 0.0) / own, rtol=1e-4)
    assert np.all(np.isneginf(gain[[0, EOS - 1, EOS + 1]]))  # blank, <sos>, <pad>


def test_padded_positions_do_not_change_the_prefix_scores():
    rng = np.random.default_rng(8)
    logits = rng.normal(size=(1, 6, NUM_GLOSSES + 1))
    log_probs = jnp.asarray(logits - np.log(np.exp(logits).sum(-1, keepdims=True)), jnp.float32)
    padded = CtcPrefixScorer(log_probs, jnp.arange(6)[None] < 4, DECODER_SIZE, EOS)
    cut = CtcPrefixScorer(log_probs[:, :4], jnp.ones((1, 4), bool), DECODER_SIZE, EOS)
    tokens = jnp.zeros((1, 1, 2), jnp.int32)
    gain_padded, _ = padded.extend(padded.init(1, 1), tokens, jnp.asarray(0))
    gain_cut, _ = cut.extend(cut.init(1, 1), tokens, jnp.asarray(0))
    np.testing.assert_allclose(gain_padded, gain_cut, rtol=1e-5)
