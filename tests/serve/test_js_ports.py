"""The page's JavaScript ports, one file per Python module: each names its twin in its header,
is named after it and is run against it by js_harness.mjs (test_js_parity.py); and the page's
own imports all resolve to files the server serves."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from whispersign_jax.serve.server import STATIC_DIR

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).with_name("js_harness.mjs")
# Each port -> its Python twin (under whispersign_jax/).
PORTS = {
    "numpy_decoders.js": "decoding/numpy_decoders.py",
    "options.js": "decoding/options.py",
    "result.js": "decoding/result.py",
    "runtime.js": "export/runtime.py",
    "tracks.js": "extraction/tracks.py",
    "slots.js": "extraction/slots.py",
    "streaming.js": "inference/streaming.py",
}
SCRIPTS = sorted(STATIC_DIR.glob("*.js"))


def header(script: Path) -> str:
    """The leading // comment of a script, as one line."""
    lines = []
    for line in script.read_text("utf-8").splitlines():
        if not line.startswith("//"):
            break
        lines.append(line.removeprefix("//").strip())
    return " ".join(lines)


def test_each_port_names_one_twin_after_which_it_is_named():
    twins = {}
    for script in SCRIPTS:
        named = re.findall(r"Mirrors (whispersign_jax/\S+?\.py)", header(script))
        if named:
            twins[script.name] = named
    assert twins == {name: [f"whispersign_jax/{path}"] for name, path in PORTS.items()}
    for name, path in PORTS.items():
        assert (REPO / "whispersign_jax" / path).is_file(), path
        assert Path(name).stem == Path(path).stem


def test_the_harness_runs_every_port():
    imported = set(
        re.findall(
            r'from "\.\./\.\./whispersign_jax/serve/static/(\w+\.js)"', HARNESS.read_text("utf-8")
        )
    )
    assert set(PORTS) <= imported


def test_the_page_imports_only_files_it_serves():
    """Relative imports of the page's modules and script tags of index.html name files of
    static/ (the server serves the whole folder)."""
    for script in SCRIPTS:
        for target in re.findall(r'from "\./([^"]+)"', script.read_text("utf-8")):
            assert (STATIC_DIR / target).is_file(), f"{script.name} imports {target}"
    tags = re.findall(r'<script[^>]* src="([^"]+)"', (STATIC_DIR / "index.html").read_text())
    assert tags and all((STATIC_DIR / tag).is_file() for tag in tags)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_scripts_parse(script):
    done = subprocess.run(["node", "--check", str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
