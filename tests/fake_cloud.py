"""A stand-in for cloud storage: ``gs://bucket/...`` through ``etils.epath`` reaches a local
folder, so code that writes cloud paths can be tested without a network.

Only ``etils.epath`` calls are redirected; anything that opened ``gs://...`` with ``open``,
``pathlib`` or ``os`` would instead create a ``gs:`` folder in the working directory, which
``FakeBucket.strays`` reports. Native readers (ArrayRecord, TensorStore) are not redirected.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

SCHEME = "gs://"


class FakeBucket:
    """``gs://<name>/...`` kept in ``folder``; the tests run in ``workdir``."""

    def __init__(self, folder: Path, workdir: Path):
        self.folder, self.workdir = folder, workdir

    def local(self, path: str | os.PathLike) -> str:
        text = os.fspath(path)
        return str(self.folder / text[len(SCHEME) :]) if text.startswith(SCHEME) else text

    def remote(self, path: str) -> str:
        prefix = str(self.folder) + os.sep
        return SCHEME + path[len(prefix) :] if path.startswith(prefix) else path

    def strays(self) -> list[str]:
        """Files that bypassed epath (a ``gs:`` folder made in the working directory)."""
        return sorted(str(p) for p in self.workdir.rglob("*") if "gs:" in p.parts)


@contextlib.contextmanager
def fake_gcs(tmp_path: Path, monkeypatch):
    """Yields a ``FakeBucket``; ``gs://`` paths of ``etils.epath`` reach its folder meanwhile."""
    from etils.epath import gpath
    from etils.epath import testing as epath_testing

    bucket = FakeBucket(tmp_path / "fake-gcs", tmp_path / "cwd")
    bucket.folder.mkdir()
    bucket.workdir.mkdir()
    monkeypatch.chdir(bucket.workdir)
    monkeypatch.setattr(gpath, "_is_tf_installed", lambda: False)  # the mock replaces fsspec's

    def one(function, path, *args, **kwargs):
        return function(bucket.local(path), *args, **kwargs)

    def two(function, source, target, *args, **kwargs):
        return function(bucket.local(source), bucket.local(target), *args, **kwargs)

    def glob(function, pattern):
        return [bucket.remote(path) for path in function(bucket.local(pattern))]

    single = ("open", "exists", "isdir", "makedirs", "mkdir", "remove", "stat", "listdir",
              "rmtree", "walk")  # fmt: skip
    mocks = {name: one for name in single} | {"copy": two, "rename": two, "replace": two}
    with epath_testing.mock_epath(glob=glob, **mocks):
        yield bucket
