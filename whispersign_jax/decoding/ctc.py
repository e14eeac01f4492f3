"""CTC decoders over the encoder's CTC head: greedy, prefix beam search, one-gloss n-best.

All functions take log-probabilities or logits ``(batch, positions, 1 + glosses)`` with an
``encoder_mask`` (batch, positions) and keep static shapes, so they run inside ``jax.jit``.
Hypotheses come back as fixed-size id arrays padded with the blank id (0) plus lengths.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from whispersign_jax.vocab import BLANK_ID

NEG_INF = -jnp.inf


def ctc_log_probs(ctc_logits: jax.Array) -> jax.Array:
    """float32 log-softmax over the CTC classes."""
    return jax.nn.log_softmax(ctc_logits.astype(jnp.float32), axis=-1)


def greedy_decode(log_probs: jax.Array, encoder_mask: jax.Array, max_glosses: int) -> dict:
    """Best class per position, collapsed, with the run of positions each gloss covers.

    Returns ``ids`` (batch, max_glosses) padded with 0, ``lengths`` (batch,), ``scores``
    (batch,) = log-probability of the greedy path, and ``spans`` (batch, max_glosses, 2)
    ``[start, end)`` encoder positions of each gloss's run.
    """
    batch, positions = encoder_mask.shape
    frame_ids = jnp.argmax(log_probs, axis=-1)  # (batch, positions)
    frame_ids = jnp.where(encoder_mask, frame_ids, BLANK_ID)
    previous = jnp.pad(frame_ids[:, :-1], ((0, 0), (1, 0)), constant_values=BLANK_ID)
    starts = (frame_ids != BLANK_ID) & (frame_ids != previous)  # (batch, positions)
    following = jnp.pad(frame_ids[:, 1:], ((0, 0), (0, 1)), constant_values=BLANK_ID)
    run_ends = frame_ids != following  # the last position of every run
    index = jnp.arange(positions)
    end_of_run = jax.lax.cummin(jnp.where(run_ends, index, positions), axis=1, reverse=True) + 1
    slot = jnp.cumsum(starts, axis=1) - 1  # output slot of each emitted gloss
    slot = jnp.where(starts & (slot < max_glosses), slot, max_glosses)  # out of range: dropped
    rows = jnp.arange(batch)[:, None]
    ids = jnp.zeros((batch, max_glosses), jnp.int32).at[rows, slot].set(frame_ids, mode="drop")
    span_starts = (
        jnp.zeros((batch, max_glosses), jnp.int32)
        .at[rows, slot]
        .set(jnp.broadcast_to(index, (batch, positions)), mode="drop")
    )
    span_ends = (
        jnp.zeros((batch, max_glosses), jnp.int32).at[rows, slot].set(end_of_run, mode="drop")
    )
    best = jnp.max(log_probs, axis=-1)  # (batch, positions)
    return {
        "ids": ids,
        "lengths": jnp.minimum(starts.sum(axis=1), max_glosses),
        "scores": jnp.sum(jnp.where(encoder_mask, best, 0.0), axis=1),
        "spans": jnp.stack([span_starts, span_ends], axis=-1),
    }


def prefix_beam_search(
    log_probs: jax.Array, encoder_mask: jax.Array, beam_size: int, max_glosses: int
) -> dict:
    """CTC prefix beam search, batched: the ``beam_size`` most probable label sequences.

    Each prefix keeps two log-probabilities, of the paths that end in a blank and of those
    that end in its last gloss, summed over every alignment (not just the best path), so it
    finds sequences that greedy decoding misses. One ``lax.scan`` step per encoder position;
    prefixes live in a ``(beam, max_glosses)`` array. Returns ``ids`` (batch, beam,
    max_glosses), ``lengths`` (batch, beam) and ``scores`` (batch, beam), best first.
    """
    search = jax.vmap(lambda lp, mask: _prefix_beam_one(lp, mask, beam_size, max_glosses))
    return search(log_probs, encoder_mask)


def _prefix_beam_one(log_probs, valid, beam_size: int, max_glosses: int) -> dict:
    """Prefix beam search of one sample: log_probs (positions, classes), valid (positions,)."""
    classes = log_probs.shape[-1]
    beams = jnp.arange(beam_size)
    slots = jnp.arange(max_glosses)

    def step(state, inputs):
        prefixes, lengths, blank_end, gloss_end = state  # (K, L), (K,), (K,), (K,)
        lp, is_valid = inputs  # (classes,), ()
        total = jnp.logaddexp(blank_end, gloss_end)
        last = jnp.where(lengths > 0, prefixes[beams, jnp.maximum(lengths - 1, 0)], BLANK_ID)
        # Stay on the same prefix: a blank, or a repeat of the last gloss.
        stay_blank = total + lp[BLANK_ID]
        stay_gloss = jnp.where(lengths > 0, gloss_end + lp[last], NEG_INF)
        # Extend by gloss c: after a blank when c repeats the last gloss, else after anything.
        glosses = jnp.arange(1, classes)  # (C - 1,)
        before = jnp.where(glosses[None, :] == last[:, None], blank_end[:, None], total[:, None])
        extend = before + lp[1:][None, :]  # (K, C - 1)
        extend = jnp.where((lengths < max_glosses)[:, None], extend, NEG_INF)
        # An extension that equals an existing prefix j merges into j's "stay" candidate.
        finite = jnp.isfinite(total)
        parent = jnp.where(slots[None, :] == (lengths - 1)[:, None], BLANK_ID, prefixes)
        same = jnp.all(parent[:, None, :] == prefixes[None, :, :], axis=-1)  # (j, k)
        match = same & (lengths[:, None] == lengths[None, :] + 1) & finite[:, None] & finite
        has_parent = match.any(axis=1)
        parent_index = jnp.argmax(match, axis=1)  # (K,)
        merged = extend[parent_index, jnp.maximum(last - 1, 0)]
        stay_gloss = jnp.where(has_parent, jnp.logaddexp(stay_gloss, merged), stay_gloss)
        drop_row = jnp.where(has_parent, parent_index, beam_size)  # out of range: no-op
        extend = extend.at[drop_row, last - 1].set(NEG_INF, mode="drop")
        # Top beam_size of the K stay candidates and K * (C - 1) extensions.
        candidates = jnp.concatenate([jnp.logaddexp(stay_blank, stay_gloss), extend.ravel()])
        _, chosen = jax.lax.top_k(candidates, beam_size)
        is_extension = chosen >= beam_size
        source = jnp.where(is_extension, (chosen - beam_size) // (classes - 1), chosen)
        new_gloss = (chosen - beam_size) % (classes - 1) + 1
        new_prefixes = prefixes[source]
        new_lengths = lengths[source]
        write = is_extension[:, None] & (slots[None, :] == new_lengths[:, None])
        new_prefixes = jnp.where(write, new_gloss[:, None], new_prefixes)
        new_lengths = new_lengths + is_extension
        extension_score = extend.ravel()[jnp.maximum(chosen - beam_size, 0)]
        new_blank = jnp.where(is_extension, NEG_INF, stay_blank[source])
        new_gloss_end = jnp.where(is_extension, extension_score, stay_gloss[source])
        new_state = (new_prefixes, new_lengths, new_blank, new_gloss_end)
        keep = lambda new, old: jnp.where(is_valid, new, old)
        return jax.tree.map(keep, new_state, state), None

    init = (
        jnp.zeros((beam_size, max_glosses), jnp.int32),
        jnp.zeros((beam_size,), jnp.int32),
        jnp.where(beams == 0, 0.0, NEG_INF),  # only the empty prefix is alive
        jnp.full((beam_size,), NEG_INF),
    )
    (prefixes, lengths, blank_end, gloss_end), _ = jax.lax.scan(step, init, (log_probs, valid))
    scores = jnp.logaddexp(blank_end, gloss_end)
    order = jnp.argsort(-scores)
    return {"ids": prefixes[order], "lengths": lengths[order], "scores": scores[order]}


def forced_alignment(log_probs: jax.Array, encoder_mask: jax.Array, ids, lengths) -> dict:
    """Viterbi alignment of given label sequences: where each gloss is on the best path.

    log_probs (batch, positions, classes), ids (batch, L) with lengths (batch,) -> ``spans``
    (batch, L, 2) ``[start, end)`` encoder positions of each gloss, and ``scores`` (batch,)
    the best path's log-probability (-inf when the labels cannot fit).
    """
    return jax.vmap(_align_one)(log_probs, encoder_mask, ids, lengths)


def _align_one(log_probs, valid, ids, length):
    num_labels = ids.shape[0]
    states = 2 * num_labels + 1  # blank, g1, blank, g2, ..., blank
    state_index = jnp.arange(states)
    labels = jnp.where(state_index % 2 == 1, ids[state_index // 2], BLANK_ID)  # (S,)
    used = state_index < 2 * length + 1
    previous_label = jnp.pad(labels[:-2], (2, 0), constant_values=-1)
    can_skip = (state_index % 2 == 1) & (labels != previous_label)  # skip the blank in between

    def step(scores, inputs):
        lp, is_valid = inputs
        stay = scores
        advance = jnp.pad(scores[:-1], (1, 0), constant_values=NEG_INF)
        skip = jnp.where(can_skip, jnp.pad(scores[:-2], (2, 0), constant_values=NEG_INF), NEG_INF)
        options = jnp.stack([stay, advance, skip])  # (3, S)
        move = jnp.argmax(options, axis=0)
        new = jnp.where(used, jnp.max(options, axis=0) + lp[labels], NEG_INF)
        return jnp.where(is_valid, new, scores), jnp.where(is_valid, move, -1)

    first = jnp.where(used & (state_index < 2), log_probs[0][labels], NEG_INF)
    scores, moves = jax.lax.scan(step, first, (log_probs[1:], valid[1:]))  # moves (T-1, S)
    end_blank, end_gloss = 2 * length, 2 * length - 1
    final_gloss = jnp.where(length > 0, scores[jnp.maximum(end_gloss, 0)], NEG_INF)
    best_state = jnp.where(scores[end_blank] >= final_gloss, end_blank, end_gloss)
    best_score = jnp.maximum(scores[end_blank], final_gloss)

    def back(state, move):  # walks from the last position to the second one
        new_state = state - jnp.maximum(move[state], 0)  # -1: a padded position
        return new_state, state

    first_state, path = jax.lax.scan(back, best_state, moves, reverse=True)
    path = jnp.concatenate([first_state[None], path])  # (positions,) state per position
    in_gloss = (path % 2 == 1) & valid  # (positions,)
    gloss_of = path // 2
    positions = jnp.arange(path.shape[0])
    slot = jnp.arange(num_labels)
    here = in_gloss[None, :] & (gloss_of[None, :] == slot[:, None])  # (L, positions)
    start = jnp.min(jnp.where(here, positions, path.shape[0]), axis=1)
    end = jnp.max(jnp.where(here, positions + 1, 0), axis=1)
    live = slot < length
    return {
        "spans": jnp.stack([jnp.where(live, start, 0), jnp.where(live, end, 0)], axis=-1),
        "scores": best_score,
    }


def span_confidences(log_probs: jax.Array, ids: jax.Array, spans: jax.Array) -> jax.Array:
    """The highest CTC posterior of each gloss inside its span: (batch, L) in [0, 1]."""
    posterior = jnp.exp(jnp.take_along_axis(log_probs, ids[:, None, :], axis=2))  # (b, P, L)
    positions = jnp.arange(log_probs.shape[1])[None, :, None]
    inside = (positions >= spans[:, None, :, 0]) & (positions < spans[:, None, :, 1])
    return jnp.max(jnp.where(inside, posterior, 0.0), axis=1)


def single_gloss_log_likelihood(ctc_logits: jax.Array, encoder_mask: jax.Array) -> jax.Array:
    """log p_CTC(labels = [g]) for every gloss g at once: (batch, glosses), gloss id = index + 1.

    The paths of a one-gloss label are ``blank* g+ blank*``: a three-state forward pass,
    vectorised over glosses, that holds its state at padded positions.
    """
    log_probs = ctc_log_probs(ctc_logits)  # (batch, positions, C)
    blank, glosses = log_probs[..., BLANK_ID], log_probs[..., 1:]
    batch, num_glosses = glosses.shape[0], glosses.shape[-1]
    minus_inf = jnp.full((batch, num_glosses), NEG_INF)

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
