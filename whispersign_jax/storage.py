"""Local folders and cloud storage (``gs://``, ``s3://`` ...): the one place that tells them
apart. Files on cloud storage go through ``etils.epath``; local files keep the operating
system's calls (locks, atomic renames), which object stores do not have."""

from __future__ import annotations

import os


def is_remote(path: str | os.PathLike) -> bool:
    """True for a URI with a scheme (``gs://bucket/x``), False for a local path."""
    return "://" in os.fspath(path)
