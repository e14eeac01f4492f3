"""Decoders: CTC greedy, CTC prefix beam search, attention rescoring of the CTC n-best (the
default two-pass mode), attention beam search with the KV cache, joint CTC/attention search.

Modules: ``ctc`` (CTC-only search, forced alignment), ``attention`` (rescoring, cached beam
search), ``joint`` (CTC prefix scores for the joint search), ``decoders`` (``decode``, the
one inference path, jitted once per decoder), ``flags`` (the command lines' decoder flags),
``result`` (glosses with names, scores and time spans).
"""

from whispersign_jax.decoding.ctc import (
    collapse,
    ctc_greedy_ids,
    ctc_log_probs,
    forced_alignment,
    greedy_decode,
    prefix_beam_search,
    single_gloss_log_likelihood,
)
from whispersign_jax.decoding.decoders import (
    DECODERS,
    DEFAULT_DECODER,
    DecodeOptions,
    decode,
    make_decode_fn,
)
from whispersign_jax.decoding.result import Recognition, RecognizedGloss, to_recognitions

__all__ = [
    "DECODERS",
    "DEFAULT_DECODER",
    "DecodeOptions",
    "Recognition",
    "RecognizedGloss",
    "collapse",
    "ctc_greedy_ids",
    "ctc_log_probs",
    "decode",
    "forced_alignment",
    "greedy_decode",
    "make_decode_fn",
    "prefix_beam_search",
    "single_gloss_log_likelihood",
    "to_recognitions",
]
