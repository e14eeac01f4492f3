"""Vendoring npm packages: checked against the pinned integrity, trimmed to the page's files,
cached atomically; no network (a fake tarball and a fake registry)."""

import dataclasses
import io
import json
import tarfile
import urllib.error

import pytest

from whispersign_jax.extraction import model_file
from whispersign_jax.serve import assets
from whispersign_jax.serve.assets import AssetError, NpmPackage


def make_tarball(contents: dict[str, bytes]) -> bytes:
    """A .tgz laid out like npm's: every file under ``package/``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in contents.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


CONTENTS = {
    "lib.mjs": b"export const answer = 42;\n",
    "lib.mjs.map": b"{}",
    "wasm/lib.wasm": b"\0asm\1\0\0\0",
    "wasm/lib_nosimd.wasm": b"\0asm\1\0\0\0 nosimd",
    "package.json": b'{"name": "@scope/fake-lib", "license": "MIT"}',
    "LICENSE.md": b"MIT licence text",
    "README.md": b"# fake",
    "docs/LICENSE": b"a nested licence of something else",
}
TARBALL = make_tarball(CONTENTS)
PACKAGE = NpmPackage(
    key="fake-lib",
    name="@scope/fake-lib",
    version="1.2.3",
    integrity=assets.integrity_of(TARBALL),
    files=("lib.mjs", "wasm/lib.wasm"),
    license="MIT",
)
KEPT = {"lib.mjs", "wasm/lib.wasm", "package.json", "LICENSE.md"}


class FakeRegistry:
    """A fetch that serves one tarball and records the URLs asked for."""

    def __init__(self, tarball: bytes = TARBALL):
        self.tarball = tarball
        self.urls = []

    def __call__(self, url: str) -> bytes:
        self.urls.append(url)
        return self.tarball


def files_under(folder):
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_urls_and_integrity_follow_npm():
    assert PACKAGE.url == "https://registry.npmjs.org/@scope/fake-lib/-/fake-lib-1.2.3.tgz"
    assert assets.TASKS_VISION.url == (
        "https://registry.npmjs.org/@mediapipe/tasks-vision/-/tasks-vision-1.1.0.tgz"
    )
    assert assets.ONNXRUNTIME_WEB.url == (
        "https://registry.npmjs.org/onnxruntime-web/-/onnxruntime-web-1.30.0.tgz"
    )
    # SHA-512 of no bytes, base64, as npm writes dist.integrity.
    assert assets.integrity_of(b"") == (
        "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
    )


def test_extraction_keeps_the_listed_files_and_the_licence(tmp_path, capsys):
    registry = FakeRegistry()
    folders = assets.ensure_assets(tmp_path, fetch=registry, packages=(PACKAGE,))
    folder = tmp_path / "fake-lib-1.2.3"
    assert folders == {"fake-lib": folder} and registry.urls == [PACKAGE.url]
    assert files_under(folder) == KEPT | {assets.MARKER}
    for name in KEPT:
        assert (folder / name).read_bytes() == CONTENTS[name]
    record = json.loads((folder / assets.MARKER).read_text())
    assert record["integrity"] == PACKAGE.integrity and set(record["kept"]) == KEPT
    assert [path.name for path in tmp_path.iterdir()] == ["fake-lib-1.2.3"]  # no partial folder
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 1 and "@scope/fake-lib 1.2.3" in printed[0] and "MB" in printed[0]


def test_default_cache_is_under_whispersign_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(model_file.CACHE_ENV, str(tmp_path))
    folders = assets.ensure_assets(fetch=FakeRegistry(), packages=(PACKAGE,))
    assert folders["fake-lib"] == tmp_path / "web" / "fake-lib-1.2.3"


def test_integrity_mismatch_is_refused_and_saves_nothing(tmp_path):
    tampered = make_tarball({**CONTENTS, "lib.mjs": b"alert('tampered')"})
    with pytest.raises(AssetError) as error:
        assets.ensure_assets(tmp_path, fetch=FakeRegistry(tampered), packages=(PACKAGE,))
    message = str(error.value)
    assert PACKAGE.url in message and PACKAGE.integrity in message
    assert assets.integrity_of(tampered) in message
    assert list(tmp_path.iterdir()) == []


def test_failed_download_names_the_url_and_the_way_offline(tmp_path):
    def offline(url):
        raise urllib.error.URLError("no route to host")

    with pytest.raises(AssetError) as error:
        assets.ensure_assets(tmp_path, fetch=offline, packages=(PACKAGE,))
    message = str(error.value)
    assert PACKAGE.url in message and "no route to host" in message
    assert "--assets" in message and str(tmp_path) in message


def test_second_call_reuses_the_cache(tmp_path):
    assets.ensure_assets(tmp_path, fetch=FakeRegistry(), packages=(PACKAGE,))
    registry = FakeRegistry()
    folders = assets.ensure_assets(tmp_path, fetch=registry, packages=(PACKAGE,))
    assert registry.urls == [] and (folders["fake-lib"] / "lib.mjs").is_file()


def test_half_written_cache_is_redone(tmp_path):
    folder = tmp_path / "fake-lib-1.2.3"
    (folder / "wasm").mkdir(parents=True)
    (folder / "lib.mjs").write_bytes(b"trunc")  # a copy that stopped before the marker
    registry = FakeRegistry()
    assets.ensure_assets(tmp_path, fetch=registry, packages=(PACKAGE,))
    assert registry.urls == [PACKAGE.url]
    assert (folder / "lib.mjs").read_bytes() == CONTENTS["lib.mjs"]
    assert files_under(folder) == KEPT | {assets.MARKER}


def test_tarball_without_a_listed_file_is_an_error(tmp_path):
    partial = make_tarball({"lib.mjs": b"x", "package.json": b"{}"})
    package = dataclasses.replace(PACKAGE, integrity=assets.integrity_of(partial))
    with pytest.raises(AssetError, match=r"no package/wasm/lib\.wasm"):
        assets.ensure_assets(tmp_path, fetch=FakeRegistry(partial), packages=(package,))
    assert list(tmp_path.iterdir()) == []


def test_assets_folder_must_hold_every_needed_file(tmp_path):
    assets.ensure_assets(tmp_path, fetch=FakeRegistry(), packages=(PACKAGE,))
    assert assets.vendored_assets(tmp_path, (PACKAGE,)) == {"fake-lib": tmp_path / "fake-lib-1.2.3"}
    (tmp_path / "fake-lib-1.2.3" / "wasm" / "lib.wasm").unlink()
    with pytest.raises(AssetError, match=r"--assets .*fake-lib-1.2.3/wasm/lib.wasm is missing"):
        assets.vendored_assets(tmp_path, (PACKAGE,))


def test_pinned_packages_keep_the_entry_points_the_page_loads():
    assert {package.key for package in assets.PACKAGES} == {"tasks-vision", "onnxruntime-web"}
    assert "vision_bundle.mjs" in assets.TASKS_VISION.files
    assert {"dist/ort.wasm.min.mjs", "dist/ort-wasm-simd-threaded.wasm"} <= set(
        assets.ONNXRUNTIME_WEB.files
    )
    for package in assets.PACKAGES:
        assert package.integrity.startswith("sha512-") and len(package.integrity) == 95
