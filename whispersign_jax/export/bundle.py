"""What travels with an exported model (no JAX): ``whispersign_export.json`` beside the model
files names them and holds the label map, the preprocessing, the joint set and the input and
scorer shapes, so a consumer needs nothing else.

An export folder::

    whispersign_export.json     this metadata
    encoder.<ext>               keypoints -> CTC logits, encoder output (the recogniser)
    scorer.<ext>                n-best hypotheses + encoder output -> attention log-likelihoods
                                (the decoder, for attention rescoring)

``<ext>`` is ``.tflite``, ``.onnx`` or a SavedModel folder (``encoder/``, ``scorer/``).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.vocab import Vocabulary

METADATA_FILE = "whispersign_export.json"
FORMAT_VERSION = 1
FORMATS = ("tflite", "saved_model", "onnx")
EXPORT_DTYPES = ("float32", "float16", "int8")
MODEL_FILES = {  # format -> (encoder, scorer) names inside the export folder
    "tflite": ("encoder.tflite", "scorer.tflite"),
    "onnx": ("encoder.onnx", "scorer.onnx"),
    "saved_model": ("encoder", "scorer"),
}


def scorer_signature(length: int | None) -> str:
    """The scorer's signature name for hypotheses of ``length`` ids (None: any length)."""
    return "score" if length is None else f"score_l{length}"


@dataclasses.dataclass(frozen=True)
class ExportBundle:
    """The metadata of one export. ``window_frames`` is the fixed input length of the
    encoder (frames at 60 FPS) or None when it takes any length up to ``max_frames``; the
    scorer takes ``beam_size`` hypotheses (None: any number) of one of ``scorer_lengths``
    ids (None: any length). A TFLite scorer has one signature per length
    (``score_l<L>``); the encoder's signature is ``encode``."""

    format: str
    dtype: str
    label_map: dict[str, int]
    preprocessing: dict[str, Any]
    joint_set: str
    num_joints: int
    patch_size: int
    max_frames: int
    window_frames: int | None
    beam_size: int | None
    scorer_lengths: list[int] | None
    source: dict[str, Any]  # workdir, stage, step, metrics of the exported checkpoint
    format_version: int = FORMAT_VERSION

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"Unknown export format {self.format!r}; choose one of {FORMATS}.")
        if self.dtype not in EXPORT_DTYPES:
            raise ValueError(f"Unknown export dtype {self.dtype!r}; choose one of {EXPORT_DTYPES}.")

    @property
    def encoder_file(self) -> str:
        return MODEL_FILES[self.format][0]

    @property
    def scorer_file(self) -> str:
        return MODEL_FILES[self.format][1]

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary.from_label_map(self.label_map, source=METADATA_FILE)

    @property
    def preprocessor(self) -> Preprocessor:
        return Preprocessor.from_dict(self.preprocessing)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / METADATA_FILE
        path.write_text(
            json.dumps(dataclasses.asdict(self), ensure_ascii=False, indent=1), encoding="utf-8"
        )
        return path

    @classmethod
    def load(cls, folder: str | Path) -> ExportBundle:
        """The metadata of an export folder (or of the folder holding a model file)."""
        folder = Path(folder)
        if folder.is_file() or not (folder / METADATA_FILE).is_file():
            folder = folder.parent if folder.is_file() else folder
        path = folder / METADATA_FILE
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} not found: pass the folder written by `python -m whispersign_jax.export "
                "--workdir=... --format=... --out=FOLDER`."
            )
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
            version = fields.get("format_version")
            if version != FORMAT_VERSION:
                raise ValueError(
                    f"export format version {version}, this runtime reads {FORMAT_VERSION}; "
                    "export the model again with this version"
                )
            known = {field.name for field in dataclasses.fields(cls)}
            return cls(**{key: value for key, value in fields.items() if key in known})
        except (json.JSONDecodeError, TypeError, ValueError) as error:
            raise ValueError(f"{path}: not a valid export metadata file ({error}).") from None
