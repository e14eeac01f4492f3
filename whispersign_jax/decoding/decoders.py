"""One jitted program per decoder: keypoints -> encoder -> decoder -> ids, scores, spans.

``decode(model, variables, keypoints, frame_mask, options)`` is the one inference path;
``make_decode_fn(model, options)`` jits it as ``fn(variables, keypoints, frame_mask) -> dict``
of fixed-shape arrays (see ``result.to_recognitions`` for their meaning). The Recognizer and
evaluation both decode through it.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from whispersign_jax.decoding import attention, ctc
from whispersign_jax.decoding.joint import CtcPrefixScorer
from whispersign_jax.decoding.options import CTC_ONLY, DecodeOptions
from whispersign_jax.model import WhisperSign
from whispersign_jax.vocab import special_ids


def decode(
    model: WhisperSign,
    variables,
    keypoints: jax.Array,
    frame_mask: jax.Array,
    options: DecodeOptions,
    top_glosses: int = 0,
) -> dict:
    """Keypoints (B, T, J, 7) with frame_mask (B, T) -> the decoder's fixed-shape outputs
    (``result.to_recognitions`` reads them). ``top_glosses=k`` adds ``top_glosses`` (B, k):
    the k most likely single glosses under CTC, for evaluation's top-5 accuracy. Traceable;
    ``make_decode_fn`` is its jitted form."""
    encoder_out, encoder_mask, ctc_logits = model.apply(
        variables, keypoints, frame_mask, method="encode"
    )
    log_probs = ctc.ctc_log_probs(ctc_logits)  # (batch, positions, classes)
    max_glosses = options.glosses_for(encoder_mask.shape[1])
    out = _run_decoder(model, variables, options, encoder_out, encoder_mask, log_probs, max_glosses)
    if top_glosses:
        scores = ctc.single_gloss_log_likelihood(ctc_logits, encoder_mask)  # (batch, glosses)
        out["top_glosses"] = jax.lax.top_k(scores, min(top_glosses, scores.shape[-1]))[1] + 1
    return out


def make_decode_fn(model: WhisperSign, options: DecodeOptions, top_glosses: int = 0) -> Callable:
    """Jitted ``(variables, keypoints (B, T, J, 7), frame_mask (B, T)) -> dict``: ``decode``
    for the Recognizer and for evaluation alike."""

    @jax.jit
    def decode_fn(variables, keypoints, frame_mask):
        return decode(model, variables, keypoints, frame_mask, options, top_glosses)

    if options.decoder not in CTC_ONLY:
        return decode_fn

    def decode_without_attention_decoder(variables, keypoints, frame_mask):
        """CTC decoders never read the attention decoder's weights; leaving them out of
        the call spares passing ~130 more arrays per window (~0.1 ms for ``base``)."""
        params = {name: value for name, value in variables["params"].items() if name != "decoder"}
        return decode_fn({**variables, "params": params}, keypoints, frame_mask)

    return decode_without_attention_decoder


def _run_decoder(
    model, variables, options, encoder_out, encoder_mask, log_probs, max_glosses
) -> dict:
    """The chosen decoder on encoder outputs, plus CTC timing of the chosen hypothesis."""
    name = options.decoder
    if name == "ctc_greedy":
        out = ctc.greedy_decode(log_probs, encoder_mask, max_glosses)
        out["ctc_scores"] = out["scores"]
    elif name in ("ctc_prefix_beam", "attention_rescoring"):
        nbest = ctc.prefix_beam_search(log_probs, encoder_mask, options.beam_size, max_glosses)
        if name == "ctc_prefix_beam":
            out = {k: v[:, 0] for k, v in nbest.items()}
            out["ctc_scores"] = out["scores"]
        else:
            out = attention.rescore_nbest(
                model, variables, encoder_out, encoder_mask, nbest, options.ctc_weight
            )
        out.update({f"nbest_{k}": v for k, v in nbest.items()})
    else:
        scorer = None
        if name == "joint_beam":
            eos = special_ids(model.config.num_glosses)["<eos>"]
            scorer = CtcPrefixScorer(log_probs, encoder_mask, model.config.decoder_size, eos)
        out = attention.beam_search(
            model,
            variables,
            encoder_out,
            encoder_mask,
            options.beam_size,
            max_glosses,
            ctc_scorer=scorer,
            ctc_weight=options.ctc_weight,
        )
    if "spans" not in out:
        alignment = ctc.forced_alignment(log_probs, encoder_mask, out["ids"], out["lengths"])
        out["spans"] = alignment["spans"]
        out.setdefault("ctc_scores", jnp.full_like(out["scores"], jnp.nan))
    out["confidences"] = ctc.span_confidences(log_probs, out["ids"], out["spans"])
    return out
