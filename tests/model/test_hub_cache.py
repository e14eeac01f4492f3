"""Whisper weights by hub id through huggingface_hub's own cache resolution (``pytest -k
hub_cache``): a cache laid out the way huggingface_hub writes one
(``models--org--name/{refs/main, snapshots/<commit>/...}``) under ``HF_HOME``, read in a
fresh interpreter (huggingface_hub reads its variables at import) with the hub unreachable,
with and without ``HF_HUB_OFFLINE``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from test_pretrained import NUM_GLOSSES, TINY_SIZES, tiny_whisper_config

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

REPO_ID = "whispersign-tests/whisper-tiny"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
LOAD = """
import json, sys
import jax
from whispersign_jax.model import WhisperSign, init_variables
from whispersign_jax.model.pretrained import (
    load_whisper_weights, resolve_checkpoint, whisper_model_config,
)
config = whisper_model_config(sys.argv[1], int(sys.argv[2]))
params = init_variables(WhisperSign(config), jax.random.key(0))["params"]
_, report = load_whisper_weights(params, config, sys.argv[1])
print(json.dumps({"path": str(resolve_checkpoint(sys.argv[1])), "d_model": config.d_model,
                  "loaded": report.loaded_parameters}))
"""


@pytest.fixture(scope="module")
def hf_home(tmp_path_factory):
    """An HF_HOME whose hub cache holds a tiny Whisper as REPO_ID at main = COMMIT."""
    home = tmp_path_factory.mktemp("hf_home")
    repo = home / "hub" / f"models--{REPO_ID.replace('/', '--')}"
    torch.manual_seed(0)
    transformers.WhisperModel(tiny_whisper_config()).save_pretrained(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    return home


def load_by_id(hf_home, repo_id: str, offline: bool):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environment["HF_HOME"] = str(hf_home)
    environment["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: the hub is unreachable
    if offline:
        environment["HF_HUB_OFFLINE"] = "1"
    return subprocess.run(
        [sys.executable, "-c", LOAD, repo_id, str(NUM_GLOSSES)],
        env=environment,
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("offline", [False, True], ids=["hub_unreachable", "HF_HUB_OFFLINE"])
def test_hub_cache_id_loads_the_cached_snapshot(hf_home, offline):
    result = load_by_id(hf_home, REPO_ID, offline)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.splitlines()[-1])
    snapshot = hf_home / "hub" / f"models--{REPO_ID.replace('/', '--')}" / "snapshots" / COMMIT
    assert loaded["path"] == str(snapshot)
    assert loaded["d_model"] == TINY_SIZES["d_model"] and loaded["loaded"] > 0


@pytest.mark.parametrize(
    ("offline", "reason"),
    [(False, "the Hugging Face Hub is unreachable"), (True, "HF_HUB_OFFLINE is set")],
)
def test_hub_cache_miss_is_one_clear_error(hf_home, offline, reason):
    result = load_by_id(hf_home, "whispersign-tests/not-cached", offline)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert "FileNotFoundError: Whisper checkpoint 'whispersign-tests/not-cached'" in last
    assert f"and {reason}. Download it once while online" in last
