"""Hugging Face Hub ids: what looks like one, and a snapshot fetched once into the Hugging Face
cache (or found there: offline with ``HF_HUB_OFFLINE``, and offline without it when the cache
holds the files). Used for Whisper weights (``model/pretrained.py``) and shared WhisperSign
models (``model_folder.py``)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class HubError(FileNotFoundError):
    """A hub id that cannot be fetched; ``reason`` is "offline", "unreachable", "revision" or
    "not_found", so that callers can say what to do."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


def looks_like_hub_id(source: str | os.PathLike) -> bool:
    """``org/name`` or ``name`` that is not an existing path and has no path prefix."""
    text = str(source)
    if Path(text).expanduser().exists() or text.startswith(("/", ".", "~")):
        return False
    return text.count("/") <= 1 and bool(text.strip("/"))


def offline() -> bool:
    """HF_HUB_OFFLINE, read at call time (huggingface_hub reads it once, at import)."""
    from huggingface_hub import constants  # `constants` is not loaded by the package

    value = os.environ.get("HF_HUB_OFFLINE", "").upper() in {"1", "ON", "YES", "TRUE"}
    return value or constants.HF_HUB_OFFLINE


def snapshot(repo_id: str, revision: str = "", allow_patterns: Sequence[str] = ()) -> Path:
    """The local folder of ``repo_id`` at ``revision`` ("" = main), downloaded when missing."""
    import huggingface_hub
    from huggingface_hub import errors

    is_offline = offline()
    at = f" at revision {revision!r}" if revision else ""
    try:
        folder = huggingface_hub.snapshot_download(
            repo_id,
            revision=revision or None,
            allow_patterns=list(allow_patterns) or None,
            local_files_only=is_offline,
        )
    except errors.LocalEntryNotFoundError as err:
        reason = "offline" if is_offline else "unreachable"
        why = "HF_HUB_OFFLINE is set" if is_offline else "the Hugging Face Hub is unreachable"
        raise HubError(
            f"{repo_id!r}{at} is not in the Hugging Face cache and {why}", reason
        ) from err
    except errors.RevisionNotFoundError as err:
        raise HubError(
            f"{revision!r} is not a branch, tag or commit of {repo_id!r}", "revision"
        ) from err
    except (errors.HFValidationError, errors.RepositoryNotFoundError) as err:
        raise HubError(
            f"{repo_id!r} is not a Hugging Face hub id that exists", "not_found"
        ) from err
    return Path(folder)
