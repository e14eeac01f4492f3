"""The static HTTP server of the live-recognition page (stdlib only).

URL layout (``URL_LAYOUT``; the page's JavaScript relies on it):

    /model/hand_landmarker.task   the MediaPipe hand landmarker (``--hand_model``)
    /model/...                    the web export (whispersign_export.json, *.onnx)
    /vendor/tasks-vision/...      @mediapipe/tasks-vision: vision_bundle.mjs, wasm/
    /vendor/onnxruntime-web/...   onnxruntime-web: dist/ort.wasm.min.mjs and its wasm
    /  (and /index.html ...)      the page: whispersign_jax/serve/static/

The vendored folders keep their npm layout (``assets``): the page imports
``/vendor/tasks-vision/vision_bundle.mjs`` with ``FilesetResolver.forVisionTasks(
"/vendor/tasks-vision/wasm")``, and ``/vendor/onnxruntime-web/dist/ort.wasm.min.mjs``, which
finds its wasm beside itself.

Every response carries ``Cross-Origin-Opener-Policy: same-origin`` and
``Cross-Origin-Embedder-Policy: require-corp`` (the page is then crossOriginIsolated, which
multi-threaded WebAssembly needs), ``Cache-Control: no-cache`` (files are revalidated with
``Last-Modified``, so a new export is picked up on reload) and a Content-Security-Policy that
lets the page fetch from this server only (no usage logs leave the browser). Folders, hidden
files (a name starting with ".") and anything outside the mapped roots are 404.
"""

from __future__ import annotations

import email.utils
import shutil
import urllib.parse
from collections.abc import Mapping
from contextlib import suppress
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
HAND_MODEL_URL = "/model/hand_landmarker.task"
# URL -> what it serves (a key of `serve`'s roots), first match wins. A URL ending in "/" maps a
# folder, any other URL one file.
URL_LAYOUT = (
    (HAND_MODEL_URL, "hand_model"),
    ("/model/", "export"),
    ("/vendor/tasks-vision/", "tasks-vision"),
    ("/vendor/onnxruntime-web/", "onnxruntime-web"),
    ("/", "static"),
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".wasm": "application/wasm",
    ".onnx": "application/octet-stream",
    ".task": "application/octet-stream",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    # The page talks to this server only: MediaPipe's tasks-vision posts usage logs to
    # odml.pa.googleapis.com every minute (it has no switch to turn them off); this stops them.
    "Content-Security-Policy": "connect-src 'self' blob: data:",
}


class StaticServer(ThreadingHTTPServer):
    """Serves the files of `roots` (keys of ``URL_LAYOUT`` -> folder or file)."""

    def __init__(self, address: tuple[str, int], roots: Mapping[str, Path], verbose: bool):
        self.roots = {key: Path(path).resolve() for key, path in roots.items()}
        self.verbose = verbose
        super().__init__(address, Handler)

    def locate(self, request_path: str) -> Path | None:
        """The file a request path names, or None (unmapped, hidden, outside its root)."""
        path = urllib.parse.unquote(request_path.split("?", 1)[0].split("#", 1)[0])
        if path == "/":
            path = "/index.html"
        for url, key in URL_LAYOUT:
            if url.endswith("/") and path.startswith(url):
                return _file_inside(self.roots[key], path.removeprefix(url))
            if path == url:
                return self.roots[key] if self.roots[key].is_file() else None
        return None

    @property
    def url(self) -> str:
        """The page's address: ``http://host:port/`` (127.0.0.1 when bound to every address)."""
        host, port = self.server_address[:2]
        return f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/"


def _file_inside(root: Path, relative: str) -> Path | None:
    parts = relative.split("/")
    if any(not part or part.startswith(".") or "\\" in part or "\0" in part for part in parts):
        return None  # also "..", "." and empty segments
    try:
        path = root.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if path.is_relative_to(root) and path.is_file() else None


class Handler(BaseHTTPRequestHandler):
    server: StaticServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._send_file(with_body=True)

    def do_HEAD(self) -> None:
        self._send_file(with_body=False)

    def _send_file(self, with_body: bool) -> None:
        path = self.server.locate(self.path)
        if path is None:
            body = b"not found\n"
            self._start(HTTPStatus.NOT_FOUND, "text/plain; charset=utf-8", len(body))
            if with_body:
                self.wfile.write(body)
            return
        stat = path.stat()
        modified = email.utils.formatdate(stat.st_mtime, usegmt=True)
        if self.headers.get("If-Modified-Since") == modified:
            self._start(HTTPStatus.NOT_MODIFIED, None, None)
            return
        content_type = CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        self._start(HTTPStatus.OK, content_type, stat.st_size, {"Last-Modified": modified})
        if with_body:
            # A reload stops the browser reading: not an error.
            with open(path, "rb") as file, suppress(BrokenPipeError, ConnectionResetError):
                shutil.copyfileobj(file, self.wfile)

    def _start(
        self,
        status: HTTPStatus,
        content_type: str | None,
        length: int | None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in {**HEADERS, **(extra or {})}.items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per failed request; every request with ``verbose``."""
        if self.server.verbose or (isinstance(code, int) and code >= 400):
            super().log_request(code, size)


def serve(
    export_dir: Path,
    hand_model: Path,
    assets: Mapping[str, Path],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    static_dir: Path = STATIC_DIR,
    verbose: bool = False,
) -> StaticServer:
    """A bound server of the page (port 0: any free port); call its ``serve_forever``.

    `assets` maps ``tasks-vision`` and ``onnxruntime-web`` to their vendored folders
    (``assets.ensure_assets``)."""
    roots = {"export": export_dir, "static": static_dir, **assets}
    for key, folder in roots.items():
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (served as {key}).")
    if not Path(hand_model).is_file():
        raise FileNotFoundError(f"{hand_model}: no such file (served as {HAND_MODEL_URL}).")
    missing = {key for _, key in URL_LAYOUT} - {*roots, "hand_model"}
    if missing:
        raise ValueError(f"serve() needs the folder of {sorted(missing)} in `assets`.")
    return StaticServer((host, port), {**roots, "hand_model": hand_model}, verbose)
