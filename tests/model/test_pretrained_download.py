"""Hub downloads of Whisper checkpoints with a fake ``huggingface_hub.snapshot_download``:
the revision is pinned and reported, and a download lands whole or not at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_fuzz_weights import NUM_GLOSSES, tiny_checkpoint  # noqa: F401 (a fixture)

from whispersign_jax.model import pretrained

huggingface_hub = pytest.importorskip("huggingface_hub")
REPO_ID = "whispersign-tests/whisper-tiny"


@pytest.fixture
def fake_hub(monkeypatch, tmp_path, tiny_checkpoint):  # noqa: F811
    """Replaces snapshot_download: writes the snapshot ``files`` says (name -> bytes, the
    tiny checkpoint's by default) and records each call's arguments."""
    config_bytes, weights, _, _ = tiny_checkpoint
    state = {"calls": [], "files": {"config.json": config_bytes, "model.safetensors": weights}}

    def snapshot_download(repo_id, revision=None, allow_patterns=None, local_files_only=False):
        state["calls"].append({"repo_id": repo_id, "revision": revision})
        snapshot = tmp_path / "hub" / repo_id.replace("/", "--") / (revision or "main")
        snapshot.mkdir(parents=True, exist_ok=True)
        for name, data in state["files"].items():
            (snapshot / name).write_bytes(data)
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return state


def test_the_revision_is_passed_and_reported(fake_hub, tiny_checkpoint):  # noqa: F811
    _, _, params, config = tiny_checkpoint
    assert pretrained.whisper_model_config(REPO_ID, NUM_GLOSSES, "v1.2").d_model == 16
    _, report = pretrained.load_whisper_weights(params, config, REPO_ID, revision="0123abc")
    assert [call["revision"] for call in fake_hub["calls"]] == ["v1.2", "0123abc"]
    assert report.revision == "0123abc" and "at revision 0123abc" in report.summary()
    _, report = pretrained.load_whisper_weights(params, config, REPO_ID)
    assert fake_hub["calls"][-1]["revision"] is None and report.revision == ""
    assert "at revision" not in report.summary()


@pytest.mark.parametrize("broken", ["weights missing", "weights cut", "shard missing"])
def test_an_incomplete_download_is_removed_and_refused(fake_hub, tmp_path, broken):
    files = fake_hub["files"]
    if broken == "weights missing":
        del files["model.safetensors"]
    elif broken == "weights cut":
        files["model.safetensors"] = files["model.safetensors"][:-100]
    else:  # a sharded checkpoint whose second shard never arrived
        weights = files.pop("model.safetensors")
        files["model-00001-of-00002.safetensors"] = weights
        weight_map = {"encoder.layer_norm.weight": "model-00001-of-00002.safetensors",
                      "encoder.layer_norm.bias": "model-00002-of-00002.safetensors"}  # fmt: skip
        files[pretrained.INDEX_FILE] = json.dumps({"weight_map": weight_map}).encode()
    snapshot = tmp_path / "hub" / REPO_ID.replace("/", "--") / "main"
    with pytest.raises(FileNotFoundError, match=rf"download of '{REPO_ID}' is incomplete"):
        pretrained.resolve_checkpoint(REPO_ID)
    assert not snapshot.exists()  # the next run downloads it again


def test_a_complete_download_is_kept(fake_hub, tmp_path):
    path = pretrained.resolve_checkpoint(REPO_ID, "v1")
    assert path == tmp_path / "hub" / REPO_ID.replace("/", "--") / "v1"
    assert sorted(p.name for p in Path(path).iterdir()) == ["config.json", "model.safetensors"]
