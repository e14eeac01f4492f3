"""Model folders to share (``whispersign_jax/runs/model_folder.py``): a trained workdir becomes a
self-contained folder (safetensors, settings, model card) that loads back exactly, from disk
or by Hugging Face hub id through huggingface_hub's own cache (``pytest -k model_folder``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import save_as_workdir
from flax import traverse_util
from safetensors.numpy import load_file, save_file

from whispersign_jax.inference.recognizer import Recognizer
from whispersign_jax.runs import model_folder, trained

REPO_ID = "whispersign-tests/tiny-signs"
COMMIT = "89abcdef0123456789abcdef0123456789abcdef"
TEST_REPORT = {"stage": "stage2", "step": 200, "decoder": "attention_rescoring",
               "accuracy": 0.75, "wer": 0.125, "samples": 12}  # fmt: skip


@pytest.fixture(scope="module")
def shared(tiny_trained_model, tmp_path_factory):
    """(tiny model, its clips, its training workdir, the model folder made from it)."""
    run, clips = tiny_trained_model
    root = tmp_path_factory.mktemp("model_folder")
    workdir = save_as_workdir(run, root / "run")
    report = workdir / "eval" / "test-attention_rescoring" / "metrics.json"
    report.parent.mkdir(parents=True)
    report.write_text(json.dumps(TEST_REPORT))
    model = trained.load(workdir, dtype="float32")
    folder = model_folder.write_trained(model, workdir, root / "models" / "tiny-signs")
    return run, clips, workdir, folder


def flat(variables) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(variables, sep="/").items()}


def test_model_folder_holds_the_files_and_loads_back_exactly(shared):
    _, _, workdir, folder = shared
    assert sorted(p.name for p in folder.iterdir()) == sorted(model_folder.FILES)
    original, loaded = trained.load(workdir), trained.load(folder)
    expected, got = flat(original.variables), flat(loaded.variables)
    assert sorted(got) == sorted(expected)
    assert all(np.array_equal(got[key], expected[key]) for key in expected)
    assert loaded.model.config == original.model.config
    assert loaded.vocabulary.label_map() == original.vocabulary.label_map()
    assert loaded.preprocessor == original.preprocessor
    assert (loaded.joint_set, loaded.stage, loaded.step) == ("hands", "stage2", 200)


def test_recognition_from_the_folder_equals_the_workdir(shared):
    _, clips, workdir, folder = shared
    clip = clips[0].keypoints
    from_workdir = Recognizer.load(workdir).recognize(clip)
    from_folder = Recognizer.load(folder).recognize(clip)
    assert from_folder.to_dict() == from_workdir.to_dict()


def test_model_card_reports_data_metrics_use_and_limits(shared):
    run, _, _, folder = shared
    card = (folder / model_folder.CARD_FILE).read_text()
    assert card.startswith("---\nlibrary_name: whispersign-jax\n")
    assert "# tiny-signs" in card
    assert ", ".join(run.vocabulary.glosses) in card
    assert "| accuracy | 0.75 |" in card and "| wer | 0.125 |" in card  # the test report
    assert "| wer | 0.1 |" in card  # validation, from the checkpoint's metadata
    for section in ("## Use", "## Training data", "## Metrics", "## Intended use and limits"):
        assert section in card
    settings = json.loads((folder / model_folder.SETTINGS_FILE).read_text())
    assert settings["training"]["test_metrics"]["accuracy"] == 0.75


def damaged_copy(folder, tmp_path, name):
    copy = tmp_path / name
    shutil.copytree(folder, copy)
    return copy


def test_damaged_or_foreign_folders_are_refused_naming_the_file(shared, tmp_path):
    folder = shared[3]
    cut = damaged_copy(folder, tmp_path, "cut")
    weights = cut / model_folder.WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(ValueError, match=f"{weights}: unreadable weights"):
        trained.load(cut)

    reshaped = damaged_copy(folder, tmp_path, "reshaped")
    arrays = load_file(str(reshaped / model_folder.WEIGHTS_FILE))
    key = next(k for k in sorted(arrays) if arrays[k].ndim == 2)
    arrays[key] = arrays[key].T.copy()
    save_file(arrays, str(reshaped / model_folder.WEIGHTS_FILE))
    with pytest.raises(ValueError, match=f"{key} has shape"):
        trained.load(reshaped)

    newer = damaged_copy(folder, tmp_path, "newer")
    settings = json.loads((newer / model_folder.SETTINGS_FILE).read_text())
    (newer / model_folder.SETTINGS_FILE).write_text(json.dumps({**settings, "format_version": 9}))
    with pytest.raises(ValueError, match=r"newer than this version.*upgrade whispersign-jax"):
        trained.load(newer)
    with pytest.raises(ValueError, match="holds the stage2 model only"):
        trained.load(folder, stage="stage3")


def test_a_hub_id_missing_from_the_cache_offline_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="not in the Hugging Face cache and HF_HUB_OFF"):
        trained.load("whispersign-tests/never-uploaded")


def test_a_failed_upload_is_one_clear_error(shared, monkeypatch):
    import huggingface_hub

    def unreachable(*args, **kwargs):
        raise ConnectionError("[Errno 111] Connection refused")

    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", unreachable)
    with pytest.raises(OSError, match=r"Uploading .* as .me/tiny. failed .*hf auth login"):
        model_folder.push(shared[3], "me/tiny")


def test_export_command_then_recognize_by_hub_id_from_the_cache(shared, tmp_path):
    """The real user's path: ``whispersign-export --format=model``, the folder in the Hugging
    Face cache as an upload then a download leave it, ``whispersign-recognize`` by hub id with
    the hub unreachable (no HF_HUB_OFFLINE): it prints what the workdir prints."""
    _, clips, workdir, _ = shared
    out = tmp_path / "exported"
    export = [sys.executable, "-m", "whispersign_jax.export", f"--workdir={workdir}",
              "--format=model", f"--out={out}"]  # fmt: skip
    result = subprocess.run(export, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"{out}: model folder of stage2 step 200" in result.stdout

    repo = tmp_path / "hf_home" / "hub" / f"models--{REPO_ID.replace('/', '--')}"
    shutil.copytree(out, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)
    clip_file = tmp_path / "clip.npy"
    np.save(clip_file, clips[0].keypoints)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    environment["HF_HOME"] = str(tmp_path / "hf_home")
    environment["HF_ENDPOINT"] = "http://127.0.0.1:9"  # nothing listens: the hub is unreachable
    recognize = [sys.executable, "-m", "whispersign_jax.recognize", f"--workdir={REPO_ID}",
                 f"--keypoints={clip_file}", "--json"]  # fmt: skip
    result = subprocess.run(recognize, capture_output=True, text=True, timeout=300,
                            env=environment)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    printed = json.loads(result.stdout.splitlines()[-1])
    expected = Recognizer.load(workdir).recognize(clips[0].keypoints).to_dict()
    assert printed["glosses"] == json.loads(json.dumps(expected["glosses"]))


def test_a_shared_folder_carries_no_folder_of_the_trainers_machine(tmp_path):
    config = {
        "compile_cache_dir": str(tmp_path / "xla"),
        "pretrained": "openai/whisper-base",  # a hub id stays
        "init_checkpoint": str(tmp_path / "runs" / "a" / "stage2"),
        "data": {"source": "processed", "dir": str(tmp_path / "data" / "vsl"), "tfds_dir": ""},
    }
    assert model_folder.without_local_paths(config) == {
        "pretrained": "openai/whisper-base",
        "init_checkpoint": "stage2",
        "data": {"source": "processed", "dir": "vsl", "tfds_dir": ""},
    }
    assert config["data"]["dir"] == str(tmp_path / "data" / "vsl")  # the run's own is kept
