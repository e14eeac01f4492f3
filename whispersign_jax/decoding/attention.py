"""Attention-decoder passes: rescoring of CTC n-best lists and beam search with the KV cache.

Both run inside ``jax.jit`` with static shapes. Hypotheses are gloss id arrays
``(..., max_glosses)`` padded with 0 plus their lengths; the decoder reads ``<sos> g1 .. gn``
and is scored on ``g1 .. gn <eos>`` (the same teacher forcing as training).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from whispersign_jax.decoding.options import length_buckets
from whispersign_jax.model import WhisperSign
from whispersign_jax.model.layers import key_padding_mask
from whispersign_jax.model.targets import teacher_forcing
from whispersign_jax.vocab import BLANK_ID, special_ids

NEG_INF = -jnp.inf


def sequence_log_likelihood(
    model: WhisperSign, variables, encoder_out, encoder_mask, ids, lengths
) -> jax.Array:
    """log p_attention(g1 .. gn <eos>) of hypotheses ids (batch, beam, L) in one batched
    teacher-forced decoder call -> (batch, beam).

    The hypotheses of a sample are packed into one decoder sequence with a block-diagonal
    causal mask and per-hypothesis positions, so the encoder output is read (and its
    cross-attention keys and values projected) once per sample, not once per hypothesis.
    """
    batch, beam, max_glosses = ids.shape
    flat_ids = ids.reshape(batch * beam, max_glosses)
    label_mask = jnp.arange(max_glosses)[None, :] < lengths.reshape(-1, 1)
    inputs, targets, target_mask = teacher_forcing(
        flat_ids, label_mask, model.config.num_glosses
    )  # each (batch * beam, L + 1)
    length = max_glosses + 1
    hypothesis = jnp.arange(beam * length) // length  # (beam * (L + 1),)
    positions = jnp.tile(jnp.arange(length), beam)
    self_mask = (hypothesis[:, None] == hypothesis[None, :]) & (
        positions[None, :] <= positions[:, None]
    )  # (beam * (L + 1),) ** 2: causal inside each hypothesis
    logits = model.apply(
        variables,
        inputs.reshape(batch, beam * length),
        positions,
        self_mask[None, None],
        encoder_out,
        encoder_mask,
        method=_packed_decoder_logits,
    ).reshape(batch * beam, length, -1)
    log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    picked = jnp.take_along_axis(log_probs, targets[..., None], axis=-1)[..., 0]
    return jnp.sum(jnp.where(target_mask, picked, 0.0), axis=-1).reshape(batch, beam)


def _packed_decoder_logits(module: WhisperSign, tokens, positions, self_mask, encoder_out, mask):
    """The decoder's teacher-forced pass with given token positions and self-attention mask."""
    decoder = module.decoder
    x = decoder.embed(tokens, positions)  # (batch, tokens, d_model)
    for layer in decoder.layers:
        x = layer(x, encoder_out, self_mask, key_padding_mask(mask), False)
    return decoder.logits(x)


def rescore_nbest(
    model: WhisperSign, variables, encoder_out, encoder_mask, nbest: dict, ctc_weight: float
) -> dict:
    """Attention rescoring of a CTC n-best list. The decoder runs on the hypotheses cut to
    the shortest length bucket (1, 2, 4, ...) that holds the longest of them: a
    ``lax.switch`` between static shapes, so short lists cost a short decoder pass."""
    max_glosses = nbest["ids"].shape[-1]
    buckets = length_buckets(max_glosses)
    longest = jnp.max(jnp.where(jnp.isfinite(nbest["scores"]), nbest["lengths"], 0))
    index = jnp.searchsorted(jnp.array(buckets), longest)

    def branch(bucket):
        def score(ids, lengths):
            return sequence_log_likelihood(
                model, variables, encoder_out, encoder_mask, ids[..., :bucket], lengths
            )

        return score

    attention_scores = jax.lax.switch(
        index, [branch(b) for b in buckets], nbest["ids"], nbest["lengths"]
    )
    return rescore(nbest, attention_scores, ctc_weight)


def rescore(nbest: dict, attention_scores: jax.Array, ctc_weight: float) -> dict:
    """Two-pass choice: ``ctc_weight * ctc + (1 - ctc_weight) * attention`` over the n-best
    (batch, beam); returns the best hypothesis per sample and both of its scores."""
    ctc_scores = nbest["scores"]
    combined = ctc_weight * ctc_scores + (1.0 - ctc_weight) * attention_scores
    combined = jnp.where(jnp.isfinite(ctc_scores), combined, NEG_INF)
    best = jnp.argmax(combined, axis=1)  # (batch,)
    pick = lambda x: jnp.take_along_axis(x, best.reshape((-1,) + (1,) * (x.ndim - 1)), 1)[:, 0]
    return {
        "ids": pick(nbest["ids"]),
        "lengths": pick(nbest["lengths"]),
        "scores": pick(combined),
        "ctc_scores": pick(ctc_scores),
        "attention_scores": pick(attention_scores),
    }


def allowed_tokens(num_glosses: int, decoder_size: int) -> jax.Array:
    """(decoder_size,) bool: glosses and ``<eos>`` may be generated; blank, sos and pad not."""
    ids = jnp.arange(decoder_size)
    return (ids != BLANK_ID) & (ids <= num_glosses) | (ids == special_ids(num_glosses)["<eos>"])


def beam_search(
    model: WhisperSign,
    variables,
    encoder_out,
    encoder_mask,
    beam_size: int,
    max_glosses: int,
    ctc_scorer=None,
    ctc_weight: float = 0.0,
) -> dict:
    """Attention beam search with the KV cache, optionally joint with CTC prefix scores.

    Each step feeds the last token of every live hypothesis to ``decode_step`` (batch * beam
    rows), adds the token log-probabilities (and ``ctc_weight`` times the change of the CTC
    prefix score when ``ctc_scorer`` is given), keeps the best ``beam_size`` extensions and
    reorders the cache. A hypothesis ends with ``<eos>``; the loop stops when all have ended
    or after ``max_glosses`` glosses. Returns the best hypothesis per sample.
    """
    cfg = model.config
    ids_of = special_ids(cfg.num_glosses)
    eos = ids_of["<eos>"]
    batch = encoder_out.shape[0]
    rows = batch * beam_size
    cache = model.apply(variables, encoder_out, max_glosses + 1, method="init_cache")
    cache = jax.tree.map(lambda x: jnp.repeat(x, beam_size, axis=0), cache)
    mask = jnp.repeat(encoder_mask, beam_size, axis=0)  # (rows, P)
    allowed = allowed_tokens(cfg.num_glosses, cfg.decoder_size)
    att_weight = 1.0 - ctc_weight if ctc_scorer is not None else 1.0

    state = {
        "step": jnp.zeros((), jnp.int32),
        "tokens": jnp.zeros((batch, beam_size, max_glosses), jnp.int32),
        "last": jnp.full((batch, beam_size), ids_of["<sos>"], jnp.int32),
        "scores": jnp.tile(jnp.where(jnp.arange(beam_size) == 0, 0.0, NEG_INF), (batch, 1)),
        "attention": jnp.zeros((batch, beam_size)),
        "finished": jnp.zeros((batch, beam_size), bool),
        "cache": cache,
    }
    if ctc_scorer is not None:
        state["ctc"] = ctc_scorer.init(batch, beam_size)

    def not_done(state):
        return (state["step"] <= max_glosses) & ~jnp.all(state["finished"])

    def body(state):
        step = state["step"]
        logits, cache = model.apply(
            variables,
            state["last"].reshape(rows),
            step,
            state["cache"],
            mask,
            method="decode_step",
        )
        token_lp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
        token_lp = jnp.where(allowed, token_lp, NEG_INF).reshape(batch, beam_size, -1)
        last_step = step == max_glosses  # only <eos> is left
        token_lp = jnp.where(last_step & (jnp.arange(token_lp.shape[-1]) != eos), NEG_INF, token_lp)
        gain = att_weight * token_lp  # (batch, beam, V)
        if ctc_scorer is not None:
            ctc_gain, ctc_candidates = ctc_scorer.extend(state["ctc"], state["tokens"], step)
            gain = gain + ctc_weight * ctc_gain
        # A finished hypothesis survives once, unchanged, through the <pad> column.
        vocab = token_lp.shape[-1]
        pad_column = jnp.arange(vocab) == ids_of["<pad>"]
        finished = state["finished"][..., None]
        gain = jnp.where(finished, jnp.where(pad_column, 0.0, NEG_INF), gain)
        candidates = (state["scores"][..., None] + gain).reshape(batch, -1)
        scores, chosen = jax.lax.top_k(candidates, beam_size)  # (batch, beam)
        source, token = chosen // vocab, chosen % vocab
        was_finished = _take(state["finished"], source)
        is_gloss = ~was_finished & (token != eos)
        tokens = _take(state["tokens"], source)
        write = is_gloss[..., None] & (jnp.arange(max_glosses) == step)
        tokens = jnp.where(write, token[..., None], tokens)
        token_score = token_lp[jnp.arange(batch)[:, None], source, token]  # (batch, beam)
        attention = _take(state["attention"], source) + jnp.where(was_finished, 0.0, token_score)
        flat_source = (source + beam_size * jnp.arange(batch)[:, None]).reshape(rows)
        new_state = {
            "step": step + 1,
            "tokens": tokens,
            "last": jnp.where(is_gloss, token, eos),
            "scores": scores,
            "attention": attention,
            "finished": was_finished | (token == eos),
            "cache": _reorder(cache, flat_source),
        }
        if ctc_scorer is not None:
            new_state["ctc"] = ctc_scorer.select(state["ctc"], ctc_candidates, source, token)
        return new_state

    state = jax.lax.while_loop(not_done, body, state)
    lengths = jnp.sum(state["tokens"] != BLANK_ID, axis=-1)
    best = jnp.argmax(state["scores"], axis=1)
    pick = lambda x: jnp.take_along_axis(x, best.reshape((-1,) + (1,) * (x.ndim - 1)), 1)[:, 0]
    return {
        "ids": pick(state["tokens"]),
        "lengths": pick(lengths),
        "scores": pick(state["scores"]),
        "attention_scores": pick(state["attention"]),
    }


def _take(values: jax.Array, source: jax.Array) -> jax.Array:
    """values (batch, beam, ...) reordered along the beam axis by source (batch, beam)."""
    index = source.reshape(source.shape + (1,) * (values.ndim - 2))
    return jnp.take_along_axis(values, index, axis=1)


def _reorder(cache, rows: jax.Array):
    """The cache rows of the chosen hypotheses. Cross-attention keys and values are the same
    for every hypothesis of a sample, and a sample's beams stay within it: left as they are."""
    return {
        layer: {k: v[rows] if k.startswith("self_") else v for k, v in entries.items()}
        for layer, entries in cache.items()
    }
