"""Builds a side virtual environment with the legacy MediaPipe (`mp.solutions.hands`).

mediapipe 0.10.21, the last release with `mp.solutions`, needs numpy<2 and protobuf<5, so it
cannot live next to current JAX. This builds (once) a small venv for it; the extractor then
runs there with `PYTHONPATH` pointing at this project, since it imports no JAX. MediaPipe is
installed without its declared dependencies that hand tracking never imports (jax, jaxlib,
opencv-contrib-python, sentencepiece, sounddevice): about 400 MB instead of 1.1 GB, and
built about twice as fast.

    python scripts/legacy_env.py .venvs/mediapipe-legacy   # prints the environment's python

It only ever builds in a folder it made itself: the target must be missing, empty, or carry
its marker file, which is written before anything else (first as "building", then the
requirements once the build is complete), so that an interrupted build is recognised and
rebuilt. A rebuild deletes only what this script made there, the names in its manifest file
(the environment's bin, lib, ... and its own two files); anything a user added is left in
place and named on stderr. Tests and `scripts/benchmark.py` load this file by its path; the
library does not use it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

# What hand tracking in mediapipe 0.10.21 imports, pinned and installed with dependencies ...
LEGACY_DEPENDENCIES = (
    "opencv-python-headless==4.11.0.86",
    "numpy==1.26.4",
    "protobuf==4.25.9",
    "absl-py==2.5.1",
    "attrs==26.1.0",
    "flatbuffers==25.12.19",
    "matplotlib==3.11.2",
)
# ... then mediapipe itself, without its declared dependencies.
LEGACY_MEDIAPIPE = "mediapipe==0.10.21"
MARKER = "whispersign-requirements.txt"  # in every folder this script made
BUILDING = "building\n"  # the marker's first line until the build is complete
MANIFEST = "whispersign-created.txt"  # the names this script made in the folder, one a line
# What venv and pip put at the top of an environment: the manifest while a build runs, and
# what an environment of an older version of this script (without a manifest) is made of.
VENV_ENTRIES = ("bin", "lib", "lib64", "include", "share", "etc", "pyvenv.cfg")
VENV_ENTRIES += ("Scripts", "Lib", "Include")  # on Windows
OWN_FILES = (MARKER, MANIFEST)
DEFAULT_FOLDER = Path(".venvs/mediapipe-legacy")


class LegacyEnvError(RuntimeError):
    """The side environment could not be built; the message carries pip's output."""


class UnsafeTargetError(RuntimeError):
    """The target folder holds files this script did not create, so it is left alone."""


def env_python(folder: Path) -> Path:
    return folder / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements() -> str:
    """The marker's content for a complete environment."""
    return "\n".join([*LEGACY_DEPENDENCIES, LEGACY_MEDIAPIPE])


def check_target(folder: str | os.PathLike) -> bool:
    """True when `folder` may be (re)built: missing, empty, or made by this script (marker).

    Raises UnsafeTargetError for anything else, which is never deleted.
    """
    folder = Path(folder)
    if not folder.exists() and not folder.is_symlink():
        return True
    if not folder.is_dir():
        raise UnsafeTargetError(
            f"{folder} exists and is not a folder; give the side environment a new folder, "
            f"e.g. {DEFAULT_FOLDER}"
        )
    if (folder / MARKER).is_file() or not any(folder.iterdir()):
        return True
    raise UnsafeTargetError(
        f"{folder.resolve()} is not empty and was not made by scripts/legacy_env.py (it has no "
        f"{MARKER}); nothing was deleted. Give a new or empty folder, e.g. {DEFAULT_FOLDER}, "
        "or delete this one yourself if it is an old side environment."
    )


def ensure_legacy_env(folder: str | os.PathLike, timeout_s: float = 900.0) -> Path:
    """Returns the python of a ready side environment at `folder`, building it when needed.

    An environment is reused when it was built with the same requirements; one of ours that
    is stale or incomplete is rebuilt; any other non-empty folder is refused (see
    `check_target`). A file lock next to `folder` keeps concurrent callers from building it
    twice.
    """
    folder = Path(folder).resolve()
    check_target(folder)  # before the lock file is made next to it
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(folder.with_name(folder.name + ".lock")):
        marker = folder / MARKER
        ready = marker.is_file() and marker.read_text() == requirements()
        if ready and env_python(folder).exists():
            return env_python(folder)
        check_target(folder)  # again: another process may have changed it meanwhile
        if marker.is_file():
            remove_own(folder)  # ours: stale or incomplete; the marker stays until rebuilt
        existed = folder.is_dir()
        folder.mkdir(exist_ok=True)
        kept = {entry.name for entry in folder.iterdir()} - set(OWN_FILES)  # a user's files
        marker.write_text(BUILDING + requirements())  # an interrupted build keeps this
        write_manifest(folder, set(VENV_ENTRIES) - kept)
        try:
            _build(folder, timeout_s)
        except Exception:
            made = {entry.name for entry in folder.iterdir()} - kept
            remove_names(folder, made - (set(OWN_FILES) if kept else set()))
            if not existed and not any(folder.iterdir()):
                folder.rmdir()
            raise
        write_manifest(folder, {entry.name for entry in folder.iterdir()} - kept)
        marker.write_text(requirements())
        return env_python(folder)


def write_manifest(folder: Path, names: set[str]) -> None:
    """Records ``names`` (and this script's own two files) as made by this script."""
    (folder / MANIFEST).write_text("\n".join(sorted(set(names) | set(OWN_FILES))) + "\n")


def remove_names(folder: Path, names) -> None:
    """Deletes ``folder/name`` for each plain name in ``names`` that exists (a link itself,
    never what it points to)."""
    for name in names:
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            continue  # a manifest entry that is not a name in this folder
        path = folder / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()


def remove_own(folder: Path) -> list[str]:
    """Deletes what this script made in ``folder`` (the names in its manifest; without one,
    an older version's environment: ``VENV_ENTRIES``) except its marker; anything else is
    left in place and named on stderr. Returns the names left."""
    manifest = folder / MANIFEST
    names = manifest.read_text().splitlines() if manifest.is_file() else VENV_ENTRIES
    remove_names(folder, set(names) - set(OWN_FILES))
    left = sorted(entry.name for entry in folder.iterdir() if entry.name not in OWN_FILES)
    if left:
        print(
            f"{folder}: rebuilding the side environment; left in place what "
            f"scripts/legacy_env.py did not make: {', '.join(left)}",
            file=sys.stderr,
        )
    return left


def _build(folder: Path, timeout_s: float) -> None:
    """Creates the venv in `folder` (which holds only the marker) and installs MediaPipe."""
    venv.EnvBuilder(with_pip=True).create(folder)
    _pip_install(folder, LEGACY_DEPENDENCIES, timeout_s)
    _pip_install(folder, ("--no-deps", LEGACY_MEDIAPIPE), timeout_s)


def _pip_install(folder: Path, arguments: tuple[str, ...], timeout_s: float) -> None:
    command = [str(env_python(folder)), "-m", "pip", "install", "-q"]
    command += ["--disable-pip-version-check", *arguments]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired as error:
        raise LegacyEnvError(f"pip install took over {timeout_s:.0f} s") from error
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip().splitlines()
        raise LegacyEnvError(f"pip install {' '.join(arguments)} failed: {output[-5:]}")


def assemble_tasks_model(python: str | os.PathLike, destination: str | os.PathLike) -> Path:
    """Writes a hand_landmarker.task bundled from the hand models inside the mediapipe wheel
    of `python`, for running the Tasks backend where Google's file cannot be downloaded.

    It is the same two-model bundle (hand_detector.tflite, hand_landmarks_detector.tflite),
    but not the checksummed official file.
    """
    code = "import mediapipe, os; print(os.path.dirname(mediapipe.__file__))"
    result = subprocess.run([str(python), "-c", code], capture_output=True, text=True)
    if result.returncode != 0:
        raise LegacyEnvError(f"{python} cannot import mediapipe: {result.stderr[-500:]}")
    modules = Path(result.stdout.strip().splitlines()[-1]) / "modules"
    destination = Path(destination)
    with zipfile.ZipFile(destination, "w") as bundle:
        bundle.write(modules / "palm_detection/palm_detection_full.tflite", "hand_detector.tflite")
        bundle.write(
            modules / "hand_landmark/hand_landmark_full.tflite", "hand_landmarks_detector.tflite"
        )
    return destination


@contextlib.contextmanager
def _file_lock(path: Path):
    """An exclusive lock on `path` (POSIX flock; no locking where fcntl is missing); a symbolic
    link there is refused (UnsafeTargetError)."""
    try:
        import fcntl
    except ImportError:  # Windows: callers are not expected to build concurrently there
        yield
        return
    try:  # never through a link, never truncated: a file elsewhere stays as it is
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as error:
        if error.errno != errno.ELOOP:
            raise
        raise UnsafeTargetError(
            f"{path} is a symbolic link (to {os.readlink(path)}); the side environment's lock "
            "must be a plain file. Remove the link (the file it points to is left as it is) "
            "and rerun."
        ) from None
    with os.fdopen(descriptor, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def main(argv: list[str]) -> int:
    target = Path(argv[1]) if len(argv) > 1 else DEFAULT_FOLDER
    try:
        print(ensure_legacy_env(target))
    except (UnsafeTargetError, LegacyEnvError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
