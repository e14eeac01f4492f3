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
lets the page fetch from this server only (no usage logs leave the browser) and be framed by
no other page (``frame-ancestors 'none'``, ``X-Frame-Options: DENY``). Folders, hidden files (a
name starting with ".") and anything outside the mapped roots are 404.

A hostile client cannot hold the server (``Limits``): a request's head must arrive within
``request_timeout_s`` of its first byte, a kept-alive connection with no new request is closed
after ``idle_timeout_s``, and at most ``max_connections`` connections are served at once, one
thread each; more wait in the listen backlog. A request whose Host header names neither this
machine's loopback names nor the bound address nor an ``allowed_hosts`` name is refused with
421 (a DNS-rebinding page must not read the model); HTTP/1.1 without a Host header is 400.
"""

from __future__ import annotations

import email.utils
import io
import shutil
import socket
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
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
    # No other site may frame the page (clickjacking the camera permission).
    "Content-Security-Policy": "connect-src 'self' blob: data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
}
# Host header names always served (with any port: an SSH tunnel may forward another one).
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Limits:
    """How long and how many connections the server gives its clients."""

    # A request's line and headers must arrive within this from its first byte; a response
    # whose client reads nothing for this long is dropped.
    request_timeout_s: float = 20.0
    idle_timeout_s: float = 15.0  # a kept-alive connection with no new request is then closed
    max_connections: int = 32  # served at once, one thread each; more wait in the listen backlog


def host_name(host: str) -> str:
    """The name in a Host header or an ``--allow_host`` value: lower case, without its port,
    an IPv6 address without brackets (``[::1]:8000`` -> ``::1``)."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") == 1:  # name:port (more colons: a bare IPv6 address)
        host = host.partition(":")[0]
    return host.rstrip(".")


class StaticServer(ThreadingHTTPServer):
    """Serves the files of `roots` (keys of ``URL_LAYOUT`` -> folder or file) to requests whose
    Host is a loopback name, the bound address or one of `allowed_hosts`."""

    block_on_close = False  # Ctrl+C stops at once, not after the browser's kept-alive connections

    def __init__(
        self,
        address: tuple[str, int],
        roots: Mapping[str, Path],
        verbose: bool,
        *,
        allowed_hosts: Iterable[str] = (),
        limits: Limits = Limits(),
    ):
        self.roots = {key: Path(path).resolve() for key, path in roots.items()}
        self.verbose = verbose
        self.limits = limits
        for host in allowed_hosts:
            if not host_name(host) or any(c in host.strip() for c in "/@ \t"):
                raise ValueError(
                    f"--allow_host {host!r}: give a host name such as example.com or 192.168.1.5 "
                    "(a port may follow), without a scheme or a path."
                )
        self.allowed_hosts = {host_name(h) for h in (*LOOPBACK_HOSTS, address[0], *allowed_hosts)}
        self.connection_slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, Handler)

    def process_request(self, request: socket.socket, client_address) -> None:
        """Serves the connection in a thread of its own once fewer than ``max_connections`` are
        served; until then the server accepts no other (they wait in the listen backlog)."""
        self.connection_slots.acquire()
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.connection_slots.release()
            raise

    def process_request_thread(self, request: socket.socket, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.connection_slots.release()

    def handle_error(self, request: socket.socket, client_address) -> None:
        """A client that went away is not an error of the server: no traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

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


class DeadlineReader(io.RawIOBase):
    """A connection's reads under ``Limits``: the first byte of a request must come within
    ``idle_timeout_s`` (else the connection ends quietly, as if the client had closed it), the
    rest of its head within ``request_timeout_s`` of that byte (else TimeoutError)."""

    def __init__(self, connection: socket.socket, limits: Limits):
        super().__init__()
        self.connection = connection
        self.limits = limits
        self.await_request()

    def await_request(self) -> None:
        self.idle = True
        self.deadline = time.monotonic() + self.limits.idle_timeout_s

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        remaining = self.deadline - time.monotonic()
        try:
            if remaining <= 0:
                raise TimeoutError("the request took too long to arrive")
            self.connection.settimeout(remaining)
            count = self.connection.recv_into(buffer)
        except TimeoutError:
            if self.idle:
                return 0  # an idle connection: closed like one the client closed
            raise
        finally:  # writes: the client must read within the request timeout
            self.connection.settimeout(self.limits.request_timeout_s)
        if self.idle and count:
            self.idle = False
            self.deadline = time.monotonic() + self.limits.request_timeout_s
        return count


class Handler(BaseHTTPRequestHandler):
    server: StaticServer
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.rfile.close()  # the socket's own reader, replaced by one with deadlines
        self.reader = DeadlineReader(self.connection, self.server.limits)
        self.rfile = io.BufferedReader(self.reader)

    def handle_one_request(self) -> None:
        self.reader.await_request()
        super().handle_one_request()

    def parse_request(self) -> bool:
        """The request line and headers, and a Host this server answers to (else 400 or 421)."""
        if not super().parse_request():
            return False
        hosts = self.headers.get_all("Host") or []
        needs_host = self.request_version not in ("HTTP/0.9", "HTTP/1.0")
        if len(hosts) > 1 or (needs_host and not "".join(hosts).strip()):
            self.close_connection = True
            self._send_text(HTTPStatus.BAD_REQUEST, "an HTTP/1.1 request needs one Host header\n")
            return False
        name = host_name(hosts[0]) if hosts else ""
        if name and name not in self.server.allowed_hosts:
            self.close_connection = True
            self._send_text(
                HTTPStatus.MISDIRECTED_REQUEST,
                f"This server does not answer to the host name {name[:100]!r} (a protection "
                "against DNS rebinding). To open the page under this name, restart it with "
                f"--allow_host={name[:100]}\n",
            )
            return False
        return True

    def do_GET(self) -> None:
        self._send_file(with_body=True)

    def do_HEAD(self) -> None:
        self._send_file(with_body=False)

    def _send_file(self, with_body: bool) -> None:
        path = self.server.locate(self.path)
        if path is None:
            self._send_text(HTTPStatus.NOT_FOUND, "not found\n")
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

    def _send_text(self, status: HTTPStatus, text: str) -> None:
        body = text.encode()
        extra = {"Connection": "close"} if self.close_connection else None
        self._start(status, "text/plain; charset=utf-8", len(body), extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _start(
        self,
        status: HTTPStatus,
        content_type: str | None,
        length: int | None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        if content_type:
            self.send_header("Content-Type", content_type)
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def send_response(self, code: int, message: str | None = None) -> None:
        """Every response, errors of the standard library's own included, carries ``HEADERS``."""
        super().send_response(code, message)
        for name, value in HEADERS.items():
            self.send_header(name, value)

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
    allowed_hosts: Iterable[str] = (),
    limits: Limits = Limits(),
) -> StaticServer:
    """A bound server of the page (port 0: any free port); call its ``serve_forever``.

    `assets` maps ``tasks-vision`` and ``onnxruntime-web`` to their vendored folders
    (``assets.ensure_assets``); `allowed_hosts` are Host names served besides the loopback
    names and `host` (``--allow_host``)."""
    roots = {"export": export_dir, "static": static_dir, **assets}
    for key, folder in roots.items():
        if not Path(folder).is_dir():
            raise FileNotFoundError(f"{folder}: no such folder (served as {key}).")
    if not Path(hand_model).is_file():
        raise FileNotFoundError(f"{hand_model}: no such file (served as {HAND_MODEL_URL}).")
    missing = {key for _, key in URL_LAYOUT} - {*roots, "hand_model"}
    if missing:
        raise ValueError(f"serve() needs the folder of {sorted(missing)} in `assets`.")
    return StaticServer(
        (host, port),
        {**roots, "hand_model": hand_model},
        verbose,
        allowed_hosts=allowed_hosts,
        limits=limits,
    )
