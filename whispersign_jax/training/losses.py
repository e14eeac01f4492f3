"""Hybrid CTC + attention loss (always computed in float32).

Normalisation: CTC is the per-sample negative log-likelihood divided by the label length
(PyTorch ``CTCLoss(reduction="mean")``), averaged over feasible samples; the attention loss
is the token-mean cross-entropy over the valid decoder targets.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from whispersign_jax import vocab


def ctc_feasible(encoder_mask: jax.Array, labels: jax.Array, label_mask: jax.Array) -> jax.Array:
    """(batch,) bool: the encoder length can hold the labels plus a blank between repeats."""
    repeats = (labels[:, 1:] == labels[:, :-1]) & label_mask[:, 1:] & label_mask[:, :-1]
    needed = label_mask.sum(axis=1) + repeats.sum(axis=1)
    return encoder_mask.sum(axis=1) >= needed


def ctc_per_sample(ctc_logits, encoder_mask, labels, label_mask):
    """(batch,) CTC negative log-likelihoods divided by the label length, and (batch,) bool
    feasibility (an infeasible sample's value is huge but finite: leave it out)."""
    per_sample = optax.ctc_loss(
        ctc_logits.astype(jnp.float32),
        1.0 - encoder_mask.astype(jnp.float32),
        labels,
        1.0 - label_mask.astype(jnp.float32),
        blank_id=vocab.BLANK_ID,
    )
    feasible = ctc_feasible(encoder_mask, labels, label_mask)
    return per_sample / jnp.maximum(label_mask.sum(axis=1), 1), feasible


def ctc_loss(ctc_logits, encoder_mask, labels, label_mask):
    """Mean length-normalised CTC loss over feasible samples, and the feasible mask (batch,)."""
    normalised, feasible = ctc_per_sample(ctc_logits, encoder_mask, labels, label_mask)
    loss = jnp.sum(jnp.where(feasible, normalised, 0.0)) / jnp.maximum(feasible.sum(), 1)
    return loss, feasible


def attention_per_token(decoder_logits, targets, label_smoothing: float = 0.0):
    """(batch, L + 1) cross-entropy of each teacher-forced target, optional label smoothing."""
    logits = decoder_logits.astype(jnp.float32)
    one_hot = jax.nn.one_hot(targets, logits.shape[-1])
    if label_smoothing:
        one_hot = optax.smooth_labels(one_hot, label_smoothing)
    return optax.softmax_cross_entropy(logits, one_hot)


def attention_loss(decoder_logits, targets, target_mask, label_smoothing: float = 0.0):
    """Token-mean cross-entropy of the teacher-forced decoder, optional label smoothing."""
    per_token = attention_per_token(decoder_logits, targets, label_smoothing)
    return jnp.sum(per_token * target_mask) / jnp.maximum(target_mask.sum(), 1)


def uses_decoder(alpha: float) -> bool:
    """Whether the loss has an attention term; at ``alpha == 1`` (CTC only) the decoder is
    not run at all."""
    return alpha < 1.0


def hybrid_loss(outputs, labels, label_mask, targets, target_mask, alpha: float, **kwargs):
    """``alpha * CTC + (1 - alpha) * attention``; returns (total, metrics dict).

    ``outputs`` hold ``decoder_logits`` only when ``uses_decoder(alpha)``: CTC only otherwise.
    """
    ctc, feasible = ctc_loss(outputs["ctc_logits"], outputs["encoder_mask"], labels, label_mask)
    metrics = {"loss/ctc": ctc, "ctc_infeasible": jnp.sum(~feasible)}
    if not uses_decoder(alpha):
        return ctc, {"loss/total": ctc, **metrics}
    attention = attention_loss(outputs["decoder_logits"], targets, target_mask, **kwargs)
    total = alpha * ctc + (1.0 - alpha) * attention
    return total, {"loss/total": total, **metrics, "loss/attention": attention}


def loss_sums(outputs, labels, label_mask, targets, target_mask, sample_mask) -> dict:
    """Sums and counts of the two losses over the rows of ``sample_mask`` (batch,): CTC over
    feasible samples, attention (when ``outputs`` has decoder logits) over target tokens. A
    split's loss is then the same whatever its batching (``mean_losses``)."""
    normalised, feasible = ctc_per_sample(
        outputs["ctc_logits"], outputs["encoder_mask"], labels, label_mask
    )
    counted = feasible & sample_mask
    sums = {"ctc": jnp.sum(jnp.where(counted, normalised, 0.0)), "ctc_count": counted.sum()}
    if "decoder_logits" in outputs:
        tokens = target_mask & sample_mask[:, None]
        per_token = attention_per_token(outputs["decoder_logits"], targets)
        sums["attention"] = jnp.sum(jnp.where(tokens, per_token, 0.0))
        sums["attention_count"] = tokens.sum()
    return sums


def mean_losses(sums: dict, alpha: float) -> dict[str, float]:
    """Accumulated ``loss_sums`` -> ``loss/ctc``, ``loss/attention`` (when the stage uses the
    decoder) and ``loss/total`` = ``alpha * ctc + (1 - alpha) * attention``, as in training."""
    ctc = float(sums["ctc"]) / max(int(sums["ctc_count"]), 1)
    if not uses_decoder(alpha):
        return {"loss/total": ctc, "loss/ctc": ctc}
    attention = float(sums["attention"]) / max(int(sums["attention_count"]), 1)
    total = alpha * ctc + (1.0 - alpha) * attention
    return {"loss/total": total, "loss/ctc": ctc, "loss/attention": attention}
