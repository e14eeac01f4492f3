"""The page's static server: the URL layout, MIME types, isolation headers, and no file outside
the mapped folders."""

import http.client
import threading

import pytest

from whispersign_jax.serve.server import HAND_MODEL_URL, serve

ONNX = b"\x08\x07onnx bytes"
HAND = b"hand landmarker bytes"
WASM = b"\0asm\1\0\0\0"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A running server over small temporary folders; yields a request function."""
    tmp_path = tmp_path_factory.mktemp("site")
    files = {
        "static/index.html": b"<!doctype html><p>page</p>",
        "static/app.mjs": b"export {};",
        "static/style.css": b"body {}",
        "export/whispersign_export.json": b'{"format": "onnx"}',
        "export/encoder.onnx": ONNX,
        "tasks-vision/vision_bundle.mjs": b"export const FilesetResolver = {};",
        "tasks-vision/wasm/vision_wasm_internal.wasm": WASM,
        "tasks-vision/.whispersign_vendored.json": b"{}",
        "ort/dist/ort.wasm.min.mjs": b"export {};",
        "hand.task": HAND,
        "secret.txt": b"not to be served",
    }
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    (tmp_path / "export" / "link.txt").symlink_to(tmp_path / "secret.txt")
    vendored = {"tasks-vision": tmp_path / "tasks-vision", "onnxruntime-web": tmp_path / "ort"}
    server = serve(
        tmp_path / "export",
        tmp_path / "hand.task",
        vendored,
        port=0,
        static_dir=tmp_path / "static",
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    host, port = server.server_address[:2]

    def request(path, method="GET", headers=None):
        connection = http.client.HTTPConnection(host, port, timeout=5)
        try:
            connection.request(method, path, headers=headers or {})
            response = connection.getresponse()
            return response.status, response.headers, response.read()
        finally:
            connection.close()

    yield request
    server.shutdown()
    server.server_close()


def test_page_is_served_at_the_root(site):
    for path in ("/", "/index.html", "/index.html?v=2"):
        status, headers, body = site(path)
        assert (status, body) == (200, b"<!doctype html><p>page</p>")
        assert headers["Content-Type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/app.mjs", "text/javascript"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/vendor/tasks-vision/vision_bundle.mjs", "text/javascript"),
        ("/vendor/tasks-vision/wasm/vision_wasm_internal.wasm", "application/wasm"),
        ("/vendor/onnxruntime-web/dist/ort.wasm.min.mjs", "text/javascript"),
        ("/model/whispersign_export.json", "application/json"),
        ("/model/encoder.onnx", "application/octet-stream"),
        (HAND_MODEL_URL, "application/octet-stream"),
    ],
)
def test_content_types(site, path, content_type):
    status, headers, body = site(path)
    assert (status, headers["Content-Type"]) == (200, content_type)
    assert int(headers["Content-Length"]) == len(body) > 0


def test_every_response_is_isolated_revalidated_and_fetches_only_from_here(site):
    for path in ("/", "/model/encoder.onnx", "/vendor/tasks-vision/vision_bundle.mjs", "/nope"):
        _, headers, _ = site(path)
        assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"
        assert headers["Cache-Control"] == "no-cache"
        csp = "connect-src 'self' blob: data:; frame-ancestors 'none'"
        assert headers["Content-Security-Policy"] == csp


def test_model_and_hand_model_routes_serve_their_bytes(site):
    assert site("/model/encoder.onnx")[2] == ONNX
    assert site(HAND_MODEL_URL)[2] == HAND  # hand.task, served under the name the page asks for
    assert site("/vendor/tasks-vision/wasm/vision_wasm_internal.wasm")[2] == WASM


@pytest.mark.parametrize(
    "path",
    [
        "/model/../secret.txt",
        "/model/%2e%2e/secret.txt",
        "/model/%2E%2E%2Fsecret.txt",
        "/vendor/tasks-vision/..%2f..%2fsecret.txt",
        "/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/model//etc/passwd",
        "/model/link.txt",  # a symlink out of the export folder
        "/vendor/tasks-vision/.whispersign_vendored.json",  # hidden
        "/model/",  # folders are not listed
        "/vendor/tasks-vision/wasm",
        "/vendor/",
        "/nope.html",
        "/model/hand.task",
    ],
)
def test_anything_else_is_404(site, path):
    status, headers, body = site(path)
    assert (status, body) == (404, b"not found\n")
    assert headers["Content-Type"] == "text/plain; charset=utf-8"


def test_head_and_conditional_get(site):
    status, headers, body = site("/model/encoder.onnx", method="HEAD")
    assert (status, body, headers["Content-Length"]) == (200, b"", str(len(ONNX)))
    modified = headers["Last-Modified"]
    status, _, body = site("/model/encoder.onnx", headers={"If-Modified-Since": modified})
    assert (status, body) == (304, b"")


def test_missing_folders_are_named(tmp_path):
    (tmp_path / "hand.task").write_bytes(HAND)
    vendored = {"tasks-vision": tmp_path, "onnxruntime-web": tmp_path}
    with pytest.raises(FileNotFoundError, match=r"export: no such folder"):
        serve(tmp_path / "export", tmp_path / "hand.task", vendored, port=0)
    with pytest.raises(FileNotFoundError, match=r"missing.task: no such file"):
        serve(tmp_path, tmp_path / "missing.task", vendored, port=0)
    with pytest.raises(ValueError, match="onnxruntime-web"):
        serve(tmp_path, tmp_path / "hand.task", {"tasks-vision": tmp_path}, port=0)
