"""The host-side tool's own HTTP client (`check` and `status` reach the services on the host with it,
not with urllib: see `_http`), against a real HTTP server on this machine answering in each of
HTTP's framings: a Content-Length, chunked, to the close (HTTP/1.0), and a server that keeps the
connection open although it was asked to close it."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from llmhost.hostside import llmhost_hosttool as tool

ANSWER = {"model": "tiny", "choices": [{"message": {"content": "Hello"}}], "usage": {"completion_tokens": 1}}


class Handler(BaseHTTPRequestHandler):
    """``/<framing>/...``: ``length``, ``chunked``, ``close`` (no length: the end is the close) or
    ``keep`` (a length, and the connection kept although the client asked to close it)."""

    protocol_version = "HTTP/1.1"
    seen: ClassVar[list] = []  # (method, path, headers, body) of each request

    def log_message(self, *args):
        pass

    def _answer(self, code: int, body: bytes) -> None:
        framing = self.path.split("/")[1]
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        if framing == "chunked":
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (body[:5], body[5:]):  # two chunks, the first with an extension
                self.wfile.write(f"{len(part):x};ext=1\r\n".encode() + part + b"\r\n")
            self.wfile.write(b"0\r\nX-Trailer: t\r\n\r\n")
        elif framing == "close":
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        if framing == "keep":
            self.close_connection = False  # as a server that ignores "Connection: close"

    def do_GET(self):
        self.seen.append(("GET", self.path, dict(self.headers), b""))
        code = 503 if "/starting/" in self.path else 200
        self._answer(code, b"{}")

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(("POST", self.path, dict(self.headers), body))
        if self.headers.get("Authorization") != "Bearer sk-test":
            return self._answer(401, b'{"error": "no key"}')
        if json.loads(body)["model"] != "tiny":
            return self._answer(404, b'{"error": "no such model"}')
        self._answer(200, json.dumps(ANSWER).encode())


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def check(capsys, url: str, *more: str) -> dict:
    assert tool.main(["check", "--url", url, "--model", "tiny", "--timeout", "0", *more]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


@pytest.fixture
def key_file(tmp_path):
    path = tmp_path / "tiny.env"
    path.write_text("VLLM_CPU_KVCACHE_SPACE=1\nVLLM_API_KEY=sk-test\n")
    return str(path)


@pytest.mark.parametrize("framing", ["length", "chunked", "close", "keep"])
def test_check_reads_each_framing(server, capsys, key_file, framing):
    result = check(capsys, f"{server}/{framing}", "--env-file", key_file)
    assert result["ok"] and result["reply"] == "Hello" and result["error"] is None, result
    method, path, headers, body = Handler.seen[-1]
    assert (method, path, headers["Authorization"]) == ("POST", f"/{framing}/v1/chat/completions", "Bearer sk-test")
    assert headers["Connection"] == "close" and json.loads(body)["max_tokens"] == 1


def test_http_answers_a_status_and_raises_for_no_answer(server):
    assert tool._http(f"{server}/length/health") == (200, b"{}")
    assert tool._http(f"{server}/chunked/x", b"{}", {"Authorization": "Bearer no"}) == (401, b'{"error": "no key"}')
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        tool._http(f"http://127.0.0.1:{port}/health")
    with pytest.raises(OSError, match="not a plain http:// address"):
        tool._http("https://127.0.0.1/health")
    with pytest.raises(OSError, match="ended early or was malformed"):
        tool._dechunked(b"5\r\nab")
    assert tool._dechunked(b"2\r\nab\r\n1\r\nc\r\n0\r\n\r\n") == b"abc"


def test_check_names_what_went_wrong(server, capsys, key_file, tmp_path):
    # no key: the engine's 401 and its body
    result = check(capsys, f"{server}/length")
    assert result["error"] == 'POST /v1/chat/completions: HTTP 401 b\'{"error": "no key"}\''
    # not healthy yet, and no wait
    result = check(capsys, f"{server}/starting", "--env-file", key_file)
    assert result["error"] == f"{server}/starting/health not healthy after 0s (last: HTTP 503)"
    # a gateway must refuse a request without the key: this one does
    assert check(capsys, f"{server}/chunked", "--env-file", key_file, "--refused-without-key")["ok"]
    # nothing listens
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = check(capsys, f"http://127.0.0.1:{port}")
    assert (
        result["error"] == f"http://127.0.0.1:{port}/health not healthy after 0s (last: [Errno 111] Connection refused)"
    )


def test_status_reads_health_with_the_same_client(server, capsys):
    assert (
        tool.main(["status", "--supervisor", "tmux", "--unit", "llmhost-no-such-session", "--url", f"{server}/keep"])
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert (out["running"], out["healthy"], out["health"]) == (False, True, "HTTP 200")


def test_a_check_imports_no_http_client_nor_what_only_other_commands_use(server, key_file):
    """What the check costs on every host at every run: on a Debian 12 host, urllib's HTTP client
    and the tool's other imports were ~40 ms of its ~66 ms (README, "Re-runs")."""
    import subprocess
    import sys

    # -S: this venv's site (its .pth files) imports more, which is not the tool's
    out = subprocess.run(
        [
            sys.executable,
            "-S",
            "-X",
            "importtime",
            tool.__file__,
            "check",
            "--url",
            f"{server}/length",
            "--model",
            "tiny",
            "--timeout",
            "0",
            "--env-file",
            key_file,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.splitlines()[-1])["ok"]
    imported = {line.rsplit("|", 1)[1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "socket" in imported
    assert not imported & {
        "http.client",
        "urllib.request",
        "email.parser",
        "subprocess",
        "hashlib",
        "pathlib",
        "typing",
    }  # shutil: argparse imports it
