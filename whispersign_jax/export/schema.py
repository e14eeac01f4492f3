"""What a valid ``whispersign_export.json`` holds, checked before a runtime trusts it: each
field's type and range, the fields against each other (``check_metadata``), and against the
input and output shapes the model files declare (``check_encoder``, ``check_scorer``). Every
failure is one ``ValueError`` naming the metadata file, the field, its value and what was
expected. Plain Python: no JAX, no schema library."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from whispersign_jax import keypoints as kp
from whispersign_jax.data.normalize import NUM_MOTION_FEATURES
from whispersign_jax.errors import ModelFileError
from whispersign_jax.vocab import Vocabulary

METADATA_FILE = "whispersign_export.json"
FORMAT_VERSION = 2  # 2: the SHA-256 of every model file (``sha256``)
FORMATS = ("tflite", "saved_model", "onnx")
EXPORT_DTYPES = ("float32", "float16", "int8")
MODEL_FILES = {  # format -> (encoder, scorer) names inside the export folder
    "tflite": ("encoder.tflite", "scorer.tflite"),
    "onnx": ("encoder.onnx", "scorer.onnx"),
    "saved_model": ("encoder", "scorer"),
}
FIELDS = (
    "format", "dtype", "label_map", "preprocessing", "joint_set", "num_joints", "patch_size",
    "max_frames", "window_frames", "beam_size", "scorer_lengths", "source", "sha256",
)  # fmt: skip
SHA256_HEX = re.compile(r"[0-9a-f]{64}")
AGAIN = "export the model again (python -m whispersign_jax.export)"


def shown(value: Any) -> str:
    """``value`` as the JSON it was read from, cut to 80 characters."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 80 else f"{text[:77]}..."


def refusal(path: Path, field: str, value: Any, expected: str) -> ValueError:
    return ValueError(f"{path}: {field} is {shown(value)}, expected {expected}; {AGAIN}.")


def whole(value: Any) -> bool:
    """A JSON whole number >= 1 (not 1.0, not true)."""
    return type(value) is int and value >= 1


def finite_numbers(value: Any, count: int) -> bool:
    """A list of ``count`` finite JSON numbers."""
    return (
        isinstance(value, list)
        and len(value) == count
        and all(type(v) in (int, float) and math.isfinite(v) for v in value)
    )


def check_metadata(fields: Any, path: Path) -> None:
    """Refuses the parsed metadata ``fields`` of ``path`` unless every field has its type and
    range and agrees with the others."""
    if not isinstance(fields, dict):
        raise ValueError(f"{path}: not an export's metadata (a JSON object); {AGAIN}.")
    version = fields.get("format_version")
    if version != FORMAT_VERSION:
        raise ValueError(
            f"{path}: export format version {shown(version)}, this runtime reads "
            f"{FORMAT_VERSION}; export the model again with this version."
        )
    missing = [name for name in FIELDS if name not in fields]
    if missing:
        raise ValueError(f"{path}: {', '.join(missing)} missing; {AGAIN}.")

    def check(field: str, valid: bool, expected: str) -> None:
        if not valid:
            raise refusal(path, field, fields[field], expected)

    check("format", fields["format"] in FORMATS, f"one of {', '.join(FORMATS)}")
    check("dtype", fields["dtype"] in EXPORT_DTYPES, f"one of {', '.join(EXPORT_DTYPES)}")
    sets = ", ".join(s.describe() for s in kp.JOINT_SETS.values())
    known = isinstance(fields["joint_set"], str) and fields["joint_set"] in kp.JOINT_SETS
    check("joint_set", known, f"one of the joint sets {sets}")
    joint_set = kp.JOINT_SETS[fields["joint_set"]]
    check(
        "num_joints",
        fields["num_joints"] == joint_set.num_joints and whole(fields["num_joints"]),
        f"{joint_set.num_joints}, the joints of joint set {joint_set.name} (joint sets: {sets})",
    )
    check("patch_size", whole(fields["patch_size"]), "a whole number >= 1 (frames per position)")
    patch_size = fields["patch_size"]
    in_patches = f"a whole number >= 1 of whole patches ({patch_size} frames each)"
    max_frames = fields["max_frames"]
    check("max_frames", whole(max_frames) and max_frames % patch_size == 0, in_patches)
    window = fields["window_frames"]
    fits = whole(window) and window <= max_frames and window % patch_size == 0
    check(
        "window_frames",
        window is None or fits,
        f"null (any length) or {in_patches}, at most max_frames ({max_frames})",
    )
    lengths = fields["scorer_lengths"]
    increasing = isinstance(lengths, list) and all(whole(n) for n in lengths)
    increasing = increasing and len(lengths) > 0 and lengths == sorted(set(lengths))
    check(
        "scorer_lengths",
        lengths is None or increasing,
        "null (any length) or increasing whole numbers >= 1 (hypothesis lengths)",
    )
    check(
        "beam_size",
        whole(fields["beam_size"]) or (fields["beam_size"] is None and lengths is None),
        "a whole number >= 1 (hypotheses per scorer call), or null with scorer_lengths null",
    )
    Vocabulary.from_label_map(fields["label_map"], source=f"{path}: label_map")
    check_preprocessing(fields["preprocessing"], path)
    check("source", isinstance(fields["source"], dict), "an object (the exported checkpoint)")
    check_digests(fields["sha256"], MODEL_FILES[fields["format"]], path)


def check_preprocessing(preprocessing: Any, path: Path) -> None:
    """Hand normalisation on or off, and per-feature mean and std (finite, std > 0) or none."""
    keys = {"normalize_hands", "mean", "std"}
    if not isinstance(preprocessing, dict) or set(preprocessing) != keys:
        expected = 'an object {"normalize_hands": ..., "mean": ..., "std": ...}'
        raise refusal(path, "preprocessing", preprocessing, expected)
    if not isinstance(preprocessing["normalize_hands"], bool):
        raise refusal(
            path, "preprocessing.normalize_hands", preprocessing["normalize_hands"], "true or false"
        )
    mean, std = preprocessing["mean"], preprocessing["std"]
    per_feature = f"{NUM_MOTION_FEATURES} finite numbers (x, y, z, vx, vy, vz)"
    if std is not None and not (finite_numbers(std, NUM_MOTION_FEATURES) and min(std) > 0):
        raise refusal(path, "preprocessing.std", std, f"null or {per_feature} > 0")
    if mean is not None and not finite_numbers(mean, NUM_MOTION_FEATURES):
        raise refusal(path, "preprocessing.mean", mean, f"null or {per_feature}")
    if (mean is None) != (std is None):
        field, value = ("mean", mean) if mean is None else ("std", std)
        expected = f"{per_feature}, as the other of mean and std is set (or both null)"
        raise refusal(path, f"preprocessing.{field}", value, expected)


def check_digests(digests: Any, model_files: Sequence[str], path: Path) -> None:
    """``{file: SHA-256 hex}`` for the model files: a file's own name, or paths inside a
    SavedModel folder (``encoder/saved_model.pb``); at least one per model."""
    files = " and ".join(model_files)
    if not isinstance(digests, dict):
        raise refusal(path, "sha256", digests, f"an object {{file: SHA-256}} of {files}")
    for name, digest in digests.items():
        model, _, inside = name.partition("/")
        parts = inside.split("/")
        if model not in model_files or (inside and ("" in parts or ".." in parts)):
            expected = f"files of {files} only"
            raise refusal(path, "sha256", sorted(digests), f"{expected}, not {name!r}")
        if not (isinstance(digest, str) and SHA256_HEX.fullmatch(digest)):
            raise refusal(path, f"sha256[{name!r}]", digest, "64 hex digits (a SHA-256)")
    for model in model_files:
        if not any(name.partition("/")[0] == model for name in digests):
            raise refusal(path, "sha256", digests, f"the SHA-256 of {files}; {model} has none")


def dimension(shape: Sequence | None, axis: int) -> int | None:
    """The size a model declares for ``axis`` of an input or output; None when dynamic or not
    declared (ONNX names its dynamic dimensions, TFLite marks them -1, TensorFlow None)."""
    if shape is None or len(shape) <= axis:
        return None
    size = shape[axis]
    return size if type(size) is int and size >= 0 else None


def declared(shapes: Mapping[str, Sequence], names: Sequence[str], model: Path, what: str):
    """The shapes of ``names`` in ``shapes``, or a ModelFileError when the model lacks one."""
    absent = [name for name in names if name not in shapes]
    if absent:
        raise ModelFileError(
            f"{model}: has no {what} {', '.join(absent)} (it has {', '.join(sorted(shapes))}); "
            f"it is not an export of this project: {AGAIN}."
        )
    return [shapes[name] for name in names]


def check_encoder(
    bundle, path: Path, model: Path, inputs: Mapping[str, Sequence], outputs: Mapping
) -> None:
    """Refuses metadata ``bundle`` of ``path`` that disagrees with the encoder ``model``'s
    declared shapes: keypoints (1, T, J, 7), ctc_logits (1, P, C) with C the label map's
    entries and P the window's positions."""
    (keypoints,) = declared(inputs, ["keypoints"], model, "input")
    (logits,) = declared(outputs, ["ctc_logits"], model, "output")
    joints, frames = dimension(keypoints, 2), dimension(keypoints, 1)
    if joints is not None and joints != bundle.num_joints:
        expected = f"{joints}: {model.name} takes {joints} joints"
        raise refusal(path, "num_joints", bundle.num_joints, expected)
    if frames is not None and frames != bundle.window_frames:
        expected = f"{frames}: {model.name} takes a window of {frames} frames"
        raise refusal(path, "window_frames", bundle.window_frames, expected)
    classes = dimension(logits, 2)
    if classes is not None and classes != len(bundle.label_map):
        expected = (
            f"{classes} entries (<blank> and {classes - 1} glosses): {model.name} scores "
            f"{classes} classes, the label map has {len(bundle.label_map)}"
        )
        raise refusal(path, "label_map", bundle.label_map, expected)
    check_positions(bundle, path, model, dimension(logits, 1))


def check_positions(bundle, path: Path, model: Path, positions: int | None) -> None:
    """The encoder positions a model declares against the window and the patch size."""
    if positions is None or bundle.window_frames is None:
        return
    if positions != -(-bundle.window_frames // bundle.patch_size):
        expected = (
            f"{bundle.window_frames // max(positions, 1)}: {model.name} turns the "
            f"{bundle.window_frames}-frame window into {positions} positions"
        )
        raise refusal(path, "patch_size", bundle.patch_size, expected)


def check_scorer(bundle, path: Path, model: Path, length: int | None, inputs: Mapping) -> None:
    """Refuses metadata that disagrees with the scorer ``model``'s declared inputs for
    hypotheses of ``length`` ids (None: any): ids (beam_size, length), encoder_out (1, P, d)."""
    ids, encoder_out = declared(inputs, ["ids", "encoder_out"], model, "input")
    beam, width = dimension(ids, 0), dimension(ids, 1)
    if beam is not None and beam != bundle.beam_size:
        expected = f"{beam}: {model.name} scores {beam} hypotheses at a time"
        raise refusal(path, "beam_size", bundle.beam_size, expected)
    if width is not None and width != length:
        expected = f"{model.name}'s hypothesis lengths: it takes {width} ids, not {length}"
        raise refusal(path, "scorer_lengths", bundle.scorer_lengths, expected)
    check_positions(bundle, path, model, dimension(encoder_out, 1))
