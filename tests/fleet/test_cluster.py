"""One vLLM across two hosts (a service with ``nodes``), for real: two systemd hosts in Docker, one
pipeline stage each (vLLM's CPU build, pipeline parallel 2, vLLM's own multi-node mode over the
Docker bridge: llmhost_cluster_interface eth0). Host a is the head (API server, rank 0), b a
headless worker (rank 1). The chat on the head proves the cluster serves: vLLM answers /health only
once both ranks have joined, and each token passes both stages. Then a second run changes nothing,
the worker's drifted env file restarts both nodes (a head cannot rejoin the old worker, nor a new
worker the running head), `llmhost status`
names b a headless worker, and the service leaving the data is torn down on both.

Cost in CI (the 2-core AMD machine, 2026-12-07): both hosts start from the served image (the
engine's venv installed), so the first run renders each node's unit and starts both (53 s; 197 s
when both were served cold); a no-op run 2.5 s; the restart of both ~37 s; status and the teardown
~15 s. The module that asks first for the served image pays for it (~170 s: a cold serve and the
commit), in CI this one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.fleet import harness
from tests.helpers import REPO, pyinfra, serve_ok

pytestmark = pytest.mark.fleet

BASE = {
    "llmhost_wheelhouse": "build/wheelhouse",
    "llmhost_torch_index_url": None,
    "llmhost_health_timeout": 420,
    "llmhost_cluster_interface": "eth0",
}
KEY = "key-of-the-cluster"


def inventory(hosts, services: bool = True, remove_all: bool = False, **changes) -> str:
    """Both hosts in one group with the same data (the service given alike to its nodes)."""
    a, b = hosts
    service = {
        "name": "tiny",
        "model": "./build/models/tiny-qwen2",
        "engine": "vllm-cpu",
        "nodes": [a.ip, b.ip],
        "host": "0.0.0.0",
        "api_key": KEY,
        **changes,
    }
    data = {**BASE, "llmhost_services": [service] if services else [], "llmhost_remove_all": remove_all}
    return str(harness.write_inventory(harness.STATE / "cluster.py", list(hosts), data))


def serve(inv: str, label: str):
    return serve_ok(inv, f"fleet cluster: {label}")


def chat(head) -> dict:
    body = json.dumps({"model": "tiny", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8})
    out = head.sh(
        f"curl -sf http://127.0.0.1:8000/v1/chat/completions -H 'Authorization: Bearer {KEY}' "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )
    return json.loads(out)


def pid(host) -> str:
    return host.sh("systemctl show -p MainPID --value llmhost-tiny").strip()


@pytest.fixture(scope="module")
def hosts(fleet, served_image):
    """Two hosts from the served image (the engine installed, its unit stopped)."""
    pair = fleet("llmhost-fleet-cl-a", image=served_image), fleet("llmhost-fleet-cl-b", image=served_image)
    yield pair
    if os.environ.get("LLMHOST_FLEET_KEEP") != "1":  # two engines' venvs: their disk is free for the tests after
        for name in ("llmhost-fleet-cl-a", "llmhost-fleet-cl-b"):
            harness.stop_host(name)


@pytest.fixture(scope="module")
def cold(hosts):
    """The cluster served cold on both hosts."""
    return serve(inventory(hosts), "cold: one vLLM across two hosts")


@pytest.fixture
def cluster(hosts, cold):
    """Both nodes serving the cluster as the data has it (what an earlier test changed converged
    back first): each test also runs alone (`pytest -k`)."""
    serve(inventory(hosts), "converged to the cluster's data")
    return hosts


def test_two_hosts_serve_one_model_one_stage_each(hosts, cold):
    a, b = hosts
    assert [host.sh("systemctl is-active llmhost-tiny").strip() for host in hosts] == ["active", "active"]
    reply = chat(a)
    assert reply["usage"]["completion_tokens"] == 8 and reply["model"] == "tiny"
    head_log, worker_log = (h.sh("cat /opt/llmhost/logs/tiny.log") for h in hosts)
    # the rendezvous over the bridge: both ranks in one world, at the head's address on eth0
    assert re.search(rf"world_size=2 rank=0 .*distributed_init_method=tcp://{re.escape(a.ip)}:29501", head_log)
    assert re.search(rf"world_size=2 rank=1 .*distributed_init_method=tcp://{re.escape(a.ip)}:29501", worker_log)
    assert "headless multiproc executor" in worker_log and "PP rank 1" in worker_log
    # the worker serves no API: nothing listens on the head's port there
    assert b.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health", check=False).strip() == "000"
    unit = b.sh("cat /etc/systemd/system/llmhost-tiny.service")
    assert 'llmhost-hosttool" "vllm-node"' in unit and '"--node-rank" "1"' in unit and '"--headless"' in unit
    assert f'"VLLM_HOST_IP={b.ip}"' in unit and '"GLOO_SOCKET_IFNAME=eth0"' in unit


def test_a_second_run_changes_nothing(cluster):
    run = serve(inventory(cluster), "no-op re-run of the cluster")
    assert run.changed == [], run.changed


def test_a_worker_that_drifted_restarts_the_head_too(cluster):
    """Only b's files change (its env file edited by hand, put back by the run): b restarts, and so
    does a (a new worker cannot join the running head); then the cluster serves again."""
    a, b = hosts = cluster
    before = (pid(a), pid(b))
    b.sh("echo 'EXTRA=1' >> /etc/llmhost/tiny.env")
    run = serve(inventory(hosts), "the worker's env file drifted: both nodes restarted")
    ops = {op["name"].split(" | ")[-1]: op for op in run.results["operations"]}
    assert ops["Env file of llmhost-tiny"]["success"] == [b.ip]  # only b's files changed, and both restarted:
    assert sorted(ops["Restart llmhost-tiny (argv, environment, engine or model changed)"]["success"]) == sorted(
        [a.ip, b.ip]
    )
    after = (pid(a), pid(b))
    assert before[0] != after[0] and before[1] != after[1], (before, after)
    assert "EXTRA" not in b.sh("cat /etc/llmhost/tiny.env")
    assert chat(a)["usage"]["completion_tokens"] == 8


def test_status_names_the_worker_headless(cluster):
    a, b = hosts = cluster
    exe = REPO / ".venv" / "bin" / "llmhost"
    out = subprocess.run(
        [str(exe) if exe.exists() else "llmhost", "status", inventory(hosts), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    status = json.loads(out.stdout)
    head, worker = status[a.ip]["services"]["tiny"], status[b.ip]["services"]["tiny"]
    assert head["healthy"] and head["health"] == "HTTP 200"
    assert worker["running"] and worker["health"] == "headless worker (its head answers /health)"
    assert worker["listen"] == f"headless worker of {a.ip}" and head["listen"] == "0.0.0.0:8000"
    assert status[a.ip]["drift"] == status[b.ip]["drift"] == []


def test_the_service_leaving_the_data_is_torn_down_on_both(cluster):
    """Data that lists nothing while the service runs is refused before any change (group data not
    read looks the same); with llmhost_remove_all the service goes from both nodes."""
    hosts = cluster
    refused = pyinfra(inventory(hosts, services=False), "deploys/serve.py")
    assert refused.rc != 0 and refused.results is None, refused.stderr[-2000:]
    assert "llmhost_services: this host's data lists no service, gateway or web UI, and the run would stop 1" in (
        refused.stderr
    )
    assert [host.sh("systemctl is-active llmhost-tiny", check=False).strip() for host in hosts] == ["active"] * 2
    serve(inventory(hosts, services=False, remove_all=True), "the cluster torn down")
    states = [host.sh("systemctl is-active llmhost-tiny", check=False).strip() for host in hosts]
    assert len(states) == 2 and set(states) <= {"inactive", "unknown"}, states
    units = [
        host.sh("test -e /etc/systemd/system/llmhost-tiny.service && echo yes || echo no").strip() for host in hosts
    ]
    assert units == ["no", "no"]
