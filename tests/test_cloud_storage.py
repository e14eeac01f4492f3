"""Folder moves on cloud storage (``gs://`` on a local emulator, ``tests/gcs_emulator.py``),
which has no folders and no rename: what moving a damaged checkpoint aside relies on."""

from __future__ import annotations

import logging

import numpy as np
import orbax.checkpoint as ocp
import pytest
from etils import epath
from gcs_emulator import gcs_emulator

from whispersign_jax import storage
from whispersign_jax.runs.checkpointing import NOTE, QUARANTINE, quarantine

FILES = {"a.txt": "first", "deeper/b.txt": "second", "deeper/still/c.txt": "third"}


def write_files(root) -> None:
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def read_files(root) -> dict[str, str]:
    return {str(f.relative_to(root)): f.read_text() for f in storage._files_under(root)}


def read_bytes(root) -> dict[str, bytes]:
    return {str(f.relative_to(root)): f.read_bytes() for f in storage._files_under(root)}


@pytest.mark.parametrize("where", ["local", "gs"])
def test_a_folder_moves_whole_and_never_onto_another(where, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with gcs_emulator(monkeypatch):
        root = storage.path("gs://bucket/x" if where == "gs" else tmp_path / "x")
        write_files(root / "one")
        storage.move_folder(root / "one", root / "two")
        assert read_files(root / "two") == FILES
        assert not (root / "one").exists()
        write_files(root / "three")
        with pytest.raises((FileExistsError, OSError)):
            storage.move_folder(root / "three", root / "two")
        assert read_files(root / "three") == FILES and read_files(root / "two") == FILES
    assert not (tmp_path / "gs:").exists()


def test_a_damaged_step_on_gcs_is_moved_to_the_quarantine(tmp_path, monkeypatch, caplog):
    local = ocp.CheckpointManager(tmp_path / "latest")
    for step in (3, 6):
        local.save(step, args=ocp.args.StandardSave({"w": np.full(4, step, np.float32)}))
    local.wait_until_finished()
    monkeypatch.chdir(tmp_path)
    with gcs_emulator(monkeypatch):
        remote = epath.Path("gs://bucket/run/latest")
        for file in storage._files_under(epath.Path(tmp_path / "latest")):
            target = remote / str(file.relative_to(tmp_path / "latest"))
            target.write_bytes(file.read_bytes())  # uploaded, as a run on gs:// leaves it
        manager = ocp.CheckpointManager(remote)
        assert manager.all_steps() == [3, 6]
        with caplog.at_level(logging.WARNING):
            quarantine(manager, {6: "step 6 is damaged"}, "The run went on from step 3.")
        assert manager.all_steps() == [3]
        (moved,) = (remote / QUARANTINE).iterdir()
        assert moved.name.startswith("6-")
        assert "step 6 is damaged" in (moved / NOTE).read_text()
        saved = read_bytes(epath.Path(tmp_path / "latest" / "6"))
        assert read_bytes(moved / "6") == saved and len(saved) > 3
        assert not (remote / "6").exists()
        assert f"Moved step 6 of {remote}" in caplog.text
    assert not (tmp_path / "gs:").exists()
