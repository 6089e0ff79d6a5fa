"""The variables each template receives, computed from the plan (layers and tests share them).

Templates get every value explicitly, already shell-quoted where they land in a shell script;
nothing here reads the host or the clock, so the rendered bytes depend on the plan alone.
"""

from __future__ import annotations

import shlex

from llmhost.plan import (
    LOAD_QUERIES,
    AptPlan,
    CondaPlan,
    CudaPlan,
    EnginePlan,
    GatewayPlan,
    MonitoringPlan,
    OllamaPlan,
    ServicePlan,
    SupervisedProcess,
)

RESTART_DELAY_SECONDS = 10
# systemd gives up after this many failed starts within the interval (then `systemctl reset-failed`).
START_LIMIT_BURST = 5
START_LIMIT_INTERVAL_SECONDS = 600


def _systemd_quote(value: str, command: bool = False) -> str:
    """Quote one word for systemd (systemd.syntax(7)): backslash and double quote escaped, "%"
    specifiers doubled; in command lines "$" expands variables, so it is doubled there too."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%")
    if command:
        escaped = escaped.replace("$", "$$")
    return f'"{escaped}"'


def _header(service: SupervisedProcess) -> dict:
    """What the header comment of a supervisor file says about its service."""
    return {
        "unit": service.unit,
        "engine": service.engine.engine,
        "engine_version": service.engine.version,
        "served_model_name": service.served_model_name,
        "bind": service.bind,
        "port": service.port,
    }


def launcher_vars(service: SupervisedProcess, nofile: int, python: str, tool: str, user: str | None) -> dict:
    """tmux: the launcher starts ``service.argv`` through ``llmhost-hosttool exec`` run by ``python``
    (isolated: -I), which reads the secret files itself and switches to ``user``."""
    exec_args = [*(("--user", user) if user else ())]
    exec_args += [part for k, v in service.env for part in ("--env", f"{k}={v}")]
    exec_args += [part for f in service.secret_files for part in ("--env-file", f)]
    return {
        **_header(service),
        "nofile": nofile,
        "secret_files": list(service.secret_files),
        "run_as": user or "the launcher's",
        "restart_delay": RESTART_DELAY_SECONDS,
        "log_q": shlex.quote(service.log),
        "exec_q": [shlex.quote(a) for a in (python, "-I", tool, "exec", *exec_args, "--")],
        "argv_q": [shlex.quote(a) for a in service.argv],
    }


def unit_vars(service: SupervisedProcess, user: str, workdir: str, nofile: int) -> dict:
    return {
        **_header(service),
        "nofile": nofile,
        "service_user": user,
        "workdir": workdir,
        "environment": [_systemd_quote(f"{k}={v}") for k, v in service.env],
        "secret_files": list(service.secret_files),
        "exec_start": " ".join(_systemd_quote(a, command=True) for a in service.argv),
        "restart_delay": RESTART_DELAY_SECONDS,
        "start_limit_interval": START_LIMIT_INTERVAL_SECONDS,
        "start_limit_burst": START_LIMIT_BURST,
        "log": service.log,
    }


def ollama_unit_vars(ollama: OllamaPlan) -> dict:
    """The official unit of Ollama's Linux install, as its docs write it (settings go in the drop-in)."""
    return {"bin_link": ollama.bin_link, "account": ollama.user}


def ollama_override_vars(ollama: OllamaPlan, nofile: int) -> dict:
    return {
        "nofile": nofile,
        "version": ollama.engine.version,
        "environment": [_systemd_quote(f"{k}={v}") for k, v in ollama.env],
        "cpu_affinity": ollama.cpu_affinity,
        "log": ollama.log,
        "unit": ollama.unit,
    }


def ollama_launcher_vars(services: list[ServicePlan], nofile: int, python: str, tool: str, user: str | None) -> dict:
    """tmux: the daemon's launcher (the ollama services share it: same argv and environment)."""
    return {
        **launcher_vars(services[0], nofile, python, tool, user),
        "served_model_name": ", ".join(s.served_model_name for s in services),
    }


def env_file_vars(service: SupervisedProcess) -> dict:
    for key, value in service.secret_env:
        if "\n" in value or "\r" in value:
            raise ValueError(f"{key} of {service.name} contains a newline")
    return {"unit": service.unit, "secret_env": service.secret_env}


def pip_conf_vars(engine: EnginePlan) -> dict:
    return {
        "venv": engine.venv,
        "index_url": engine.pip_index_url,
        "extra_index_urls": list(engine.pip_extra_index_urls),
        "find_links": list(engine.pip_find_links),
        "no_index": engine.pip_no_index,
        "timeout": engine.pip_timeout,
        "retries": engine.pip_retries,
    }


def cuda_profile_vars(cuda: CudaPlan) -> dict:
    return {"link": cuda.link, "version": cuda.version}


def condarc_vars(conda: CondaPlan) -> dict:
    return {"prefix": conda.prefix, "forge_base": conda.forge_base}


def apt_sources_vars(apt: AptPlan) -> dict:
    return {
        "file": apt.file,
        "backup_file": apt.backup,
        "mirror_name": apt.mirror_name,
        "uri": apt.uri,
        "suites": list(apt.suites),
        "components": apt.components,
        "keyring": apt.keyring,
        "security_uri": apt.security_uri,
        "security_suite": apt.security_suite,
    }


def gateway_config(gateway: GatewayPlan) -> str:
    """LiteLLM's config.yaml: every backend under its model group, the router's aliases, fallbacks,
    retries and cooldown, Prometheus on. No secret in it: keys are ``os.environ/`` references to the
    gateway's env file. YAML from the plan alone (sorted, no timestamps): same plan, same bytes."""
    import yaml

    models = []
    for d in gateway.deployments:
        params = {
            "model": d.model,
            "api_base": d.api_base,
            # the openai provider needs some key; a backend without one ignores it
            "api_key": f"os.environ/{d.key_var}" if d.key_var else "none",
            "timeout": gateway.timeout,
        }
        models.append({"model_name": d.group, "litellm_params": params, "model_info": {"id": d.id}})
    router = {
        "routing_strategy": "simple-shuffle",
        "num_retries": gateway.num_retries,
        "timeout": gateway.timeout,
        "allowed_fails": gateway.allowed_fails,
        "cooldown_time": gateway.cooldown_time,
    }
    if gateway.aliases:
        router["model_group_alias"] = dict(gateway.aliases)
    if gateway.fallbacks:
        router["fallbacks"] = [{group: list(targets)} for group, targets in gateway.fallbacks]
    config = {
        "model_list": models,
        "router_settings": router,
        # /metrics (Prometheus) on the proxy's port, behind the master key
        "litellm_settings": {"callbacks": ["prometheus"], "require_auth_for_metrics_endpoint": True},
        "general_settings": {"master_key": "os.environ/LITELLM_MASTER_KEY"},
    }
    header = (
        f"# {gateway.unit}: LiteLLM {gateway.engine.version} in front of {len(gateway.deployments)} backend(s).\n"
        "# Rendered by llmhost from the host plan; changes here are overwritten on the next run.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)


def monitoring_dropin_vars(monitoring: MonitoringPlan, unit: str) -> dict:
    """A drop-in that replaces the package's ExecStart with llmhost's argv (Prometheus's or the node exporter's)."""
    argv = monitoring.units[unit]
    return {"unit": unit, "exec_start": " ".join(_systemd_quote(a, command=True) for a in argv)}


def prometheus_config(monitoring: MonitoringPlan) -> str:
    """Prometheus's config: one scrape job per target (each its own key, read from a file: no
    secret in it), labelled host/service/kind, and llmhost's rules. From the plan alone."""
    import yaml

    global_ = {"scrape_interval": monitoring.scrape_interval, "evaluation_interval": monitoring.scrape_interval}
    if monitoring.scrape_timeout:
        global_["scrape_timeout"] = monitoring.scrape_timeout
    jobs = []
    for t in monitoring.targets:
        job = {
            "job_name": t.job,
            "metrics_path": t.metrics_path,
            "static_configs": [
                {"targets": [t.address], "labels": {"host": t.host, "service": t.service, "kind": t.kind}}
            ],
        }
        if t.credentials:
            job["authorization"] = {"type": "Bearer", "credentials_file": t.credentials}
        jobs.append(job)
    config = {"global": global_, "rule_files": [monitoring.rules_file], "scrape_configs": jobs}
    if monitoring.alertmanager_port:
        config["alerting"] = {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{monitoring.alertmanager_port}"]}]}]
        }
    header = (
        f"# Prometheus for llmhost: {len(monitoring.targets)} targets (llmhost_monitoring).\n"
        "# Rendered by llmhost from the host plan; changes here are overwritten on the next run.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)


def prometheus_rules(monitoring: MonitoringPlan) -> str:
    """llmhost's alert rules, in one group (Prometheus's rule file format)."""
    import yaml

    rules = [
        {
            "alert": r.name,
            "expr": r.expr,
            **({"for": r.for_} if r.for_ != "0s" else {}),
            "labels": {"severity": r.severity, **dict(r.labels)},
            "annotations": {"summary": r.summary},
        }
        for r in monitoring.rules
    ]
    header = "# llmhost's alert rules (llmhost_monitoring); overwritten on the next run.\n"
    return header + yaml.safe_dump(
        {"groups": [{"name": "llmhost", "rules": rules}]}, sort_keys=False, default_flow_style=False, allow_unicode=True
    )


def credentials_text(target) -> str:
    """A target's key as Prometheus reads a credentials_file (the whole file, trimmed)."""
    if not target.token or any(c in target.token for c in "\r\n"):
        raise ValueError(f"the key of {target.job} is empty or holds a newline")
    return f"{target.token}\n"


def alertmanager_config(monitoring: MonitoringPlan) -> str:
    """Alertmanager's config: every alert to one receiver (the data's webhook and/or e-mail), grouped
    by alert and service, resolved ones too. The SMTP password is a file it reads (never in here);
    the webhook's URL is (Alertmanager 0.25 reads no URL from a file): the file is 0640."""
    import yaml

    receiver: dict = {"name": "llmhost"}
    if monitoring.webhook:
        receiver["webhook_configs"] = [{"url": monitoring.webhook, "send_resolved": True}]
    email = dict(monitoring.email)
    if email:
        mail = {"to": email["to"], "from": email["from"], "smarthost": email["smarthost"], "send_resolved": True}
        if "username" in email:
            mail["auth_username"] = email["username"]
        if monitoring.smtp_password_file:
            mail["auth_password_file"] = monitoring.smtp_password_file
        receiver["email_configs"] = [mail]
    config = {
        "route": {
            "receiver": "llmhost",
            "group_by": ["alertname", "host", "service"],
            "group_wait": "10s",
            "group_interval": "1m",
            "repeat_interval": "4h",
        },
        "receivers": [receiver],
    }
    header = "# Alertmanager for llmhost (llmhost_monitoring); overwritten on the next run.\n"
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, allow_unicode=True)


def prometheus_console(queries: tuple[tuple[str, str], ...] = LOAD_QUERIES) -> str:
    """A page of Prometheus's own (/consoles/llmhost.html, a Go template it renders at each view)
    for hosts without Grafana: every watched service and gateway, up or not, with ``queries``'
    values (`llmhost status`'s load, the same PromQL), and the alerts firing."""
    heads = "".join(f"<th>{name.replace('_', ' ')}</th>" for name, _ in queries)
    cells = "".join(
        "<td>{{ range query `" + query + "` }}{{ if and (eq .Labels.host $h) (eq .Labels.service $s) }}"
        '{{ printf "%.4g" .Value }}{{ end }}{{ end }}</td>'
        for _, query in queries
    )
    return (
        "{{/* llmhost (llmhost_monitoring): its services as Prometheus sees them; overwritten on the next run */}}\n"
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="15">'
        "<title>llmhost</title></head><body>\n"
        "<h1>llmhost: the services Prometheus watches</h1>\n"
        f'<table border="1"><tr><th>host/service</th><th>kind</th><th>up</th>{heads}</tr>\n'
        '{{ range query `up{kind!~"node|prometheus|alertmanager"}` | sortByLabel "job" }}'
        "{{ $h := .Labels.host }}{{ $s := .Labels.service }}"
        "<tr><td>{{ .Labels.job }}</td><td>{{ .Labels.kind }}</td><td>{{ .Value }}</td>"
        f"{cells}</tr>\n{{{{ end }}}}</table>\n"
        '<h2>Alerts firing</h2>\n<ul>{{ range query `ALERTS{alertstate="firing"}` | sortByLabel "alertname" }}'
        "<li>{{ .Labels.alertname }} {{ .Labels.host }}/{{ .Labels.service }}</li>{{ else }}<li>none</li>{{ end }}</ul>\n"
        "</body></html>\n"
    )


def grafana_dropin_vars(monitoring: MonitoringPlan) -> dict:
    return {
        "unit": monitoring.grafana_unit,
        "environment": [_systemd_quote(f"{k}={v}") for k, v in monitoring.grafana_env],
    }


def grafana_sources(monitoring: MonitoringPlan) -> str:
    """The APT source of Grafana's repository, trusted only with its keyring."""
    return (
        "# Grafana's APT repository (llmhost_monitoring.grafana); overwritten on the next run.\n"
        f"deb [signed-by={monitoring.grafana_keyring}] {monitoring.grafana_repo} stable main\n"
    )


def grafana_provisioning(monitoring: MonitoringPlan) -> tuple[str, str]:
    """Grafana's provisioning files: Prometheus as its data source (the dashboards' uid), and the
    directory of llmhost's dashboards (read-only in its UI; rescanned every 30 s)."""
    import yaml

    from llmhost.dashboards import DATASOURCE

    header = "# llmhost_monitoring; overwritten on the next run.\n"
    source = {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus (llmhost)",
                "uid": DATASOURCE["uid"],
                "type": DATASOURCE["type"],
                "access": "proxy",
                "url": monitoring.url,
                "isDefault": True,
                "editable": False,
            }
        ],
    }
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "llmhost",
                "folder": "llmhost",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 30,
                "options": {"path": monitoring.dashboards_dir},
            }
        ],
    }
    return header + yaml.safe_dump(source, sort_keys=False), header + yaml.safe_dump(provider, sort_keys=False)
