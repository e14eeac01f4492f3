"""The decoder's command-line flags, shared by ``evaluate`` and ``recognize``; their defaults
are DecodeOptions' own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from absl import flags

from whispersign_jax.decoding.options import DECODERS, DecodeOptions


def define_decode_flags(decoders: Sequence[str] = DECODERS) -> None:
    """``--decoder`` (one of ``decoders``), ``--beam_size`` and ``--ctc_weight`` on absl's
    global flags."""
    defaults = DecodeOptions()
    flags.DEFINE_enum("decoder", defaults.decoder, decoders, "Decoder.")
    flags.DEFINE_integer(
        "beam_size", defaults.beam_size, "Beam size of the beam decoders (n-best of rescoring)."
    )
    flags.DEFINE_float(
        "ctc_weight", defaults.ctc_weight, "CTC weight of rescoring and joint search."
    )


def decode_options(values: Any) -> DecodeOptions:
    """DecodeOptions from parsed flags (or any object with the same attributes)."""
    return DecodeOptions(
        decoder=values.decoder, beam_size=values.beam_size, ctc_weight=values.ctc_weight
    )
