"""CTC decoding used by training-time evaluation (greedy and exact single-gloss n-best)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax.vocab import BLANK_ID


def ctc_greedy_ids(ctc_logits: jax.Array) -> jax.Array:
    """(batch, positions, classes) -> best class per position (batch, positions)."""
    return jnp.argmax(ctc_logits, axis=-1)


def collapse(frame_ids: np.ndarray, length: int) -> list[int]:
    """Merges repeats then drops blanks: ``0 3 3 0 3 5 5`` -> ``3 3 5``."""
    out, previous = [], BLANK_ID
    for token in frame_ids[:length].tolist():
        if token != previous and token != BLANK_ID:
            out.append(token)
        previous = token
    return out


def single_gloss_log_likelihood(ctc_logits: jax.Array, encoder_mask: jax.Array) -> jax.Array:
    """log p_CTC(labels = [g]) for every gloss g at once: (batch, glosses), gloss id = index + 1.

    The paths of a one-gloss label are ``blank* g+ blank*``: a three-state forward pass,
    vectorised over glosses, that holds its state at padded positions.
    """
    log_probs = jax.nn.log_softmax(ctc_logits.astype(jnp.float32))  # (batch, positions, C)
    blank, glosses = log_probs[..., BLANK_ID], log_probs[..., 1:]
    batch, num_glosses = glosses.shape[0], glosses.shape[-1]
    minus_inf = jnp.full((batch, num_glosses), -jnp.inf)

    def step(carry, inputs):
        before, inside, after = carry  # each (batch, glosses)
        blank_t, glosses_t, valid_t = inputs
        new_before = before + blank_t[:, None]
        new_inside = jnp.logaddexp(before, inside) + glosses_t
        new_after = jnp.logaddexp(inside, after) + blank_t[:, None]
        keep = valid_t[:, None]
        carry = (
            jnp.where(keep, new_before, before),
            jnp.where(keep, new_inside, inside),
            jnp.where(keep, new_after, after),
        )
        return carry, None

    init = (jnp.zeros((batch, num_glosses)), minus_inf, minus_inf)
    inputs = (blank.T, jnp.swapaxes(glosses, 0, 1), encoder_mask.T)  # time-major
    (_, inside, after), _ = jax.lax.scan(step, init, inputs)
    return jnp.logaddexp(inside, after)
