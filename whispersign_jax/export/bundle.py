"""What travels with an exported model (no JAX): ``whispersign_export.json`` beside the model
files names them and holds the label map, the preprocessing, the joint set, the input and
scorer shapes, so a consumer needs nothing else, and the SHA-256 of every model file, checked
before a runtime opens it (``ExportBundle.check_files``). ``schema`` checks the metadata.

An export folder::

    whispersign_export.json     this metadata
    encoder.<ext>               keypoints -> CTC logits, encoder output (the recogniser)
    scorer.<ext>                n-best hypotheses + encoder output -> attention log-likelihoods
                                (the decoder, for attention rescoring)

``<ext>`` is ``.tflite``, ``.onnx`` or a SavedModel folder (``encoder/``, ``scorer/``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.errors import ModelFileError
from whispersign_jax.export.schema import (
    AGAIN,
    EXPORT_DTYPES,
    FORMAT_VERSION,
    FORMATS,
    METADATA_FILE,
    MODEL_FILES,
    check_metadata,
)
from whispersign_jax.vocab import Vocabulary


def sha256_of(path: Path) -> str:
    """The SHA-256 (hex) of a file, read in chunks."""
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def files_of(folder: Path, name: str) -> list[str]:
    """The files of model ``name`` in ``folder``, relative to it: the file itself, or every
    file of a SavedModel folder (``encoder/saved_model.pb`` ...)."""
    path = folder / name
    if not path.is_dir():
        return [name] if path.exists() else []
    return sorted(p.relative_to(folder).as_posix() for p in path.rglob("*") if not p.is_dir())


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
    sha256: dict[str, str] = dataclasses.field(default_factory=dict)  # model file -> digest
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

    def digests(self, folder: str | Path) -> dict[str, str]:
        """``sha256`` of the model files in ``folder``, as they are now."""
        folder = Path(folder)
        names = [f for model in MODEL_FILES[self.format] for f in files_of(folder, model)]
        return {name: sha256_of(folder / name) for name in names}

    def check_files(self, folder: str | Path, model: str) -> None:
        """Refuses model ``model`` (a file or SavedModel folder in ``folder``) unless its files
        are exactly those ``sha256`` records, each with its recorded SHA-256: a damaged or
        changed model is never opened."""
        folder = Path(folder)
        recorded = {
            name: digest for name, digest in self.sha256.items() if name.partition("/")[0] == model
        }
        present = files_of(folder, model)
        if not present or set(recorded) - set(present):
            missing = folder / min(set(recorded) - set(present), default=model)
            raise FileNotFoundError(
                f"{missing} not found: the export in {folder} is incomplete; {AGAIN}."
            )
        for name in present:
            if name not in recorded:
                raise ModelFileError(
                    f"{folder / name}: not a file of this export ({METADATA_FILE} records no "
                    f"SHA-256 for it); remove it, or {AGAIN}."
                )
            actual = sha256_of(folder / name)
            if actual != recorded[name]:
                raise ModelFileError(
                    f"{folder / name}: cannot load this file: its SHA-256 is {actual}, "
                    f"{METADATA_FILE} records {recorded[name]}; it was damaged or changed "
                    f"after the export: {AGAIN}."
                )

    def save(self, folder: str | Path) -> Path:
        """Writes ``whispersign_export.json`` into ``folder`` (strict JSON: no NaN)."""
        path = Path(folder) / METADATA_FILE
        text = json.dumps(dataclasses.asdict(self), ensure_ascii=False, indent=1, allow_nan=False)
        path.write_text(text, encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> ExportBundle:
        """The metadata of an export folder (or of the folder holding a model file), checked
        field by field (``schema.check_metadata``)."""
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
            fields = json.loads(path.read_text(encoding="utf-8"), parse_constant=not_json)
        except ValueError as error:  # not JSON, not UTF-8, or NaN
            message = f"{path}: not a valid export metadata file ({error}); {AGAIN}."
            raise ValueError(message) from None
        check_metadata(fields, path)
        known = {field.name for field in dataclasses.fields(cls)}
        return cls(**{key: value for key, value in fields.items() if key in known})


def not_json(token: str):
    """``json.loads``'s hook for NaN and Infinity, which strict JSON has not."""
    raise ValueError(f"{token} is not a JSON number")
