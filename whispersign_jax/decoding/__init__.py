"""Decoders: CTC greedy, CTC prefix beam search, attention rescoring of the CTC n-best (the
default two-pass mode), attention beam search with the KV cache, joint CTC/attention search.

Modules: ``options`` (decoder names and defaults, no JAX), ``ctc`` (CTC-only search, forced
alignment), ``attention`` (rescoring, cached beam search), ``joint`` (CTC prefix scores for the
joint search), ``decoders`` (``decode``, the one inference path, jitted once per decoder),
``flags`` (the command lines' decoder flags), ``result`` (glosses with names, scores and time
spans, no JAX).

The JAX names below load on first use, so ``decoding.options`` and ``decoding.result`` import
without JAX (the exported-model runtime needs them and nothing of JAX).
"""

from __future__ import annotations

import importlib

from whispersign_jax.decoding.options import (
    CTC_ONLY,
    DECODERS,
    DEFAULT_DECODER,
    POSITIONS_PER_GLOSS,
    DecodeOptions,
)
from whispersign_jax.decoding.result import Recognition, RecognizedGloss, to_recognitions

_LAZY = {
    "ctc_log_probs": "ctc",
    "forced_alignment": "ctc",
    "greedy_decode": "ctc",
    "prefix_beam_search": "ctc",
    "single_gloss_log_likelihood": "ctc",
    "decode": "decoders",
    "make_decode_fn": "decoders",
}

__all__ = [
    "CTC_ONLY",
    "DECODERS",
    "DEFAULT_DECODER",
    "POSITIONS_PER_GLOSS",
    "DecodeOptions",
    "Recognition",
    "RecognizedGloss",
    "to_recognitions",
    *_LAZY,
]


def __getattr__(name: str):
    """The JAX decoders, imported when first asked for."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
