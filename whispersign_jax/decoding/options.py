"""Which decoder and how (no JAX): the decoder names and defaults, shared by the JAX decoders,
the command lines and the exported-model runtime (``whispersign_jax.export.run``)."""

from __future__ import annotations

import dataclasses

DECODERS = (
    "ctc_greedy",
    "ctc_prefix_beam",
    "attention_rescoring",
    "attention_beam",
    "joint_beam",
)
DEFAULT_DECODER = "attention_rescoring"
CTC_ONLY = ("ctc_greedy", "ctc_prefix_beam")  # decoders that never run the attention decoder
RUNTIME_DECODERS = (*CTC_ONLY, "attention_rescoring")  # what the exported-model runtime runs
BUCKET_FRAMES = 60  # inputs are padded to whole seconds: one compiled program per length
POSITIONS_PER_GLOSS = 3  # the default gloss cap: one gloss per 3 encoder positions (0.2 s)


@dataclasses.dataclass(frozen=True)
class DecodeOptions:
    """Which decoder and how; the one place of the decoder defaults (the command lines'
    ``--decoder``, ``--beam_size``, ``--ctc_weight`` read theirs from here)."""

    decoder: str = DEFAULT_DECODER
    beam_size: int = 8  # beam decoders; attention rescoring: the size of the CTC n-best
    ctc_weight: float = 0.5  # rescoring and joint search: weight of the CTC score
    max_glosses: int | None = None  # longest hypothesis; None: positions / POSITIONS_PER_GLOSS

    def __post_init__(self) -> None:
        if self.decoder not in DECODERS:
            raise ValueError(f"Unknown decoder {self.decoder!r}; choose one of {DECODERS}.")
        if self.beam_size < 1:
            raise ValueError(f"beam_size must be >= 1, got {self.beam_size}.")
        if not 0.0 <= self.ctc_weight <= 1.0:
            raise ValueError(f"ctc_weight must lie in [0, 1], got {self.ctc_weight}.")
        if self.max_glosses is not None and self.max_glosses < 1:
            raise ValueError(f"max_glosses must be >= 1, got {self.max_glosses}.")

    def glosses_for(self, positions: int) -> int:
        """The hypothesis cap for an input of ``positions`` encoder positions (greedy: none
        by default, it costs nothing)."""
        if self.max_glosses is not None:
            return min(self.max_glosses, positions)
        if self.decoder == "ctc_greedy":
            return positions
        return max(1, -(-positions // POSITIONS_PER_GLOSS))


def padded_frames(num_frames: int, max_frames: int) -> int:
    """The length a clip of ``num_frames`` is padded to for recognition: whole seconds, at
    most the model's ``max_frames``. Hypothesis caps (``glosses_for``) follow from it."""
    return min(-(-num_frames // BUCKET_FRAMES) * BUCKET_FRAMES, max_frames)


def length_buckets(max_glosses: int) -> list[int]:
    """Hypothesis lengths the attention decoder is run at in rescoring: 1, 2, 4, ... up to
    ``max_glosses``; a list is cut to the shortest that holds its longest hypothesis."""
    return sorted({min(2**i, max_glosses) for i in range(max_glosses.bit_length() + 1)})
