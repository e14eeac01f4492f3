"""What the Node parity tests share: the Node.js fixture, the harness (``js_harness.mjs``)
that runs the page's JavaScript on JSON inputs, and the page settings they read."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from conftest import load_script

from whispersign_jax.decoding.options import (
    DecodeOptions,
    length_buckets,
)
from whispersign_jax.export.web import page_constants

HARNESS = Path(__file__).with_name("js_harness.mjs")


@pytest.fixture(scope="module", autouse=True)
def node() -> str:
    """Node.js, installed with apt-get where it is missing and the tests run as root."""
    if shutil.which("node") is None:
        reason = load_script("browser_support").ensure_tools()
        if reason:
            pytest.skip(reason)
    return shutil.which("node")


NUM_GLOSSES = 40
GLOSSES = tuple(f"SIGN{i}" for i in range(1, NUM_GLOSSES + 1))
WINDOW_FRAMES = 180  # the page's 3 s window
PATCH_SIZE = 4
SCORE_TOLERANCE = 1e-5  # float32 exp, log1p: NumPy (glibc) and V8 may round a last bit apart


def page_settings(**overrides) -> dict:
    """whispersign_web.json's fields the ports read: the page's constants (export.web) and
    a 40-gloss model on the 3 s window."""
    options = DecodeOptions()
    settings = {
        **page_constants(options),
        "window_frames": WINDOW_FRAMES,
        "patch_size": PATCH_SIZE,
        "max_frames": WINDOW_FRAMES,
        "scorer_beam": options.beam_size,
        "scorer_lengths": length_buckets(15),
        "glosses": list(GLOSSES),
    }
    return {**settings, **overrides}


def _plain(value):
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"{type(value)} is not JSON")


def run_js(calls: list[dict]) -> list:
    """Each call's result in Node: its ``value``, or the ``error`` message it threw."""
    request = json.dumps({"calls": calls}, default=_plain)
    done = subprocess.run(
        ["node", str(HARNESS)], input=request, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"node {HARNESS.name} failed:\n{done.stderr}"
    results = json.loads(done.stdout)
    assert len(results) == len(calls)
    return results


def values(results: list) -> list:
    """The results' values; fails on the first error."""
    for result in results:
        assert "error" not in result, result["error"]
    return [result["value"] for result in results]


# ---------------------------------------------------------------- the fake attention decoder
