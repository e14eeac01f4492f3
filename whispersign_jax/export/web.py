"""The browser page's model folder: the ONNX export plus ``features.onnx`` and the page's
settings (``whispersign_web.json``), all written from Python so the page hand-codes none of
them (needs JAX and jax2onnx).

A web export folder::

    whispersign_export.json   the ONNX export's metadata (``bundle``)
    encoder.onnx, scorer.onnx the recogniser, float32, on the fixed streaming window
    features.onnx             camera-frame hand tracks -> the window's keypoints and model
                              input (``live_features.window_features``, traced by JAX)
    whispersign_web.json      what the page reads: files and their SHA-256 (the page checks
                              each file it fetches), shapes, decoder, stream, slot and
                              vocabulary settings

``ensure_web_export`` writes it when missing or made from another checkpoint.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from whispersign_jax import keypoints as kp
from whispersign_jax.data.normalize import Preprocessor
from whispersign_jax.decoding.options import BUCKET_FRAMES, POSITIONS_PER_GLOSS, DecodeOptions
from whispersign_jax.export import convert
from whispersign_jax.export.bundle import ExportBundle, sha256_of
from whispersign_jax.extraction import slots
from whispersign_jax.extraction.tracks import MAX_INTERPOLATION_GAP_S
from whispersign_jax.inference import streaming
from whispersign_jax.inference.live_features import CONTEXT_FRAMES, window_features
from whispersign_jax.runs import trained
from whispersign_jax.vocab import BLANK_ID

WEB_FILE = "whispersign_web.json"
FEATURES_FILE = "features.onnx"
WEB_FORMAT_VERSION = 3  # 3: the SHA-256 of every file (``sha256``)
# Camera frames one window's features see: its 3 s plus context and a neighbour on each side
# at up to 75 frames per second. Faster cameras are thinned by the page.
MAX_CAMERA_FPS = 75
FEATURE_INPUTS = ("positions", "presence", "times", "grid_times", "grid_valid")
FEATURE_OUTPUTS = ("keypoints", "features")


def camera_frames(window_frames: int) -> int:
    """Rows of ``features.onnx``'s camera-frame inputs for a window of ``window_frames``."""
    seconds = (window_frames + 2 * CONTEXT_FRAMES) / kp.FPS + 2 * MAX_INTERPOLATION_GAP_S
    return int(np.ceil(seconds * MAX_CAMERA_FPS)) + 2


def export_features(preprocessor: Preprocessor, window_frames: int, path: Path) -> None:
    """``features.onnx``: ``window_features`` with a model's preprocessing, float32."""
    rows, grid = camera_frames(window_frames), window_frames + 2 * CONTEXT_FRAMES

    def features(positions, presence, times, grid_times, grid_valid):
        keypoints, model_input = window_features(
            positions, presence, times, grid_times, grid_valid, preprocessor, xp=jnp
        )
        # Without preprocessing both outputs are one value, and an ONNX value has one name.
        return keypoints, model_input + jnp.zeros((), model_input.dtype)

    inputs = [
        jax.ShapeDtypeStruct((rows, 2, kp.JOINTS_PER_HAND, 3), jnp.float32),
        jax.ShapeDtypeStruct((rows, 2), jnp.float32),
        jax.ShapeDtypeStruct((rows,), jnp.float32),
        jax.ShapeDtypeStruct((grid,), jnp.float32),
        jax.ShapeDtypeStruct((grid,), jnp.bool_),
    ]
    convert.save_onnx(features, inputs, FEATURE_INPUTS, FEATURE_OUTPUTS, path)


def page_constants(options: DecodeOptions, window_s: float = streaming.DEFAULT_WINDOW_S) -> dict:
    """The settings that do not depend on the model: frame rate, joints, decoder, stream
    and slot rules, each from the Python constant that owns it."""
    return {
        "fps": kp.FPS,
        "num_joints": kp.NUM_JOINTS,
        "joints_per_hand": kp.JOINTS_PER_HAND,
        "num_features": kp.NUM_FEATURES,
        "confidence_feature": kp.CONFIDENCE,
        "wrist": kp.WRIST,
        "hand_bones": [list(bone) for bone in kp.HAND_BONES],
        "context_frames": CONTEXT_FRAMES,
        "max_gap_s": MAX_INTERPOLATION_GAP_S,
        "bucket_frames": BUCKET_FRAMES,
        "positions_per_gloss": POSITIONS_PER_GLOSS,
        "blank_id": BLANK_ID,
        "decoder": options.decoder,
        "beam_size": options.beam_size,
        "ctc_weight": options.ctc_weight,
        "max_glosses": options.max_glosses,
        "stream": {
            "window_s": window_s,
            "overlap": streaming.DEFAULT_OVERLAP,
            "dedupe_s": streaming.DEFAULT_DEDUPE_S,
            "lookahead_s": streaming.DEFAULT_LOOKAHEAD_S,
            "min_confidence": streaming.DEFAULT_MIN_CONFIDENCE,
        },
        "slots": {
            "duplicate_distance": slots.DUPLICATE_DISTANCE,
            "min_confidence": slots.MIN_CONFIDENCE,
            "labels_assume_mirrored": False,  # MediaPipe Tasks: labels as seen in the image
        },
    }


def web_settings(
    model: trained.TrainedModel, bundle: ExportBundle, options: DecodeOptions, out: Path
) -> dict:
    """The page's settings: every number and name it needs, from the Python that owns it, and
    the SHA-256 of each file in ``out`` that it loads."""
    files = {
        "features": FEATURES_FILE,
        "encoder": bundle.encoder_file,
        "scorer": bundle.scorer_file,
    }
    return {
        "format_version": WEB_FORMAT_VERSION,
        "files": files,
        "sha256": {name: sha256_of(out / name) for name in files.values()},
        "source": bundle.source,
        **page_constants(options, bundle.window_frames / kp.FPS),
        "window_frames": bundle.window_frames,
        "camera_frames": camera_frames(bundle.window_frames),
        "patch_size": bundle.patch_size,
        "max_frames": bundle.max_frames,
        "scorer_beam": bundle.beam_size,
        "scorer_lengths": bundle.scorer_lengths,
        "glosses": list(model.vocabulary.glosses),  # glosses[i] has id i + 1
    }


def export_web(
    model: trained.TrainedModel,
    out: str | Path,
    window_s: float = streaming.DEFAULT_WINDOW_S,
    options: DecodeOptions | None = None,
    source: str = "",
) -> dict:
    """Writes the web export of a float32 model into ``out``; returns its settings."""
    if model.joint_set != kp.DEFAULT_JOINT_SET:
        raise ValueError(
            f"The browser page tracks hands only; this model takes the {model.joint_set} joint "
            f"set (config.data.keypoints). Serve a model trained on --joint_set="
            f"{kp.DEFAULT_JOINT_SET}."
        )
    options = options or DecodeOptions()
    out = Path(out)
    bundle = convert.export_trained(model, out, "onnx", "float32", window_s, options, source)
    with tempfile.TemporaryDirectory(dir=out) as staging:
        export_features(model.preprocessor, bundle.window_frames, Path(staging) / FEATURES_FILE)
        (Path(staging) / FEATURES_FILE).replace(out / FEATURES_FILE)
    settings = web_settings(model, bundle, options, out)
    text = json.dumps(settings, ensure_ascii=False, indent=1, allow_nan=False)
    (out / WEB_FILE).write_text(text, "utf-8")
    return settings


def intact(out: Path, settings: dict) -> bool:
    """Every file the page loads is in ``out`` with the SHA-256 its settings record."""
    digests = settings.get("sha256", {})
    files = settings.get("files", {}).values()
    return all(
        (out / name).is_file() and digests.get(name) == sha256_of(out / name) for name in files
    )


def ensure_web_export(workdir: str | Path, out: str | Path, stage: str | None = None) -> Path:
    """The web export of ``workdir``'s best checkpoint in ``out``: reused when it was made from
    the same checkpoint (path, stage and step) and its files have their recorded SHA-256,
    written otherwise. Returns ``out``."""
    out = Path(out)
    model = trained.load(workdir, stage, dtype="float32")
    wanted = {"path": str(workdir), "stage": model.stage, "step": model.step}
    settings_file = out / WEB_FILE
    if settings_file.is_file():
        try:
            settings = json.loads(settings_file.read_text("utf-8"))
        except json.JSONDecodeError:
            settings = {}
        current = settings.get("format_version") == WEB_FORMAT_VERSION
        if current and settings.get("source") == wanted and intact(out, settings):
            return out
    settings_file.unlink(missing_ok=True)  # a half-made export is never taken for a whole one
    export_web(model, out, source=str(workdir))
    return out
