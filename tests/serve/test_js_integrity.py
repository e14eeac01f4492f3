"""The page's check of each file it fetches (``integrity.js``), in Node, on the SHA-256 that
``export/web.py`` records in ``whispersign_web.json``: the files as written pass; a changed
byte or a file the settings do not record is refused, naming the file and both digests
(``pytest -k export_integrity``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from types import SimpleNamespace

from whispersign_jax.decoding.options import DecodeOptions
from whispersign_jax.export.bundle import ExportBundle
from whispersign_jax.export.web import FEATURES_FILE, web_settings
from whispersign_jax.vocab import Vocabulary

from .js_node import GLOSSES, node, run_js, values  # noqa: F401  (node: the Node.js fixture)


def fake_web_export(folder: Path) -> dict:
    """Three files of random bytes named as a web export's, and the settings web.py writes
    for them."""
    bundle = ExportBundle(
        format="onnx", dtype="float32", label_map=Vocabulary(GLOSSES).label_map(),
        preprocessing={"normalize_hands": False, "mean": None, "std": None}, joint_set="hands",
        num_joints=42, patch_size=4, max_frames=6000, window_frames=180, beam_size=8,
        scorer_lengths=[15], source={"path": "fake", "stage": "stage2", "step": 1},
    )  # fmt: skip
    for name in (FEATURES_FILE, bundle.encoder_file, bundle.scorer_file):
        (folder / name).write_bytes(os.urandom(70_000))
    model = SimpleNamespace(vocabulary=Vocabulary(GLOSSES))
    return web_settings(model, bundle, DecodeOptions(), folder)


def check(file: str, data: bytes, settings: dict) -> dict:
    return {"op": "verifiedBytes", "file": file, "settings": settings, "hex": data.hex()}


def test_export_integrity_page_accepts_the_files_web_py_records(tmp_path):
    settings = fake_web_export(tmp_path)
    files = list(settings["files"].values())
    assert sorted(settings["sha256"]) == sorted(files)
    for name in files:
        assert (
            settings["sha256"][name] == hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        )
    calls = [check(name, (tmp_path / name).read_bytes(), settings) for name in files]
    calls.append(check("empty", b"", {"sha256": {"empty": hashlib.sha256(b"").hexdigest()}}))
    assert values(run_js(calls)) == [70_000, 70_000, 70_000, 0]


def test_export_integrity_page_refuses_a_changed_or_unrecorded_file(tmp_path):
    settings = fake_web_export(tmp_path)
    encoder = settings["files"]["encoder"]
    changed = bytearray((tmp_path / encoder).read_bytes())
    changed[len(changed) // 2] ^= 1  # one bit
    changed_digest = hashlib.sha256(changed).hexdigest()
    refused, unrecorded = run_js(
        [check(encoder, bytes(changed), settings), check("other.onnx", b"x", settings)]
    )
    assert refused["error"] == (
        f"{encoder}: its SHA-256 is {changed_digest}, whispersign_web.json records "
        f"{settings['sha256'][encoder]}: the file was damaged or changed after the export; "
        "restart whispersign-serve, which exports the model again"
    )
    assert unrecorded["error"].startswith("other.onnx: whispersign_web.json records no SHA-256")
