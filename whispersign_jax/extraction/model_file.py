"""The MediaPipe Tasks hand landmarker model file: where it is cached, download and checksum."""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from whispersign_jax.extraction.errors import ExtractionError

MODEL_URL = (
    "https://storage.googleapis.com/mediapipe-models/hand_landmarker/hand_landmarker/"
    "float16/1/hand_landmarker.task"
)
MODEL_SHA256 = "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1"
MODEL_FILENAME = "hand_landmarker.task"
CACHE_ENV = "WHISPERSIGN_CACHE"


def cache_dir() -> Path:
    """$WHISPERSIGN_CACHE, else ~/.cache/whispersign_jax."""
    folder = os.environ.get(CACHE_ENV)
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "whispersign_jax"


def default_model_path() -> Path:
    return cache_dir() / MODEL_FILENAME


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def available_model(model_path: str | os.PathLike | None = None) -> Path | None:
    """The model file to use without downloading: `model_path` if given, else the cached one."""
    path = Path(model_path).expanduser() if model_path else default_model_path()
    return path if path.is_file() else None


def ensure_model(
    model_path: str | os.PathLike | None = None,
    *,
    url: str | None = None,
    sha256: str = MODEL_SHA256,
    timeout_s: float = 60.0,
) -> Path:
    """Returns a usable model file, downloading it into the cache when it is not there yet.

    An explicit `model_path` must exist (any hand landmarker version is accepted). The cached
    file must match `sha256`; a download (from `url`, default MODEL_URL) is checked before it
    replaces anything. Offline, the error says where to get the file and where to put it.
    """
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ExtractionError(
                f"--model_path {path}: no such file. {_where_to_get_it(default_model_path())}"
            )
        return path
    path = default_model_path()
    if not path.is_file():
        _download(url or MODEL_URL, path, sha256, timeout_s)
    actual = sha256_of(path)
    if actual != sha256:
        raise ExtractionError(
            f"{path}: SHA-256 {actual} does not match the expected {sha256}; the file is "
            "damaged or a different version. Delete it to download it again, or pass your "
            "own file with --model_path."
        )
    return path


def _download(url: str, destination: Path, sha256: str, timeout_s: float) -> None:
    """Downloads `url` next to `destination`, checks its checksum, then moves it in place."""
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=destination.parent, delete=False) as partial:
            partial_path = Path(partial.name)
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                for block in iter(lambda: response.read(1 << 20), b""):
                    partial.write(block)
    except (urllib.error.URLError, OSError, ValueError) as error:
        if "partial_path" in locals():
            partial_path.unlink(missing_ok=True)
        raise ExtractionError(
            f"The hand landmarker model is not at {destination} and downloading it from "
            f"{url} failed ({error}). {_where_to_get_it(destination)}"
        ) from error
    actual = sha256_of(partial_path)
    if actual != sha256:
        partial_path.unlink()
        raise ExtractionError(
            f"Downloaded {url} but its SHA-256 is {actual}, not the expected {sha256}; "
            f"nothing was saved. {_where_to_get_it(destination)}"
        )
    os.replace(partial_path, destination)


def _where_to_get_it(destination: Path) -> str:
    return (
        f"Download {MODEL_URL} (SHA-256 {MODEL_SHA256}) on a machine with internet access "
        f"and put it at {destination} (or in the folder named by ${CACHE_ENV}), or pass "
        "--model_path FILE."
    )
