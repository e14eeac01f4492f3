"""Token sequences of the attention decoder: teacher-forced inputs and targets from gloss ids.

Training scores the decoder on these, and attention rescoring scores n-best hypotheses the
same way; the token ids come from ``vocab``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from whispersign_jax import vocab


def teacher_forcing(labels: jax.Array, label_mask: jax.Array, num_glosses: int):
    """labels (batch, L) gloss ids with label_mask (batch, L) ->
    decoder inputs ``<sos> g1..gn`` and targets ``g1..gn <eos>``, each (batch, L + 1), padded
    with ``<pad>``, and the target mask (batch, L + 1)."""
    ids = vocab.special_ids(num_glosses)
    batch = labels.shape[0]
    lengths = label_mask.sum(axis=1)
    padded = jnp.where(label_mask, labels, ids["<pad>"])
    sos = jnp.full((batch, 1), ids["<sos>"], labels.dtype)
    inputs = jnp.concatenate([sos, padded], axis=1)
    targets = jnp.concatenate([padded, jnp.full((batch, 1), ids["<pad>"], labels.dtype)], axis=1)
    positions = jnp.arange(targets.shape[1])[None, :]
    targets = jnp.where(positions == lengths[:, None], ids["<eos>"], targets)
    target_mask = positions <= lengths[:, None]
    inputs = jnp.where(positions <= lengths[:, None], inputs, ids["<pad>"])
    return inputs, targets, target_mask
