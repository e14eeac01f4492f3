"""The decoders of an exported model's runtime, in NumPy (no JAX): CTC greedy, CTC prefix beam
search, attention rescoring of its n-best, Viterbi alignment and span confidences.

Each mirrors its JAX twin in ``ctc`` / ``attention`` step for step (same state arrays, same
tie-breaking), for one sample at a time: ``tests/export/test_numpy_decoders_export.py`` holds
them to identical hypotheses. Outputs are the dict ``result.to_recognitions`` reads, batch 1.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from whispersign_jax.decoding.options import RUNTIME_DECODERS, DecodeOptions
from whispersign_jax.vocab import BLANK_ID

NEG_INF = -np.inf


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """float32 log-softmax over the last axis."""
    logits = logits.astype(np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy(log_probs: np.ndarray, valid: np.ndarray, max_glosses: int) -> dict:
    """log_probs (P, C), valid (P,) -> ``ids`` (L,), ``length``, ``score``, ``spans`` (L, 2):
    the best class per position, collapsed, with each gloss's run ``[start, end)``."""
    frame_ids = np.where(valid, log_probs.argmax(axis=-1), BLANK_ID)
    ids = np.zeros(max_glosses, np.int32)
    spans = np.zeros((max_glosses, 2), np.int32)
    length, previous = 0, BLANK_ID
    for position, token in enumerate(frame_ids.tolist()):
        if token != previous and token != BLANK_ID and length < max_glosses:
            end = position
            while end < len(frame_ids) and frame_ids[end] == token:
                end += 1
            ids[length], spans[length] = token, (position, end)
            length += 1
        previous = token
    score = float(np.where(valid, log_probs.max(axis=-1), 0.0).sum())
    return {"ids": ids, "length": length, "score": score, "spans": spans}


def prefix_beam_search(
    log_probs: np.ndarray, valid: np.ndarray, beam_size: int, max_glosses: int
) -> dict:
    """The ``beam_size`` most probable label sequences of one sample: ``ids`` (K, L),
    ``lengths`` (K,), ``scores`` (K,), best first (``ctc.prefix_beam_search``'s algorithm)."""
    classes = log_probs.shape[-1]
    beams, slots = np.arange(beam_size), np.arange(max_glosses)
    prefixes = np.zeros((beam_size, max_glosses), np.int32)
    lengths = np.zeros(beam_size, np.int32)
    blank_end = np.where(beams == 0, 0.0, NEG_INF).astype(np.float32)
    gloss_end = np.full(beam_size, NEG_INF, np.float32)
    with np.errstate(invalid="ignore"):  # -inf - -inf inside logaddexp of dead prefixes
        for lp, is_valid in zip(log_probs, valid, strict=True):
            if not is_valid:
                continue
            total = np.logaddexp(blank_end, gloss_end)
            last = np.where(lengths > 0, prefixes[beams, np.maximum(lengths - 1, 0)], BLANK_ID)
            stay_blank = total + lp[BLANK_ID]
            stay_gloss = np.where(lengths > 0, gloss_end + lp[last], NEG_INF)
            glosses = np.arange(1, classes)
            before = np.where(glosses[None, :] == last[:, None], blank_end[:, None], total[:, None])
            extend = before + lp[1:][None, :]  # (K, C - 1)
            extend = np.where((lengths < max_glosses)[:, None], extend, NEG_INF)
            finite = np.isfinite(total)
            parent = np.where(slots[None, :] == (lengths - 1)[:, None], BLANK_ID, prefixes)
            same = np.all(parent[:, None, :] == prefixes[None, :, :], axis=-1)  # (j, k)
            match = same & (lengths[:, None] == lengths[None, :] + 1)
            match &= finite[:, None] & finite[None, :]
            has_parent = match.any(axis=1)
            parent_index = match.argmax(axis=1)
            merged = extend[parent_index, np.maximum(last - 1, 0)]
            stay_gloss = np.where(has_parent, np.logaddexp(stay_gloss, merged), stay_gloss)
            rows = np.flatnonzero(has_parent)
            extend[parent_index[rows], last[rows] - 1] = NEG_INF
            candidates = np.concatenate([np.logaddexp(stay_blank, stay_gloss), extend.ravel()])
            chosen = _top_k(candidates, beam_size)
            is_extension = chosen >= beam_size
            source = np.where(is_extension, (chosen - beam_size) // (classes - 1), chosen)
            new_gloss = (chosen - beam_size) % (classes - 1) + 1
            prefixes, lengths = prefixes[source], lengths[source]
            write = is_extension[:, None] & (slots[None, :] == lengths[:, None])
            prefixes = np.where(write, new_gloss[:, None], prefixes).astype(np.int32)
            lengths = lengths + is_extension
            extension_score = extend.ravel()[np.maximum(chosen - beam_size, 0)]
            blank_end, gloss_end = (
                np.where(is_extension, NEG_INF, stay_blank[source]).astype(np.float32),
                np.where(is_extension, extension_score, stay_gloss[source]).astype(np.float32),
            )
        scores = np.logaddexp(blank_end, gloss_end)
    order = np.argsort(-scores, kind="stable")
    return {"ids": prefixes[order], "lengths": lengths[order], "scores": scores[order]}


def _top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest values, ties to the lower index (``lax.top_k``'s order)."""
    return np.argsort(-values, kind="stable")[:k]


def forced_alignment(log_probs: np.ndarray, valid: np.ndarray, ids, length: int) -> np.ndarray:
    """Viterbi alignment of one label sequence ``ids[:length]``: ``spans`` (len(ids), 2)
    ``[start, end)`` encoder positions of each gloss on the best path (``ctc._align_one``)."""
    num_labels = len(ids)
    states = 2 * num_labels + 1  # blank, g1, blank, g2, ..., blank
    state_index = np.arange(states)
    labels = np.where(state_index % 2 == 1, np.take(ids, state_index // 2, mode="clip"), BLANK_ID)
    used = state_index < 2 * length + 1
    previous_label = np.concatenate([[-1, -1], labels[:-2]])
    can_skip = (state_index % 2 == 1) & (labels != previous_label)
    scores = np.where(used & (state_index < 2), log_probs[0][labels], NEG_INF)
    moves = []
    for lp, is_valid in zip(log_probs[1:], valid[1:], strict=True):
        advance = np.concatenate([[NEG_INF], scores[:-1]])
        skip = np.where(can_skip, np.concatenate([[NEG_INF, NEG_INF], scores[:-2]]), NEG_INF)
        options = np.stack([scores, advance, skip])  # (3, S)
        move = options.argmax(axis=0)
        new = np.where(used, options.max(axis=0) + lp[labels], NEG_INF)
        scores = new if is_valid else scores
        moves.append(move if is_valid else np.full(states, -1))
    end_blank, end_gloss = 2 * length, 2 * length - 1
    final_gloss = scores[max(end_gloss, 0)] if length > 0 else NEG_INF
    state = end_blank if scores[end_blank] >= final_gloss else end_gloss
    path = [state]
    for move in reversed(moves):  # from the last position back to the second
        state = state - max(move[state], 0)
        path.append(state)
    path = np.array(path[::-1])  # (positions,) state per position
    spans = np.zeros((num_labels, 2), np.int32)
    for slot in range(length):
        here = np.flatnonzero((path == 2 * slot + 1) & valid)
        spans[slot] = (here[0], here[-1] + 1) if len(here) else (len(path), 0)
    return spans


def span_confidences(log_probs: np.ndarray, ids: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """The highest CTC posterior of each gloss inside its span: (L,) in [0, 1]."""
    confidences = np.zeros(len(ids), np.float32)
    for slot, (gloss, (start, end)) in enumerate(zip(ids.tolist(), spans.tolist(), strict=True)):
        if end > start:
            confidences[slot] = np.exp(log_probs[start:end, gloss]).max()
    return confidences


AttentionScorer = Callable[[np.ndarray, np.ndarray], np.ndarray]
"""``(ids (K, L), lengths (K,)) -> log p_attention(g1 .. gn <eos>)`` (K,) for one sample."""


def decode(
    log_probs: np.ndarray,
    valid: np.ndarray,
    options: DecodeOptions,
    max_glosses: int,
    attention_scores: AttentionScorer | None = None,
) -> dict[str, np.ndarray]:
    """One sample's CTC log-probs (P, C) -> the outputs ``result.to_recognitions`` reads
    (batch 1). ``attention_scores`` is needed by ``attention_rescoring`` only."""
    if options.decoder == "ctc_greedy":
        best = greedy(log_probs, valid, max_glosses)
        out = {
            "ids": best["ids"],
            "lengths": best["length"],
            "scores": best["score"],
            "ctc_scores": best["score"],
            "spans": best["spans"],
        }
    elif options.decoder in ("ctc_prefix_beam", "attention_rescoring"):
        nbest = prefix_beam_search(log_probs, valid, options.beam_size, max_glosses)
        if options.decoder == "ctc_prefix_beam":
            pick, ctc_scores = 0, nbest["scores"]
            out = {"scores": ctc_scores[0]}
        else:
            if attention_scores is None:
                raise ValueError("attention_rescoring needs the exported decoder (scorer).")
            attention = attention_scores(nbest["ids"], nbest["lengths"])
            ctc_scores = nbest["scores"]
            combined = options.ctc_weight * ctc_scores + (1.0 - options.ctc_weight) * attention
            combined = np.where(np.isfinite(ctc_scores), combined, NEG_INF)
            pick = int(np.argmax(combined))
            out = {"scores": combined[pick], "attention_scores": attention[pick]}
        out.update(
            ids=nbest["ids"][pick],
            lengths=nbest["lengths"][pick],
            ctc_scores=ctc_scores[pick],
            **{f"nbest_{key}": value[None] for key, value in nbest.items()},
        )
        out["spans"] = forced_alignment(log_probs, valid, out["ids"], int(out["lengths"]))
    else:
        raise ValueError(
            f"The exported-model runtime decodes with {', '.join(RUNTIME_DECODERS)}, not "
            f"{options.decoder!r} (use whispersign_jax.recognize)."
        )
    out["confidences"] = span_confidences(log_probs, out["ids"], out["spans"])
    return {
        key: value if key.startswith("nbest_") else np.asarray(value)[None]
        for key, value in out.items()
    }
