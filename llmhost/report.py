"""Human and JSON renderings of plans (`llmhost plan`), of the fleet now (`llmhost status`) and of
where a host's services answer (`llmhost serve`, `llmhost status`)."""

from __future__ import annotations

import json

from llmhost.plan import HostPlan, ServicePlan

_ROWS = (
    ("engine", lambda s: f"{s.engine.engine} {s.engine.version} ({s.engine.variant})"),
    ("dtype", lambda s: s.dtype),
    ("quantization", lambda s: s.quantization or "-"),
    ("tensor parallel", lambda s: str(s.tensor_parallel_size)),
    ("pipeline parallel", lambda s: str(s.pipeline_parallel_size)),
    ("gpu memory util", lambda s: "-" if s.gpu_memory_utilization is None else f"{s.gpu_memory_utilization:.2f}"),
    ("max model len", lambda s: str(s.max_model_len) if s.max_model_len else "the model's own (read by the engine)"),
    ("max num seqs", lambda s: str(s.max_num_seqs)),
    ("listen", lambda s: f"{s.bind}:{s.port} (model name {s.served_model_name})"),
)


def service_text(service: ServicePlan) -> str:
    lines = [f"  service {service.name}"]
    lines += [f"    {label:<18} {value(service)}" for label, value in _ROWS]
    lines.append("    argv               " + " ".join(service.argv))
    lines += [f"    env                {k}={v}" for k, v in service.env]
    lines.append("    why:")
    lines += [f"      - {reason}" for reason in service.reasons]
    return "\n".join(lines)


def host_text(name: str, plan: HostPlan) -> str:
    lines = [f"host {name}: supervisor {plan.supervisor}; packages {', '.join(plan.system_packages)}"]
    if plan.disk_free_bytes is not None:
        lines.append(f"  disk free under {plan.root}: {plan.disk_free_bytes / 2**30:.1f} GiB")
    lines += [f"  - {reason}" for reason in plan.reasons]
    lines += [service_text(s) for s in plan.services]
    if plan.gateway:
        g = plan.gateway
        lines.append(f"  gateway {g.unit}: {g.engine.engine} {g.engine.version} on {g.bind}:{g.port}")
        lines += [f"    {d.group:<18} {d.api_base} ({d.id})" for d in g.deployments]
        lines += [f"    alias {a} -> {t}" for a, t in g.aliases]
        lines += [f"    fallback {grp} -> {', '.join(t)}" for grp, t in g.fallbacks]
        lines.append("    argv               " + " ".join(g.argv))
    if plan.webui:
        w = plan.webui
        lines.append(
            f"  webui {w.unit}: Open WebUI {w.engine.version} on {w.bind}:{w.port}, admin {w.admin_email}, "
            f"default model {w.default_model}"
        )
        lines += [f"    connection {url} ({what})" for url, what in w.connections]
        lines += [f"    ollama {w.ollama_url}"] if w.ollama_url else []
        lines.append("    argv               " + " ".join(w.argv))
    if plan.monitoring:
        m = plan.monitoring
        lines.append(
            f"  monitoring: Prometheus on {m.bind}:{m.port}, every {m.scrape_interval}, {len(m.rules)} alert rules"
        )
        lines += [f"    scrape {t.job:<24} {t.kind:<10} http://{t.address}{t.metrics_path}" for t in m.targets]
    return "\n".join(lines)


def host_json(plan: HostPlan) -> dict:
    return {
        "supervisor": plan.supervisor,
        "system_packages": list(plan.system_packages),
        "reasons": list(plan.reasons),
        "services": {s.name: {**s.summary(), "supervisor": plan.supervisor} for s in plan.services},
        "engines": {
            e.venv: {
                "engine": e.engine,
                "version": e.version,
                **e.summary(),
                "requirements": list(e.requirements),
                "remove": list(e.remove),
                "check": list(e.check),  # what a new venv must pass before the link moves to it
            }
            for e in plan.engines
        },
        **({"gateway": plan.gateway.summary()} if plan.gateway else {}),
        **({"webui": plan.webui.summary()} if plan.webui else {}),
        **({"monitoring": plan.monitoring.summary()} if plan.monitoring else {}),
    }


def dumps(obj) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)


def green(status: dict) -> bool:
    """A host whose services all run, answer and hold their models (a gateway or a web UI holds none: "-"), and
    which no serve run would change."""
    return not status["drift"] and all(
        s["running"] and s["healthy"] and s["manifest"] in ("ok", "-") for s in status["services"].values()
    )


_STATUS = (
    ("SERVICE", lambda n, s: n),
    ("STATE", lambda n, s: s["state"] or "unknown (no llmhost-hosttool status on the host)"),
    ("SINCE", lambda n, s: s["since"] or "-"),
    ("RESTARTS", lambda n, s: "-" if s["restarts"] is None else str(s["restarts"])),
    ("HEALTH", lambda n, s: "ok" if s["healthy"] else (s["health"] or "no answer")),
    ("MODEL", lambda n, s: s["model"]),
    ("MANIFEST", lambda n, s: s["manifest"]),
    ("ENGINE", lambda n, s: s["engine"]),
    ("LISTEN", lambda n, s: s["listen"]),
)


def load_text(load: dict | None) -> str:
    """A service's live load as Prometheus has it (``PrometheusLoad``'s values of one host/service)."""
    if not load:
        return "-"
    parts = []
    if "running" in load or "waiting" in load:
        parts.append(f"{load.get('running', 0):g} running, {load.get('waiting', 0):g} waiting")
    if "tokens_per_second" in load:
        parts.append(f"{load['tokens_per_second']:.1f} tok/s")
    if "requests_per_second" in load:
        parts.append(f"{load['requests_per_second']:.2f} req/s")
    if "kv_cache_usage" in load:
        parts.append(f"KV {load['kv_cache_usage']:.0%}")
    if "ttft_p95_seconds" in load:
        parts.append(f"TTFT p95 {load['ttft_p95_seconds']:.2f}s")
    return ", ".join(parts) or "-"


def status_text(hosts: dict) -> str:
    """`llmhost status` as a table per host (with each service's live load where a host of the
    inventory monitors it), then each host's drift (what a serve run would change) and the alerts
    firing."""
    loads = {where: v for st in hosts.values() for where, v in (st.get("monitoring") or {}).get("load", {}).items()}
    columns = (*_STATUS[:5], ("LOAD (1m)", lambda n, s: load_text(loads.get(f"{s['_host']}/{n}"))), *_STATUS[5:])
    rows = [("HOST", *(label for label, _ in columns))]
    for host, status in sorted(hosts.items()):
        rows += [
            (host, *(value(name, {**s, "_host": host}) for _, value in columns))
            for name, s in sorted(status["services"].items())
        ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for host, status in sorted(hosts.items()):
        if status["drift"]:
            lines.append(f"{host}: drift, a serve run would change: " + "; ".join(status["drift"]))
        else:
            lines.append(f"{host}: no drift" + ("" if green(status) else "; not every service is running and healthy"))
    for host, status in sorted(hosts.items()):
        m = status.get("monitoring")
        if not m:
            continue
        if m.get("error"):
            lines.append(f"{host}: Prometheus at {m['url']} did not answer: {m['error']}")
        else:
            firing = m.get("alerts") or []
            lines.append(
                f"{host}: Prometheus at {m['url']}: "
                + (f"alerts firing: {'; '.join(firing)}" if firing else "no alert firing")
            )
    return "\n".join(lines)


def endpoints(address: str, plan: HostPlan, secret_files: dict[str, str]) -> dict:
    """Where a host's services answer, for a client elsewhere (``address``: how it reaches the
    host; a loopback bind is reached on the host itself): each service's OpenAI base URL and model
    name, the gateway's and the web page's URLs, and for each key where it is kept: the data, a
    file on the host, or (``secret_files``) a file on the controller; never the key."""

    def url(bind: str, port: int) -> str:
        where = address if bind in ("0.0.0.0", "::") else bind
        return f"http://{f'[{where}]' if ':' in where else where}:{port}"

    def key(s) -> str:
        if s.key_file:
            return f"on the host: {s.key_file}"
        return "from the data (api_key)" if s.secret_env else "none"

    out = {
        "services": {
            s.name: {"url": f"{url(s.bind, s.port)}/v1", "model": s.served_model_name, "key": key(s)}
            for s in plan.services
            if not s.headless
        }
    }
    if plan.gateway:
        g = plan.gateway
        where = secret_files.get("gateway-master-key")
        out["gateway"] = {
            "url": f"{url(g.bind, g.port)}/v1",
            "models": list(g.names),
            "key": f"on the controller: {where}" if where else "from the data (llmhost_gateway.master_key)",
        }
    if plan.webui:
        w = plan.webui
        where = secret_files.get("webui-admin-password")
        out["webui"] = {
            "url": url(w.bind, w.port),
            "admin": w.admin_email,
            "password": f"on the controller: {where}" if where else "from the data (llmhost_webui.admin_password)",
        }
    if plan.monitoring:
        m = plan.monitoring
        out["monitoring"] = {"prometheus": f"{m.url}/consoles/llmhost.html"}
        if m.grafana_port:
            where = secret_files.get("grafana-admin-password")
            out["monitoring"]["grafana"] = f"http://127.0.0.1:{m.grafana_port}"
            out["monitoring"]["password"] = f"admin, password on the controller: {where}"
    return out


def endpoints_text(hosts: dict) -> str:
    """The endpoints of each host (``endpoints()``'s, by host name) as one table."""
    rows = [("HOST", "WHAT", "URL", "MODEL", "KEY")]
    for host, e in sorted(hosts.items()):
        rows += [(host, f"service {n}", s["url"], s["model"], s["key"]) for n, s in sorted(e["services"].items())]
        if "gateway" in e:
            g = e["gateway"]
            rows.append((host, "gateway", g["url"], ", ".join(g["models"]), g["key"]))
        if "webui" in e:
            w = e["webui"]
            rows.append((host, "web page", w["url"], "-", f"{w['admin']}, password {w['password']}"))
        if "monitoring" in e:
            m = e["monitoring"]
            rows.append((host, "Prometheus (loopback: ssh -L)", m["prometheus"], "-", "none"))
            if "grafana" in m:
                rows.append((host, "Grafana (loopback: ssh -L)", m["grafana"], "-", m["password"]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)
