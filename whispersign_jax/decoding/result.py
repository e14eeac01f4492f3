"""What a decoder returns to users: glosses with names, scores and time spans (NumPy only).

Times come from CTC timing: encoder position ``p`` covers frames ``[p * patch_size,
(p + 1) * patch_size)``, and frames are at ``keypoints.FPS`` (60) per second.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import numpy as np

from whispersign_jax.keypoints import FPS
from whispersign_jax.vocab import Vocabulary


@dataclasses.dataclass(frozen=True)
class RecognizedGloss:
    id: int
    name: str
    confidence: float  # highest CTC posterior of the gloss inside its span
    start_frame: int  # [start_frame, end_frame) in the input's frames
    end_frame: int

    @property
    def start_s(self) -> float:
        return self.start_frame / FPS

    @property
    def end_s(self) -> float:
        return self.end_frame / FPS

    @property
    def time_s(self) -> float:
        """When the gloss was emitted: the middle of its span."""
        return 0.5 * (self.start_s + self.end_s)

    def shifted(self, frames: int) -> RecognizedGloss:
        """The same gloss with its span moved by ``frames`` (window -> stream time)."""
        return dataclasses.replace(
            self, start_frame=self.start_frame + frames, end_frame=self.end_frame + frames
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain values for JSON; a confidence that is not finite is None."""
        return {
            "id": self.id,
            "name": self.name,
            "confidence": _rounded(self.confidence),
            "start_s": round(self.start_s, 4),
            "end_s": round(self.end_s, 4),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
        }


@dataclasses.dataclass(frozen=True)
class Recognition:
    """One decoded sample: the glosses in order and the scores of the chosen hypothesis."""

    glosses: tuple[RecognizedGloss, ...]
    score: float  # the decoder's own score (log domain)
    decoder: str
    ctc_score: float | None = None  # log p_CTC of the hypothesis, where the decoder has it
    attention_score: float | None = None  # log p_attention(g1 .. gn <eos>)
    nbest: tuple[tuple[int, ...], ...] = ()  # n-best id sequences (beam decoders), best first

    @property
    def ids(self) -> list[int]:
        return [gloss.id for gloss in self.glosses]

    @property
    def names(self) -> list[str]:
        return [gloss.name for gloss in self.glosses]

    def to_dict(self) -> dict[str, Any]:
        """Plain values for strict JSON: a score the decoder does not have, or one that is not
        finite (-inf when nothing was recognised), is None (``null``)."""
        scores = {"score": self.score, "ctc": self.ctc_score, "attention": self.attention_score}
        return {
            "decoder": self.decoder,
            "glosses": [gloss.to_dict() for gloss in self.glosses],
            "text": " ".join(self.names),
            "scores": {k: _rounded(v) for k, v in scores.items()},
        }


def _rounded(value: float | None) -> float | None:
    """``value`` to 4 decimals; None for None and for values that are not finite."""
    return round(value, 4) if value is not None and np.isfinite(value) else None


def _optional(outputs: dict, key: str, row: int) -> float | None:
    if key not in outputs:
        return None
    value = float(outputs[key][row])
    return value if np.isfinite(value) else None


def to_recognitions(
    outputs: dict[str, np.ndarray],
    vocabulary: Vocabulary,
    decoder: str,
    patch_size: int,
    num_frames: np.ndarray,
) -> list[Recognition]:
    """Host-side decoder outputs (``ids``, ``lengths``, ``scores``, ``spans``,
    ``confidences``, optional ``ctc_scores``, ``attention_scores``, ``nbest_ids``,
    ``nbest_lengths``) -> one Recognition per sample; spans clipped to ``num_frames``."""
    recognitions = []
    for row in range(len(outputs["lengths"])):
        length = int(outputs["lengths"][row])
        ids = outputs["ids"][row, :length].tolist()
        glosses = []
        for slot, (gloss_id, name) in enumerate(zip(ids, vocabulary.names(ids), strict=True)):
            start, end = (int(v) * patch_size for v in outputs["spans"][row, slot])
            end = min(max(end, start + 1), int(num_frames[row]))
            glosses.append(
                RecognizedGloss(
                    int(gloss_id), name, float(outputs["confidences"][row, slot]), start, end
                )
            )
        nbest = ()
        if "nbest_ids" in outputs:
            nbest = tuple(
                tuple(outputs["nbest_ids"][row, k, :n].tolist())
                for k, n in enumerate(outputs["nbest_lengths"][row].tolist())
                if np.isfinite(outputs["nbest_scores"][row, k])
            )
        recognitions.append(
            Recognition(
                glosses=tuple(glosses),
                score=float(outputs["scores"][row]),
                decoder=decoder,
                ctc_score=_optional(outputs, "ctc_scores", row),
                attention_score=_optional(outputs, "attention_scores", row),
                nbest=nbest,
            )
        )
    return recognitions


def describe(gloss: RecognizedGloss) -> str:
    """One line of a gloss: its time span, name and confidence."""
    return f"{gloss.start_s:7.2f}-{gloss.end_s:6.2f} s  {gloss.name}  ({gloss.confidence:.2f})"


def format_recognition(source: str, frames: int, recognition: Recognition, as_json: bool) -> str:
    """What the recognise commands print for a whole clip: one JSON object, or the glosses
    on one line followed by one line per gloss."""
    if as_json:
        line = {"source": source, "frames": frames, **recognition.to_dict()}
        return json.dumps(line, allow_nan=False)
    lines = [f"{source}: {' '.join(recognition.names) or '(no gloss)'}"]
    return "\n".join(lines + ["  " + describe(gloss) for gloss in recognition.glosses])
