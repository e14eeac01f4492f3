"""Hybrid loss against hand computations."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.training import losses


def ctc_nll_by_enumeration(log_probs: np.ndarray, labels: list[int], blank: int = 0) -> float:
    """-log p(labels) summing over every frame path that collapses to ``labels``."""
    frames, classes = log_probs.shape
    total = 0.0
    for path in itertools.product(range(classes), repeat=frames):
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        if collapsed == labels:
            total += np.exp(sum(log_probs[t, c] for t, c in enumerate(path)))
    return -np.log(total)


def test_ctc_loss_matches_path_enumeration_with_padding():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 6, 4)).astype(np.float32)
    encoder_mask = np.array([[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 0, 0]], bool)
    labels = np.array([[1, 1, 2], [3, 2, 0]])
    label_mask = np.array([[1, 1, 1], [1, 1, 0]], bool)
    loss, feasible = losses.ctc_loss(jnp.asarray(logits), encoder_mask, labels, label_mask)
    log_probs = jax.nn.log_softmax(logits)
    expected = [
        ctc_nll_by_enumeration(np.asarray(log_probs[0, :5]), [1, 1, 2]) / 3,
        ctc_nll_by_enumeration(np.asarray(log_probs[1, :4]), [3, 2]) / 2,
    ]
    assert feasible.tolist() == [True, True]
    np.testing.assert_allclose(loss, np.mean(expected), rtol=1e-5)


def test_infeasible_samples_are_masked_and_counted():
    logits = jnp.zeros((2, 3, 4))
    encoder_mask = jnp.ones((2, 3), bool)
    labels = jnp.array([[1, 1, 2], [1, 2, 3]])  # "1 1 2" needs 4 frames; "1 2 3" fits in 3
    loss, feasible = losses.ctc_loss(logits, encoder_mask, labels, jnp.ones((2, 3), bool))
    assert feasible.tolist() == [False, True]
    # uniform logits: the only path is "1 2 3" with probability (1/4)^3
    np.testing.assert_allclose(loss, 3 * np.log(4) / 3, rtol=1e-6)


def test_hybrid_loss_is_weighted_sum_with_label_smoothing():
    rng = np.random.default_rng(1)
    ctc_logits = jnp.asarray(rng.normal(size=(1, 4, 3)), jnp.float32)
    decoder_logits = jnp.asarray(rng.normal(size=(1, 3, 6)), jnp.float32)
    labels, label_mask = jnp.array([[1, 2]]), jnp.array([[True, True]])
    _, targets, target_mask = teacher_forcing(labels, label_mask, num_glosses=2)
    outputs = {
        "ctc_logits": ctc_logits,
        "encoder_mask": jnp.ones((1, 4), bool),
        "decoder_logits": decoder_logits,
    }
    total, metrics = losses.hybrid_loss(
        outputs, labels, label_mask, targets, target_mask, alpha=0.3, label_smoothing=0.1
    )
    log_probs = np.asarray(jax.nn.log_softmax(decoder_logits[0]))
    smoothed = np.full((3, 6), 0.1 / 6)
    smoothed[np.arange(3), np.asarray(targets[0])] += 0.9
    attention = -(smoothed * log_probs).sum(axis=1).mean()
    ctc = ctc_nll_by_enumeration(np.asarray(jax.nn.log_softmax(ctc_logits[0])), [1, 2]) / 2
    np.testing.assert_allclose(metrics["loss/attention"], attention, rtol=1e-5)
    np.testing.assert_allclose(metrics["loss/ctc"], ctc, rtol=1e-5)
    np.testing.assert_allclose(total, 0.3 * ctc + 0.7 * attention, rtol=1e-5)


def test_ctc_only_loss_needs_no_decoder_outputs():
    rng = np.random.default_rng(0)
    ctc_logits = jnp.asarray(rng.normal(size=(2, 6, 5)), jnp.float32)
    outputs = {"ctc_logits": ctc_logits, "encoder_mask": jnp.ones((2, 6), bool)}
    labels, label_mask = jnp.array([[1, 2], [3, 0]]), jnp.array([[True, True], [True, False]])
    assert not losses.uses_decoder(1.0) and losses.uses_decoder(0.3)
    total, metrics = losses.hybrid_loss(outputs, labels, label_mask, None, None, alpha=1.0)
    ctc, _ = losses.ctc_loss(ctc_logits, outputs["encoder_mask"], labels, label_mask)
    np.testing.assert_allclose(total, ctc)
    assert set(metrics) == {"loss/total", "loss/ctc", "ctc_infeasible"}


def test_split_losses_from_sums_ignore_padded_rows_and_batching():
    rng = np.random.default_rng(2)
    ctc_logits = jnp.asarray(rng.normal(size=(3, 6, 4)), jnp.float32)
    decoder_logits = jnp.asarray(rng.normal(size=(3, 3, 7)), jnp.float32)
    labels = jnp.array([[1, 2], [3, 0], [2, 2]])
    label_mask = labels > 0
    _, targets, target_mask = teacher_forcing(labels, label_mask, num_glosses=3)
    outputs = {
        "ctc_logits": ctc_logits,
        "encoder_mask": jnp.ones((3, 6), bool),
        "decoder_logits": decoder_logits,
    }
    _, expected = losses.hybrid_loss(outputs, labels, label_mask, targets, target_mask, 0.3)

    def sums(rows, sample_mask):
        part = {name: value[rows] for name, value in outputs.items()}
        return losses.loss_sums(
            part, labels[rows], label_mask[rows], targets[rows], target_mask[rows],
            jnp.asarray(sample_mask),
        )  # fmt: skip

    whole = losses.mean_losses(sums(slice(0, 3), [True, True, True]), alpha=0.3)
    # the same split as two batches, the second padded with a copy of a row that must not count
    first, second = sums(slice(0, 2), [True, True]), sums(jnp.array([2, 0]), [True, False])
    batched = losses.mean_losses({k: first[k] + second[k] for k in first}, alpha=0.3)
    for name in ("loss/total", "loss/ctc", "loss/attention"):
        np.testing.assert_allclose(whole[name], expected[name], rtol=1e-5)
        np.testing.assert_allclose(batched[name], expected[name], rtol=1e-5)
    ctc_only = losses.mean_losses(sums(slice(0, 3), [True, True, True]), alpha=1.0)
    assert set(ctc_only) == {"loss/total", "loss/ctc"}
    np.testing.assert_allclose(ctc_only["loss/total"], expected["loss/ctc"], rtol=1e-5)
