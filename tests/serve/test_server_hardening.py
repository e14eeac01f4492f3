"""The page's server against hostile clients (``pytest -k server_hardening``): slow and idle
connections are closed, half-open ones never grow the thread count past the pool, foreign Host
headers are refused (DNS rebinding), no other site may frame the page, and ``serve`` ends a
corrupt checkpoint in one line."""

from __future__ import annotations

import http.client
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path

import pytest
from conftest import REPO

from serve.test_main import vendored_copy
from whispersign_jax.extraction import model_file
from whispersign_jax.serve.server import Limits, StaticServer, serve

PAGE = b"<!doctype html><p>page</p>"
# Short limits: each test waits well under a second for the server to act.
FAST = Limits(request_timeout_s=0.4, idle_timeout_s=0.4, max_connections=4)
CLOSED_WITHIN_S = 0.4 + 1.0  # the limit, and time for a busy CPU


@contextmanager
def running_server(
    root: Path, limits: Limits = FAST, allowed_hosts: Iterable[str] = ()
) -> Iterator[StaticServer]:
    """A server of a one-page site under ``root``, serving in a thread."""
    (root / "static").mkdir(parents=True)
    (root / "static" / "index.html").write_bytes(PAGE)
    for folder in ("export", "tasks-vision", "ort"):
        (root / folder).mkdir()
    (root / "hand.task").write_bytes(b"hand")
    server = serve(
        root / "export",
        root / "hand.task",
        {"tasks-vision": root / "tasks-vision", "onnxruntime-web": root / "ort"},
        port=0,
        static_dir=root / "static",
        allowed_hosts=allowed_hosts,
        limits=limits,
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def request(address, path="/", host: str | None = None, method="GET"):
    """(status, headers, body); ``host`` replaces http.client's Host header."""
    with closing(http.client.HTTPConnection(*address[:2], timeout=5)) as connection:
        connection.request(method, path, headers={} if host is None else {"Host": host})
        response = connection.getresponse()
        return response.status, response.headers, response.read()


def raw_exchange(address, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """(status, headers with lower-case names, body) of the answer to ``data`` sent as is."""
    with socket.create_connection(address[:2], timeout=5) as client:
        client.sendall(data)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
            if data.startswith(b"GET / HTTP/1.1\r\nHost") and answer.endswith(PAGE):
                break  # a kept-alive connection: the page is all
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (x.partition(":") for x in lines)}
    return int(status_line.split()[1]), headers, body


def seconds_until_closed(client: socket.socket, limit_s: float, trickle: bytes = b"") -> float:
    """Seconds until the server closes ``client`` (inf: not within ``limit_s``), sending
    ``trickle`` one byte every 0.1 s meanwhile."""
    start = time.monotonic()
    pending = list(trickle)
    while time.monotonic() - start < limit_s:
        try:
            if pending:
                client.sendall(bytes([pending.pop(0)]))
            if select.select([client], [], [], 0.1)[0] and client.recv(65536) == b"":
                return time.monotonic() - start
        except ConnectionError:
            return time.monotonic() - start
    return float("inf")


def test_server_hardening_a_slow_request_is_dropped(tmp_path):
    with running_server(tmp_path) as server:
        address = server.server_address[:2]
        with socket.create_connection(address, timeout=5) as client:  # half a request
            client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
            assert seconds_until_closed(client, limit_s=5) < CLOSED_WITHIN_S
        # One byte every 0.1 s, never ending: each read is quick, the request is not.
        slow = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: " + b"a" * 100
        with socket.create_connection(address, timeout=5) as client:
            assert seconds_until_closed(client, limit_s=5, trickle=slow) < CLOSED_WITHIN_S
        assert request(address)[2] == PAGE  # and the server still serves


def test_server_hardening_an_idle_connection_is_closed(tmp_path):
    with running_server(tmp_path) as server:
        address = server.server_address[:2]
        with socket.create_connection(address, timeout=5) as client:  # says nothing
            assert seconds_until_closed(client, limit_s=5) < CLOSED_WITHIN_S
        with socket.create_connection(address, timeout=5) as client:  # kept alive, then idle
            client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = b""
            while not answer.endswith(PAGE):
                answer += client.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200")
            assert seconds_until_closed(client, limit_s=5) < CLOSED_WITHIN_S


def test_server_hardening_half_open_connections_do_not_grow_the_threads(tmp_path):
    limits = Limits(request_timeout_s=3, idle_timeout_s=3, max_connections=4)
    with running_server(tmp_path, limits) as server:
        baseline = threading.active_count()
        attackers = []
        for _ in range(60):  # past the pool and the listen backlog
            attacker = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            attacker.setblocking(False)
            attacker.connect_ex(server.server_address[:2])
            attackers.append(attacker)
        time.sleep(0.2)
        for attacker in attackers:
            with suppress(OSError):  # not connected yet: waiting in the backlog
                attacker.send(b"GET / HTTP/1.1\r\n")  # half a request
        time.sleep(0.3)
        assert threading.active_count() - baseline == limits.max_connections
        for attacker in attackers:
            attacker.close()
        assert request(server.server_address)[2] == PAGE  # the pool frees as they leave
        deadline = time.monotonic() + 3
        while threading.active_count() > baseline and time.monotonic() < deadline:
            time.sleep(0.05)
        assert threading.active_count() == baseline


def test_server_hardening_a_foreign_host_is_refused_and_localhost_served(tmp_path):
    with running_server(tmp_path) as server:
        address = server.server_address
        port = address[1]
        served = ("localhost", f"localhost:{port}", "127.0.0.1:9000", "[::1]:8000", "LOCALHOST.")
        for host in served:
            assert request(address, host=host)[::2] == (200, PAGE), host
        status, headers, body = request(address, host=f"rebound.example:{port}")
        assert status == 421 and headers["Connection"] == "close"
        assert b"--allow_host=rebound.example\n" in body
        assert request(address, "/model/hand_landmarker.task", host="rebound.example")[0] == 421
        assert request(address, host="rebound.example", method="HEAD")[::2] == (421, b"")
        assert raw_exchange(address, b"GET / HTTP/1.1\r\n\r\n")[0] == 400  # no Host
        two_hosts = b"GET / HTTP/1.1\r\nHost: localhost\r\nHost: rebound.example\r\n\r\n"
        assert raw_exchange(address, two_hosts)[0] == 400
        assert raw_exchange(address, b"GET / HTTP/1.0\r\n\r\n")[::2] == (200, PAGE)


def test_server_hardening_allow_host_admits_a_name(tmp_path):
    with running_server(tmp_path, allowed_hosts=["Example.COM:8000", "192.168.1.5"]) as server:
        address = server.server_address
        assert request(address, host="example.com")[::2] == (200, PAGE)
        assert request(address, host="192.168.1.5:8000")[::2] == (200, PAGE)
        assert request(address, host="other.example")[0] == 421
    with (
        pytest.raises(ValueError, match=r"--allow_host 'http://example\.com/': give a host name"),
        running_server(tmp_path / "again", allowed_hosts=["http://example.com/"]),
    ):
        pass


def test_server_hardening_no_response_may_be_framed(tmp_path):
    with running_server(tmp_path) as server:
        address = server.server_address
        answers = [
            request(address)[1],  # 200
            request(address, "/nope")[1],  # 404
            request(address, host="rebound.example")[1],  # 421
            request(address, method="POST")[1],  # 501, the standard library's own page
        ]
        answers = [{k.lower(): v for k, v in headers.items()} for headers in answers]
        answers.append(raw_exchange(address, b"GET / HTTP/1.1\r\n\r\n")[1])  # 400
        for headers in answers:
            assert headers["x-frame-options"] == "DENY"
            assert "frame-ancestors 'none'" in headers["content-security-policy"]
            assert "connect-src 'self'" in headers["content-security-policy"]


# `python -m whispersign_jax.serve` with the web export replaced by FAKE_EXPORT's body.
SERVE_WITH_FAKE_EXPORT = """
import sys, types
from pathlib import Path

def ensure_web_export(workdir, out):
{body}

fake = types.ModuleType("whispersign_jax.export.web")
fake.ensure_web_export = ensure_web_export
sys.modules["whispersign_jax.export.web"] = fake
from whispersign_jax.serve.__main__ import run
run()
"""
EXPORTED = "    Path(out).mkdir(parents=True, exist_ok=True)\n    return Path(out)"
CORRUPT = (
    "    from whispersign_jax.runs.checkpointing import CorruptCheckpointError\n"
    "    raise CorruptCheckpointError(f'No intact checkpoint in {workdir}/stage2/checkpoints/"
    "best: 200 is unreadable (Exception: bad bytes). Delete that folder.')"
)


def serve_command(tmp_path: Path, export_body: str, *flags: str) -> tuple[list[str], dict]:
    """The serve command (``SERVE_WITH_FAKE_EXPORT``) on a workdir in ``tmp_path``, and its
    environment."""
    (tmp_path / "workdir").mkdir()
    (tmp_path / "hand.task").write_bytes(b"hand")
    vendored = vendored_copy(tmp_path / "assets")
    environment = {k: v for k, v in os.environ.items() if k != "WHISPERSIGN_TRACEBACK"}
    environment[model_file.CACHE_ENV] = str(tmp_path / "cache")
    environment["PYTHONUNBUFFERED"] = "1"
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.getenv("PYTHONPATH")]))
    command = [
        sys.executable, "-c", SERVE_WITH_FAKE_EXPORT.format(body=export_body),
        f"--workdir={tmp_path / 'workdir'}", f"--hand_model={tmp_path / 'hand.task'}",
        f"--assets={vendored}", "--port=0", *flags,
    ]  # fmt: skip
    return command, environment


def test_server_hardening_the_allow_host_flag_admits_its_names(tmp_path):
    command, environment = serve_command(
        tmp_path, EXPORTED, "--allow_host=a.example, b.example", "--allow_host=c.example:443"
    )
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=environment)
    try:
        first_line = process.stdout.readline()
        assert first_line.startswith("Open http://127.0.0.1:"), first_line
        port = int(first_line.split(":")[2].split("/")[0])
        for host in ("a.example", "b.example:8000", "c.example", "localhost"):
            assert request(("127.0.0.1", port), "/model/hand_landmarker.task", host)[0] == 200
        assert request(("127.0.0.1", port), host="d.example")[0] == 421
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_server_hardening_a_corrupt_checkpoint_is_one_line(tmp_path):
    command, environment = serve_command(tmp_path, CORRUPT)
    result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=60)
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    assert result.stderr.strip().splitlines() == [
        f"error: No intact checkpoint in {tmp_path / 'workdir'}/stage2/checkpoints/best: 200 is "
        "unreadable (Exception: bad bytes). Delete that folder."
    ]
    assert result.stdout == ""  # nothing was served
