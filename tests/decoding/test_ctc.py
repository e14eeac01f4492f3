"""CTC collapse and the exact single-gloss likelihood against optax and brute force."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from whispersign_jax.decoding import collapse, ctc_greedy_ids, single_gloss_log_likelihood


@pytest.mark.parametrize(
    ("frame_ids", "length", "expected"),
    [
        ([0, 3, 3, 0, 3, 5, 5], 7, [3, 3, 5]),  # the docstring's example
        ([2, 2, 2, 2], 4, [2]),  # repeats merge
        ([0, 0, 0], 3, []),  # blanks only
        ([4, 0, 4, 4, 0, 0, 4], 7, [4, 4, 4]),  # every blank separates a repeat
        ([1, 2, 1, 2], 4, [1, 2, 1, 2]),  # alternating glosses all kept
        ([1, 1, 0, 2, 2, 3], 3, [1]),  # only the first `length` frames count
        ([1, 1, 0, 2, 2, 3], 4, [1, 2]),
        ([5, 0, 5], 0, []),
    ],
)
def test_collapse(frame_ids, length, expected):
    assert collapse(np.array(frame_ids), length) == expected


def test_greedy_ids_are_the_argmax_per_position():
    logits = jnp.array([[[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]], [[0.0, 0.0, 5.0], [-1.0, -2.0, -3.0]]])
    np.testing.assert_array_equal(ctc_greedy_ids(logits), [[1, 0], [2, 0]])


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
