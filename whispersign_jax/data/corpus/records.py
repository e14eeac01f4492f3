"""One clip as one ArrayRecord record: a safetensors buffer (no pickle) holding the keypoints
and gloss spans, with the gloss names, origin, recording and signer as its metadata."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
from safetensors.numpy import load, save

from whispersign_jax.data.sample import Sample, untimed_sample
from whispersign_jax.vocab import Vocabulary


@dataclasses.dataclass(frozen=True)
class CorpusClip:
    """A clip on its way into a corpus: gloss names (ids are given when the label map is
    known, at the end of writing) and where it came from."""

    keypoints: np.ndarray  # (T, J, 7) float32 at 60 FPS
    glosses: tuple[str, ...]
    origin: str  # unique in the corpus: the index is in the order of origins
    recording: str = ""  # samples of one recording share a split
    spans: np.ndarray | None = None  # (L, 2) int64 measured [start, end) frames; None: untimed
    signer: int = -1

    @property
    def timed(self) -> bool:
        return self.spans is not None


def encode_clip(clip: CorpusClip) -> bytes:
    """``clip`` as bytes; ``decode_clip`` gives it back exactly."""
    tensors = {"keypoints": np.ascontiguousarray(clip.keypoints, np.float32)}
    if clip.spans is not None:
        tensors["spans"] = np.ascontiguousarray(clip.spans, np.int64).reshape(-1, 2)
    metadata = {
        "glosses": json.dumps(list(clip.glosses), ensure_ascii=False, allow_nan=False),
        "origin": clip.origin,
        "recording": clip.recording,
        "signer": str(int(clip.signer)),
    }
    return save(tensors, metadata)


def decode_clip(record: bytes) -> CorpusClip:
    """The ``CorpusClip`` of one record; a ValueError for bytes that are not one."""
    try:
        tensors = load(record)
        metadata = _metadata(record)
        return CorpusClip(
            keypoints=tensors["keypoints"],
            glosses=tuple(json.loads(metadata["glosses"])),
            origin=metadata["origin"],
            recording=metadata["recording"],
            spans=tensors.get("spans"),
            signer=int(metadata["signer"]),
        )
    except Exception as error:  # safetensors raises its own errors for damaged bytes
        raise ValueError(f"not a corpus clip record ({error})") from error


def _metadata(record: bytes) -> dict[str, str]:
    """The safetensors header's ``__metadata__`` (the format: 8-byte length, JSON header)."""
    header_length = int.from_bytes(record[:8], "little")
    return json.loads(record[8 : 8 + header_length])["__metadata__"]


def clip_sample(clip: CorpusClip, vocabulary: Vocabulary) -> Sample:
    """The training ``Sample`` of ``clip``: gloss ids from ``vocabulary``."""
    labels = np.asarray(vocabulary.ids(list(clip.glosses)), np.int64)  # (L,)
    if clip.spans is None:
        return dataclasses.replace(untimed_sample(clip.keypoints, labels), signer=clip.signer)
    return Sample(clip.keypoints, labels, clip.spans, signer=clip.signer, timed=True)
