"""Resolves paths written inside CSV files, refusing any that point outside the data folder."""

from __future__ import annotations

import os
from pathlib import Path


class UnsafePathError(ValueError):
    """A path from a CSV points outside the data folder."""


def resolve_inside(
    root: str | Path, written: str, origin: str, base: str | Path | None = None
) -> Path:
    """`base / written` (base defaults to `root`), lexically normalised; refuses `..` or
    absolute paths that leave `root`.

    Windows separators are accepted. The check is lexical (symlinks inside the data folder
    are followed, as a dataset copy may use them), so a CSV cannot name files elsewhere.
    """
    root = Path(os.path.abspath(root))
    text = str(written).strip().replace("\\", "/")
    if not text:
        raise ValueError(f"{origin}: empty path")
    base = root if base is None else Path(os.path.abspath(base))
    candidate = Path(os.path.normpath(base / text))  # an absolute `text` replaces base here
    if candidate != root and root not in candidate.parents:
        raise UnsafePathError(
            f"{origin}: path {written!r} leaves the data folder {root}; paths in the CSV must "
            "be relative to it (no '..' out of it, no absolute paths elsewhere)"
        )
    return candidate


def is_inside(root: str | Path, path: str | Path) -> bool:
    """Whether `path` is `root` or lies under it (lexically, after normalisation)."""
    root = Path(os.path.abspath(root))
    path = Path(os.path.abspath(path))
    return path == root or root in path.parents
