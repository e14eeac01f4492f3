"""Exports are signed and validated (``pytest -k export_integrity``): the metadata records the
SHA-256 of every model file and the runtime compares it before opening the file; the metadata
passes ``export/schema.py`` and the shapes the model files declare; every refusal is one line
naming the file (and the field). Each test tampers with a copy of one ONNX export of the tiny
test model."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import save_as_workdir

from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.errors import ModelFileError
from whispersign_jax.export import convert, runtime, web
from whispersign_jax.export.bundle import METADATA_FILE, ExportBundle

WINDOW = 180  # frames of the ONNX export's fixed window


@pytest.fixture(scope="module")
def export(tmp_path_factory, tiny_trained_model) -> Path:
    """The tiny model's float32 ONNX export, made once; tests change copies of it."""
    folder = tmp_path_factory.mktemp("onnx")
    convert.export_trained(tiny_trained_model[0], folder, "onnx", "float32", source="tiny")
    return folder


@pytest.fixture
def copy(export, tmp_path) -> Path:
    return Path(shutil.copytree(export, tmp_path / "export"))


def overwrite_4kb(path: Path) -> None:
    """4 KB of random bytes over the middle of ``path``."""
    with path.open("r+b") as file:
        file.seek(path.stat().st_size // 2)
        file.write(os.urandom(4096))


def edit_metadata(folder: Path, **fields) -> Path:
    """``folder``'s metadata with ``fields`` replaced (``preprocessing__std``: a nested
    field); returns the metadata file."""
    path = folder / METADATA_FILE
    metadata = json.loads(path.read_text())
    for name, value in fields.items():
        *parents, key = name.split("__")
        target = metadata
        for parent in parents:
            target = target[parent]
        target[key] = value
    path.write_text(json.dumps(metadata))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_integrity_an_untouched_export_records_each_digest_and_recognises(
    export, tiny_trained_model
):
    _, clips = tiny_trained_model
    metadata = json.loads((export / METADATA_FILE).read_text())
    assert metadata["sha256"] == {
        name: sha256(export / name) for name in ("encoder.onnx", "scorer.onnx")
    }
    recognizer = runtime.ExportedRecognizer.load(export)  # attention rescoring: both files
    for clip in clips[:3]:
        assert recognizer.recognize(clip.keypoints[:WINDOW]).ids == clip.labels.tolist()


@pytest.mark.parametrize("name", ["encoder.onnx", "scorer.onnx"])
def test_export_integrity_overwritten_model_bytes_are_refused_naming_the_file(
    name, copy, tiny_trained_model
):
    recorded = sha256(copy / name)
    overwrite_4kb(copy / name)
    clip = tiny_trained_model[1][0].keypoints[:WINDOW]
    with pytest.raises(ModelFileError) as refused:
        runtime.ExportedRecognizer.load(copy).recognize(clip)  # the scorer opens on first use
    message = str(refused.value)
    assert message == (
        f"{copy / name}: cannot load this file: its SHA-256 is {sha256(copy / name)}, "
        f"{METADATA_FILE} records {recorded}; it was damaged or changed after the export: "
        "export the model again (python -m whispersign_jax.export)."
    )


def test_export_integrity_a_truncated_file_is_refused_in_one_line(copy, tmp_path):
    """By its digest through the command; with the digest made to match, by ONNX Runtime."""
    encoder = copy / "encoder.onnx"
    encoder.write_bytes(encoder.read_bytes()[: encoder.stat().st_size // 3])
    clip = tmp_path / "clip.npy"
    np.save(clip, np.zeros((WINDOW, 42, 7), np.float32))
    environment = {k: v for k, v in os.environ.items() if k != "WHISPERSIGN_TRACEBACK"}
    done = subprocess.run(
        [sys.executable, "-m", "whispersign_jax.export.run", f"--model={copy}",
         f"--keypoints={clip}"],
        capture_output=True, text=True, env=environment,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"error: {encoder}: cannot load this file: its SHA-256 is ")
    signed = json.loads((copy / METADATA_FILE).read_text())["sha256"]
    edit_metadata(copy, sha256={**signed, "encoder.onnx": sha256(encoder)})
    with pytest.raises(ModelFileError, match=r"encoder.onnx: ONNX Runtime cannot load this file"):
        runtime.ExportedModel(copy)


# fmt: off
METADATA_EDITS = [  # (fields changed, what the one-line refusal says after the file name)
    ({"patch_size": 0}, "patch_size is 0, expected a whole number >= 1"),
    ({"patch_size": 2}, "patch_size is 2, expected 4: encoder.onnx turns the 180-frame window "
                        "into 45 positions"),
    ({"preprocessing": None}, "preprocessing is null, expected an object"),
    ({"num_joints": 21}, "num_joints is 21, expected 42, the joints of joint set hands"),
    ({"label_map": {"<blank>": 0, "a": 1, "b": 2}},
     'label_map is {"<blank>": 0, "a": 1, "b": 2}, expected 5 entries (<blank> and 4 glosses): '
     "encoder.onnx scores 5 classes"),
    ({"max_frames": 0}, "max_frames is 0, expected a whole number >= 1"),
    ({"preprocessing__std": 0}, "preprocessing.std is 0, expected null or 6 finite numbers"),
    ({"preprocessing__mean": [0] * 6, "preprocessing__std": [1, 1, 0, 1, 1, 1]},
     "preprocessing.std is [1, 1, 0, 1, 1, 1], expected null or 6 finite numbers (x, y, z, vx, "
     "vy, vz) > 0"),
    ({"window_frames": 120}, "window_frames is 120, expected 180: encoder.onnx takes a window"),
    ({"beam_size": 4}, "beam_size is 4, expected 8: scorer.onnx scores 8 hypotheses"),
    ({"scorer_lengths": [4, 15]}, "scorer_lengths is [4, 15], expected scorer.onnx's hypothesis "
                                  "lengths: it takes 15 ids, not 4"),
    ({"sha256": {}}, "sha256 is {}, expected the SHA-256 of encoder.onnx and scorer.onnx"),
    ({"sha256": {"../secret": "0" * 64}}, "sha256 is [\"../secret\"], expected files of "
                                          "encoder.onnx and scorer.onnx only"),
    ({"format_version": 1}, "export format version 1, this runtime reads 2; export the model "
                            "again with this version"),
]
# fmt: on


@pytest.mark.parametrize(
    ("fields", "says"), METADATA_EDITS, ids=["-".join(e[0]) for e in METADATA_EDITS]
)
def test_export_integrity_metadata_edits_are_refused_naming_the_field(fields, says, copy):
    metadata = edit_metadata(copy, **fields)
    with pytest.raises(ValueError) as refused:
        runtime.ExportedModel(copy).scorer  # noqa: B018  (opens and checks the scorer)
    message = str(refused.value)
    assert message.startswith(f"{metadata}: {says}"), message
    assert "\n" not in message and message.endswith(".")


def test_export_integrity_metadata_is_strict_json(copy, export):
    bundle = ExportBundle.load(export)
    nan_mean = {"normalize_hands": False, "mean": [float("nan")] * 6, "std": [1.0] * 6}
    with pytest.raises(ValueError, match="Out of range float values are not JSON compliant"):
        dataclasses.replace(bundle, preprocessing=nan_mean).save(copy)
    path = copy / METADATA_FILE
    path.write_text(path.read_text().replace('"std": null', '"std": Infinity'))
    with pytest.raises(ValueError, match=r"not a valid export metadata.*Infinity is not a JSON"):
        ExportBundle.load(copy)


def test_export_integrity_web_settings_record_each_file_the_page_loads(copy):
    """``whispersign_web.json``'s ``sha256`` (the page checks them: tests/serve/
    test_js_integrity.py); a changed file makes ``ensure_web_export`` write the export again."""
    (copy / web.FEATURES_FILE).write_bytes(os.urandom(1000))
    model = SimpleNamespace(vocabulary=ExportBundle.load(copy).vocabulary)
    settings = web.web_settings(model, ExportBundle.load(copy), DecodeOptions(), copy)
    names = ("features.onnx", "encoder.onnx", "scorer.onnx")
    assert settings["sha256"] == {name: sha256(copy / name) for name in names}
    json.dumps(settings, allow_nan=False)
    assert web.intact(copy, settings)
    overwrite_4kb(copy / "scorer.onnx")
    assert not web.intact(copy, settings)


def test_export_integrity_the_export_command_refuses_a_damaged_checkpoint_in_one_line(
    tmp_path, tiny_trained_model
):
    damaged = save_as_workdir(tiny_trained_model[0], tmp_path / "run")
    weights = max((damaged / "stage2").rglob("*"), key=lambda p: p.stat().st_size)
    overwrite_4kb(weights)
    environment = {k: v for k, v in os.environ.items() if k != "WHISPERSIGN_TRACEBACK"}
    done = subprocess.run(
        [sys.executable, "-m", "whispersign_jax.export", f"--workdir={damaged}",
         "--format=onnx", f"--out={tmp_path / 'out'}"],
        capture_output=True, text=True, env=environment,
    )  # fmt: skip
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: No intact checkpoint in ") and "stage2" in last, last
    assert not (tmp_path / "out" / METADATA_FILE).exists()
