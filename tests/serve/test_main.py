"""``python -m whispersign_jax.serve``: its checks before serving, and the whole path from a
workdir to a served export (the web export and the vendored libraries faked)."""

import http.client
import os
import subprocess
import sys
import threading
import types
from pathlib import Path

import pytest
from conftest import REPO, frameworks_imported_by

from whispersign_jax.extraction import model_file
from whispersign_jax.serve import assets
from whispersign_jax.serve.__main__ import start_server


def test_serving_imports_no_framework():
    modules = ("whispersign_jax.serve", "whispersign_jax.serve.__main__")
    assert frameworks_imported_by(*modules) == []


def test_missing_hand_model_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "hand_landmarker.task"
    env = {**os.environ, model_file.CACHE_ENV: str(tmp_path / "cache")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    command = [sys.executable, "-m", "whispersign_jax.serve", f"--workdir={tmp_path}"]
    result = subprocess.run(
        [*command, f"--hand_model={missing}"], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert f"error: --hand_model {missing}: no such file" in result.stderr
    assert model_file.HAND_MODEL.url in result.stderr  # where to get one
    assert not (tmp_path / "cache").exists()  # it stopped before downloading anything


def test_missing_workdir_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"--workdir .*nope: no such folder"):
        start_server(tmp_path / "nope", port=0)


def vendored_copy(folder: Path) -> Path:
    """A folder laid out like the cache, with a stand-in for each file the page loads."""
    for package in assets.PACKAGES:
        for name in package.files:
            path = folder / package.folder_name / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"stand-in for {package.name} {name}")
    return folder


def test_workdir_to_served_export(tmp_path, monkeypatch):
    workdir = tmp_path / "runs" / "demo"
    workdir.mkdir(parents=True)
    (tmp_path / "hand.task").write_bytes(b"hand")
    exports = []

    def ensure_web_export(workdir: Path, out: Path) -> Path:
        exports.append((workdir, out))
        out.mkdir(parents=True, exist_ok=True)
        (out / "encoder.onnx").write_bytes(b"onnx")
        return out

    fake = types.ModuleType("whispersign_jax.export.web")
    fake.ensure_web_export = ensure_web_export
    monkeypatch.setitem(sys.modules, "whispersign_jax.export.web", fake)
    vendored = vendored_copy(tmp_path / "assets")
    server = start_server(workdir, hand_model=tmp_path / "hand.task", assets=vendored, port=0)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        assert exports == [(workdir, workdir / "export" / "web")]
        assert server.url == f"http://127.0.0.1:{server.server_address[1]}/"
        connection = http.client.HTTPConnection(*server.server_address[:2], timeout=5)
        for path, body in [
            ("/model/encoder.onnx", b"onnx"),
            ("/model/hand_landmarker.task", b"hand"),
            (
                "/vendor/onnxruntime-web/dist/ort.wasm.min.mjs",
                b"stand-in for onnxruntime-web dist/ort.wasm.min.mjs",
            ),
        ]:
            connection.request("GET", path)
            response = connection.getresponse()  # one kept-alive connection: HTTP/1.1
            assert (response.status, response.read()) == (200, body)
        connection.close()
    finally:
        server.shutdown()
        server.server_close()
