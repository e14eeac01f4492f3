"""MediaPipe Tasks model files (hand, pose and face landmarkers): where they are cached,
download and checksum."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

from whispersign_jax.extraction.errors import ExtractionError

CACHE_ENV = "WHISPERSIGN_CACHE"


@dataclasses.dataclass(frozen=True)
class ModelFile:
    """One published `.task` bundle: its cache file name, download address, SHA-256 and the
    command-line flag that passes one's own copy."""

    filename: str
    url: str
    sha256: str
    flag: str
    description: str


_STORAGE = "https://storage.googleapis.com/mediapipe-models"
# Version 1 of each bundle; the checksums were published by several projects that pin them.
HAND_MODEL = ModelFile(
    "hand_landmarker.task",
    f"{_STORAGE}/hand_landmarker/hand_landmarker/float16/1/hand_landmarker.task",
    "fbc2a30080c3c557093b5ddfc334698132eb341044ccee322ccf8bcf3607cde1",
    "--hand_model",
    "hand landmarker",
)
POSE_MODEL = ModelFile(
    "pose_landmarker_full.task",
    f"{_STORAGE}/pose_landmarker/pose_landmarker_full/float16/1/pose_landmarker_full.task",
    "5134a3aad27a58b93da0088d431f366da362b44e3ccfbe3462b3827a839011b1",
    "--pose_model",
    "pose landmarker",
)
FACE_MODEL = ModelFile(
    "face_landmarker.task",
    f"{_STORAGE}/face_landmarker/face_landmarker/float16/1/face_landmarker.task",
    "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    "--face_model",
    "face landmarker",
)
MODELS = (HAND_MODEL, POSE_MODEL, FACE_MODEL)


def cache_dir() -> Path:
    """$WHISPERSIGN_CACHE, else ~/.cache/whispersign_jax."""
    folder = os.environ.get(CACHE_ENV)
    return Path(folder).expanduser() if folder else Path.home() / ".cache" / "whispersign_jax"


def default_model_path(model: ModelFile | None = None) -> Path:
    """Where the cache keeps `model` (default: the hand landmarker)."""
    return cache_dir() / (model or HAND_MODEL).filename


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def available_model(
    model_path: str | os.PathLike | None = None, model: ModelFile | None = None
) -> Path | None:
    """The model file to use without downloading: `model_path` if given, else the cached one."""
    path = Path(model_path).expanduser() if model_path else default_model_path(model)
    return path if path.is_file() else None


def ensure_model(
    model_path: str | os.PathLike | None = None,
    *,
    model: ModelFile | None = None,
    url: str | None = None,
    sha256: str | None = None,
    timeout_s: float = 60.0,
) -> Path:
    """Returns a usable file of `model` (default: the hand landmarker), downloading it into the
    cache when it is not there yet.

    An explicit `model_path` must exist (any version of the model is accepted). The cached
    file must match `sha256` (default: the model's); a download (from `url`, default the
    model's) is checked before it replaces anything. Offline, the error says where to get the
    file and where to put it.
    """
    model = model or HAND_MODEL
    sha256 = sha256 or model.sha256
    if model_path:
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise ExtractionError(
                f"{model.flag} {path}: no such file. "
                f"{_where_to_get_it(model, default_model_path(model))}"
            )
        return path
    path = default_model_path(model)
    if not path.is_file():
        _download(model, url or model.url, path, sha256, timeout_s)
    actual = sha256_of(path)
    if actual != sha256:
        raise ExtractionError(
            f"{path}: SHA-256 {actual} does not match the expected {sha256}; the file is "
            "damaged or a different version. Delete it to download it again, or pass your "
            f"own file with {model.flag}."
        )
    return path


def _download(model: ModelFile, url: str, destination: Path, sha256: str, timeout_s: float) -> None:
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
            f"The {model.description} model is not at {destination} and downloading it from "
            f"{url} failed ({error}). {_where_to_get_it(model, destination)}"
        ) from error
    actual = sha256_of(partial_path)
    if actual != sha256:
        partial_path.unlink()
        raise ExtractionError(
            f"Downloaded {url} but its SHA-256 is {actual}, not the expected {sha256}; "
            f"nothing was saved. {_where_to_get_it(model, destination)}"
        )
    os.replace(partial_path, destination)


def _where_to_get_it(model: ModelFile, destination: Path) -> str:
    return (
        f"Download {model.url} (SHA-256 {model.sha256}) on a machine with internet access "
        f"and put it at {destination} (or in the folder named by ${CACHE_ENV}), or pass "
        f"{model.flag} FILE."
    )
