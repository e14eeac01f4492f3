"""Local folders and cloud storage (``gs://``, ``s3://`` ...): the one place that tells them
apart. Files on cloud storage go through ``etils.epath``; local files keep the operating
system's calls (locks, atomic renames), which object stores do not have."""

from __future__ import annotations

import os
from pathlib import Path


def is_remote(path: str | os.PathLike) -> bool:
    """True for a URI with a scheme (``gs://bucket/x``), False for a local path."""
    return "://" in os.fspath(path)


def path(location: str | os.PathLike):
    """``location`` as a path object with pathlib's methods: ``pathlib.Path`` for a local
    path, ``etils.epath.Path`` (imported only then) for cloud storage."""
    if is_remote(location):
        from etils import epath

        return epath.Path(location)
    return Path(location)


def absolute_path(location: str | os.PathLike):
    """``path(location)``, made absolute where it is local (a cloud URI already is)."""
    found = path(location)
    return found if is_remote(location) else found.absolute()


def move_folder(source, destination) -> None:
    """Moves the folder ``source`` (a path from ``path``) to ``destination``, which must not
    exist. Locally a rename; object stores have neither folders nor renames, so there each
    object is copied, then the source objects are deleted (an interrupted move leaves a
    complete source, or a complete copy beside what is left of it)."""
    if not is_remote(source):
        source.rename(destination)
        return
    if destination.exists():
        raise FileExistsError(f"cannot move {source} to {destination}: it exists")
    for file in _files_under(source):
        target = destination / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        file.copy(target)
    source.rmtree()


def _files_under(folder):
    """Every file below ``folder``, one listing per folder (no recursive glob on GCS)."""
    for entry in folder.iterdir():
        if entry.is_dir():
            yield from _files_under(entry)
        else:
            yield entry
