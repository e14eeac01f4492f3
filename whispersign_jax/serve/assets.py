"""The web page's JavaScript libraries, vendored from npm into the cache so that no node or npm
is needed: MediaPipe's hand landmarker (``@mediapipe/tasks-vision``) and ``onnxruntime-web``.

Each pinned tarball is downloaded once, checked against its npm ``dist.integrity`` (SHA-512),
and only the files the page loads are kept, in the package's own layout, with its
``package.json`` and any licence file, under ``$WHISPERSIGN_CACHE/web/<key>-<version>/``.

Kept files, and why:

- tasks-vision: ``vision_bundle.mjs`` (the ES module) and ``wasm/vision_wasm_internal.{js,wasm}``,
  what ``FilesetResolver.forVisionTasks("/vendor/tasks-vision/wasm")`` loads in a browser with
  WebAssembly SIMD. The ``nosimd`` variant (12 MB) is left out: onnxruntime-web's only WASM
  build needs SIMD too, so a browser without it could not run the model anyway. The
  ``module`` variant is only loaded with ``forVisionTasks(path, true)``.
- onnxruntime-web: ``dist/ort.wasm.min.mjs`` (the WASM-only ES module) imports
  ``ort-wasm-simd-threaded.mjs`` beside itself, which loads ``ort-wasm-simd-threaded.wasm``
  and starts its threads' workers from its own URL. The ``bundle`` builds embed that loader;
  the jsep/jspi/asyncify builds are for WebGPU and WebNN.

Neither tarball ships a LICENSE file; ``package.json`` names the licence (Apache-2.0, MIT).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from whispersign_jax.extraction.model_file import CACHE_ENV, cache_dir

MARKER = ".whispersign_vendored.json"  # written last: the folder is complete
LICENCE_NAME = re.compile(r"(LICEN[CS]E|NOTICE|COPYING)[^/]*", re.IGNORECASE)


class AssetError(ValueError):
    """A vendored package cannot be had; the message says which URL or folder and what to do."""


@dataclasses.dataclass(frozen=True)
class NpmPackage:
    """One pinned npm package: its key (folder and URL name), the files the page needs (paths
    inside the tarball's ``package/``) and the tarball's npm integrity string."""

    key: str
    name: str
    version: str
    integrity: str
    files: tuple[str, ...]
    license: str

    @property
    def url(self) -> str:
        basename = self.name.split("/")[-1]  # @scope/name -> name
        return f"https://registry.npmjs.org/{self.name}/-/{basename}-{self.version}.tgz"

    @property
    def folder_name(self) -> str:
        return f"{self.key}-{self.version}"


TASKS_VISION = NpmPackage(
    key="tasks-vision",
    name="@mediapipe/tasks-vision",
    version="1.1.0",
    integrity="sha512-ZJqh0wMKOINorfSffvDAxzyO1//c+FiG3IkzOdNDnLqvBB3DbMfj0bB/tys2SNf9S914sgoIbIpF4HTOi336cg==",
    files=("vision_bundle.mjs", "wasm/vision_wasm_internal.js", "wasm/vision_wasm_internal.wasm"),
    license="Apache-2.0",
)
ONNXRUNTIME_WEB = NpmPackage(
    key="onnxruntime-web",
    name="onnxruntime-web",
    version="1.30.0",
    integrity="sha512-q0y+JrrtukXSzsBWEMccVfqX25LRmosXHF+CaRJmg8pZClzcV7svNc4rKY3jL02Vb7QmRMDs1SigqR4CXAfKYQ==",
    files=(
        "dist/ort.wasm.min.mjs",
        "dist/ort-wasm-simd-threaded.mjs",
        "dist/ort-wasm-simd-threaded.wasm",
    ),
    license="MIT",
)
PACKAGES = (TASKS_VISION, ONNXRUNTIME_WEB)


def default_folder() -> Path:
    """Where vendored packages are cached: ``$WHISPERSIGN_CACHE/web``."""
    return cache_dir() / "web"


def download(url: str, timeout_s: float = 120.0) -> bytes:
    """The body of `url` (a tarball of at most a few tens of MB)."""
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        return response.read()


def integrity_of(data: bytes) -> str:
    """npm's ``dist.integrity`` of a tarball: ``sha512-`` and the base64 digest."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def ensure_assets(
    cache: Path | None = None,
    *,
    fetch: Callable[[str], bytes] = download,
    packages: Sequence[NpmPackage] = PACKAGES,
) -> dict[str, Path]:
    """The vendored folder of each package (key -> folder) under `cache` (default
    ``$WHISPERSIGN_CACHE/web``), downloading and extracting those not complete there yet."""
    cache = Path(cache) if cache else default_folder()
    folders = {}
    for package in packages:
        folder = cache / package.folder_name
        if not (folder / MARKER).is_file():
            _vendor(package, folder, fetch)
        folders[package.key] = folder
    return folders


def vendored_assets(folder: Path, packages: Sequence[NpmPackage] = PACKAGES) -> dict[str, Path]:
    """The packages of a folder laid out like the cache (``--assets``): each one's needed files
    must be there; nothing is downloaded."""
    folders = {}
    for package in packages:
        package_folder = Path(folder) / package.folder_name
        missing = [name for name in package.files if not (package_folder / name).is_file()]
        if missing:
            raise AssetError(
                f"--assets {folder}: {package_folder / missing[0]} is missing. The folder must "
                f"hold {', '.join(p.folder_name + '/' for p in packages)} laid out like "
                f"{default_folder()} (copy that folder from a machine where the server ran "
                "online), or leave out --assets to download them."
            )
        folders[package.key] = package_folder
    return folders


def _vendor(package: NpmPackage, folder: Path, fetch: Callable[[str], bytes]) -> None:
    """Downloads, checks and extracts `package` into `folder`, atomically."""
    try:
        tarball = fetch(package.url)
    except (OSError, ValueError, http.client.HTTPException) as error:  # URLError is an OSError
        raise AssetError(
            f"Downloading {package.url} failed ({error}). The web page needs {package.name} "
            f"{package.version} once, kept afterwards in {folder}. On a machine with internet "
            "access run the server once (or whispersign_jax.serve.assets.ensure_assets()), "
            f"then copy its ${CACHE_ENV}/web folder to {folder.parent} here, or pass "
            "--assets DIR with that copy."
        ) from error
    actual = integrity_of(tarball)
    if actual != package.integrity:
        raise AssetError(
            f"{package.url}: the download's integrity is {actual}, not the expected "
            f"{package.integrity}; nothing was saved. Try again later, or check for a proxy "
            "that alters downloads."
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{package.folder_name}.", dir=folder.parent))
    try:
        kept = _extract(package, tarball, partial)
        record = dataclasses.asdict(package) | {"url": package.url, "kept": kept}
        (partial / MARKER).write_text(json.dumps(record, indent=1) + "\n")
        if folder.exists():  # an earlier run stopped half-way
            shutil.rmtree(folder)
        try:
            os.replace(partial, folder)
        except OSError:
            if not (folder / MARKER).is_file():  # else another process finished it first
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    size_mb = sum(kept.values()) / 1e6
    print(
        f"Downloaded {package.name} {package.version} ({len(tarball) / 1e6:.1f} MB): kept "
        f"{len(kept)} files ({size_mb:.1f} MB) in {folder}"
    )


def _extract(package: NpmPackage, tarball: bytes, folder: Path) -> Mapping[str, int]:
    """Writes the package's needed files, ``package.json`` and licence files into `folder`;
    returns their sizes by path."""
    wanted = {*package.files, "package.json"}
    kept = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        for member in archive.getmembers():
            name = member.name.removeprefix("package/")
            keep = name in wanted or LICENCE_NAME.fullmatch(name)
            if not (member.isfile() and member.name.startswith("package/") and keep):
                continue
            destination = folder / name
            destination.parent.mkdir(parents=True, exist_ok=True)
            with archive.extractfile(member) as source, open(destination, "wb") as target:
                shutil.copyfileobj(source, target)
            kept[name] = member.size
    missing = sorted(wanted - set(kept))
    if missing:
        raise AssetError(
            f"{package.url} has no package/{missing[0]}: the file list pinned in "
            f"{__name__} does not match {package.name} {package.version}."
        )
    return kept
