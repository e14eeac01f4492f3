"""scripts/legacy_env.py deletes only folders it made; the build itself is replaced by a fake
that writes a python file, so nothing is installed here (the real build runs in
tests/extraction/test_real_video.py)."""

import re

import pytest
from conftest import REPO, load_script

legacy_env = load_script("legacy_env")


@pytest.fixture
def fake_build(monkeypatch):
    """Replaces the venv + pip step; records the folders it was asked to build."""
    built = []

    def build(folder, timeout_s):
        assert (folder / legacy_env.MARKER).read_text().startswith(legacy_env.BUILDING)
        python = legacy_env.env_python(folder)
        python.parent.mkdir(parents=True)
        python.write_text("fake python")
        built.append(folder)

    monkeypatch.setattr(legacy_env, "_build", build)
    return built


def test_a_folder_with_a_user_file_is_refused_and_kept(tmp_path, fake_build):
    folder = tmp_path / "scratch"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(legacy_env.UnsafeTargetError, match=r"scratch is not empty .* nothing"):
        legacy_env.ensure_legacy_env(folder)
    assert (folder / "notes.txt").read_text() == "mine"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["scratch"]  # no lock file
    assert fake_build == []


def test_the_repository_root_is_refused(fake_build, monkeypatch):
    monkeypatch.chdir(REPO)
    with pytest.raises(legacy_env.UnsafeTargetError, match=re.escape(str(REPO))):
        legacy_env.ensure_legacy_env(".")
    assert (REPO / "pyproject.toml").is_file() and fake_build == []
    assert legacy_env.main(["legacy_env.py", "."]) == 1


def test_a_file_is_refused(tmp_path, fake_build):
    (tmp_path / "env").write_text("not a folder")
    with pytest.raises(legacy_env.UnsafeTargetError, match="is not a folder"):
        legacy_env.ensure_legacy_env(tmp_path / "env")
    assert (tmp_path / "env").read_text() == "not a folder"


@pytest.mark.parametrize("exists", [False, True])
def test_a_missing_or_empty_folder_is_built_then_reused(tmp_path, fake_build, exists):
    folder = tmp_path / "env"
    if exists:
        folder.mkdir()
    python = legacy_env.ensure_legacy_env(folder)
    assert python == legacy_env.env_python(folder) and python.read_text() == "fake python"
    assert (folder / legacy_env.MARKER).read_text() == legacy_env.requirements()
    assert legacy_env.ensure_legacy_env(folder) == python
    assert fake_build == [folder]  # built once


@pytest.mark.parametrize("marker", ["building\nopencv", "mediapipe==0.10.14"])
def test_its_own_incomplete_or_stale_folder_is_rebuilt(tmp_path, fake_build, marker):
    folder = tmp_path / "env"
    (folder / "lib").mkdir(parents=True)
    (folder / "lib" / "old.py").write_text("")
    (folder / legacy_env.MARKER).write_text(marker)
    legacy_env.ensure_legacy_env(folder)
    assert fake_build == [folder] and not (folder / "lib").exists()
    assert (folder / legacy_env.MARKER).read_text() == legacy_env.requirements()


def test_a_failed_build_leaves_the_empty_folder_as_it_was(tmp_path, monkeypatch):
    def build(folder, timeout_s):
        (folder / "bin").mkdir()
        raise legacy_env.LegacyEnvError("pip install failed")

    monkeypatch.setattr(legacy_env, "_build", build)
    folder = tmp_path / "env"
    folder.mkdir()
    with pytest.raises(legacy_env.LegacyEnvError):
        legacy_env.ensure_legacy_env(folder)
    assert folder.is_dir() and not any(folder.iterdir())


def test_symlink_lock_is_refused_and_its_target_kept(tmp_path, fake_build):
    """The lock next to the folder is never opened through a link, so the file a link there
    points to is neither truncated nor locked."""
    target = tmp_path / "outside" / "precious.txt"
    target.parent.mkdir()
    target.write_text("keep me")
    (tmp_path / "env.lock").symlink_to(target)
    with pytest.raises(legacy_env.UnsafeTargetError, match=r"env\.lock is a symbolic link \(to "):
        legacy_env.ensure_legacy_env(tmp_path / "env")
    assert target.read_text() == "keep me" and fake_build == []
    assert legacy_env.main(["legacy_env.py", str(tmp_path / "env")]) == 1


def test_symlink_lock_rebuild_keeps_a_user_file(tmp_path, fake_build, capsys):
    """A rebuild (the requirements changed) deletes what the build made and leaves a file the
    user put in the environment's folder, saying so."""
    folder = tmp_path / "env"
    legacy_env.ensure_legacy_env(folder)
    made = sorted(path.name for path in folder.iterdir())
    assert (folder / legacy_env.MANIFEST).read_text().split() == made
    (folder / "notes.txt").write_text("mine")
    (folder / "bin" / "old-tool").write_text("")  # inside what the build made: goes with it
    (folder / legacy_env.MARKER).write_text("mediapipe==0.10.14")  # stale
    legacy_env.ensure_legacy_env(folder)
    assert (folder / "notes.txt").read_text() == "mine"
    assert not (folder / "bin" / "old-tool").exists() and fake_build == [folder, folder]
    assert "left in place what scripts/legacy_env.py did not make: notes.txt" in (
        capsys.readouterr().err
    )
    assert (folder / legacy_env.MANIFEST).read_text().split() == made  # notes.txt not ours


def test_symlink_lock_failed_rebuild_keeps_a_user_file_and_the_marker(tmp_path, monkeypatch):
    def build(folder, timeout_s):
        (folder / "bin").mkdir()
        raise legacy_env.LegacyEnvError("pip install failed")

    folder = tmp_path / "env"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    (folder / "lib").mkdir()
    (folder / legacy_env.MARKER).write_text("building\nopencv")  # an older, interrupted build
    monkeypatch.setattr(legacy_env, "_build", build)
    with pytest.raises(legacy_env.LegacyEnvError):
        legacy_env.ensure_legacy_env(folder)
    left = sorted(path.name for path in folder.iterdir())
    assert left == ["notes.txt", legacy_env.MANIFEST, legacy_env.MARKER]  # rebuilt next time
    assert legacy_env.check_target(folder)
