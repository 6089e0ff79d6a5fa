"""The README's quick start on an ordinary machine, for real: a fresh Debian 12 host (systemd, the
internet, no local wheels, no pip configuration), this checkout copied onto it, and `make serve`
run there as the README says, after its prerequisites (make, python3-venv). PyTorch's CPU index is
stood in for by what download.pytorch.org is, a static PEP 503 index: built here from the torch
wheel the tests are given (LLMHOST_TORCH_WHEELS), served on the host's loopback and named with
`make serve TORCH_INDEX_URL=...`. llmhost and the engine's other wheels come from PyPI.

It shows: the install takes torch from that index (its access log), the run ends with the
endpoint table, the engine runs under systemd and answers a chat completion.

Cost (measured here): 175 s for the module, 159 s of it `make serve` (llmhost's venv and the
engine's ~1 GB from PyPI, the engine's start); one host from the base image, removed at the end.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.fleet import harness
from tests.helpers import REPO, TORCH_WHEELS, record_timing, require

pytestmark = pytest.mark.fleet

INDEX_PORT = 8765
NAME = f"{harness.PREFIX}-q"


def static_index(wheels: list[Path], root: Path) -> Path:
    """A PEP 503 simple index of ``wheels`` as static files (PyTorch's own is such): the project
    page links each file with its sha256."""
    (root / "files").mkdir(parents=True)
    links = {}
    for wheel in wheels:
        (root / "files" / wheel.name).hardlink_to(wheel)
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        project = re.sub(r"[-_.]+", "-", wheel.name.split("-")[0]).lower()
        links.setdefault(project, []).append(f'<a href="../../files/{wheel.name}#sha256={digest}">{wheel.name}</a>')
    (root / "simple").mkdir()
    (root / "simple" / "index.html").write_text("".join(f'<a href="{p}/">{p}</a>\n' for p in sorted(links)))
    for project, anchors in links.items():
        (root / "simple" / project).mkdir()
        (root / "simple" / project / "index.html").write_text("<!DOCTYPE html>\n" + "\n".join(anchors) + "\n")
    return root


@pytest.fixture(scope="module")
def quick(fleet_image, tmp_path_factory):
    if harness.real_hosts():
        pytest.skip("the quick start runs on a fresh Docker host")
    torch = sorted(Path(TORCH_WHEELS or "/nonexistent").glob("torch-*.whl"))
    require(bool(torch), "the stand-in PyTorch index needs a torch wheel: set LLMHOST_TORCH_WHEELS (the Makefile does)")
    index = static_index(torch, tmp_path_factory.mktemp("torch-index") / "index")
    started = time.monotonic()
    host = harness.start_host(NAME)
    try:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        tar = subprocess.run(
            ["tar", "--null", "-T", "-", "-cf", "-"], cwd=REPO, input=files, capture_output=True, check=True
        )
        host.sh("mkdir -p /root/llmhost /srv")
        subprocess.run(
            ["docker", "exec", "-i", NAME, "tar", "-xf", "-", "-C", "/root/llmhost"], input=tar.stdout, check=True
        )
        harness._run("docker", "cp", f"{index}", f"{NAME}:/srv/torch-index")
        host.sh(
            "systemd-run --unit torch-index python3 -m http.server "
            f"{INDEX_PORT} --bind 127.0.0.1 --directory /srv/torch-index"
        )
        prereqs = host.sh(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq make python3-venv >/dev/null",
            timeout=900,
        )
        record_timing("fleet quick start: make and python3-venv (apt)", time.monotonic() - started)
        t = time.monotonic()
        run = host.exec(
            "sh",
            "-c",
            f"cd /root/llmhost && make serve TORCH_INDEX_URL=http://127.0.0.1:{INDEX_PORT}/simple/ 2>&1",
            check=False,
            timeout=1800,
        )
        record_timing(
            "fleet quick start: make serve on a fresh host (PyPI and the stand-in index)", time.monotonic() - t
        )
        yield host, run, prereqs
    finally:
        if os.environ.get("LLMHOST_FLEET_KEEP") != "1":
            harness.stop_host(NAME)


def test_make_serve_on_a_fresh_host_ends_with_where_the_service_answers(quick):
    host, run, _ = quick
    assert run.returncode == 0, run.stdout[-6000:]
    assert "@local  service tiny  http://127.0.0.1:8000/v1  tiny-qwen2  none" in run.stdout, run.stdout[-3000:]
    assert host.sh("systemctl is-active llmhost-tiny").strip() == "active"
    body = json.dumps({"model": "tiny-qwen2", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    answer = json.loads(
        host.sh(f"curl -sf http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' -d '{body}'")
    )
    assert answer["model"] == "tiny-qwen2" and answer["usage"]["completion_tokens"] > 0


def test_torch_came_from_the_torch_index_and_nothing_of_this_machine(quick):
    host, _, _ = quick
    fetched = host.sh("journalctl -u torch-index --no-pager", check=False)
    assert re.search(r'"GET /files/torch-[^ ]+\.whl HTTP/1\.1" 200', fetched), fetched[-2000:]
    version = host.sh(
        "/opt/llmhost/venvs/vllm-cpu-current/bin/python -c 'import torch; print(torch.__version__)'", timeout=120
    )
    assert version.strip() == "2.13.0+cpu"
    pip_conf = host.sh("cat /opt/llmhost/venvs/vllm-cpu-current/pip.conf")
    assert f"extra-index-url =\n    http://127.0.0.1:{INDEX_PORT}/simple\n" in pip_conf and "find-links" not in pip_conf
    assert host.sh("ls /opt/wheels /etc/pip.conf 2>&1 || true").count("No such file") == 2
