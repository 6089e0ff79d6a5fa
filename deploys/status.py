"""The fleet as it is now, read-only: `llmhost status INVENTORY` runs this with `--dry`.

    llmhost status inventories/a800.py     (runs: pyinfra INVENTORY deploys/status.py --dry)

Per host, one JSON line: each service's (the gateway's, the web UI's, Prometheus's) supervisor state, restarts,
health, model manifest, engine, listen address; the live load of the services its Prometheus watches; and the drift: the operations a serve run would change now (pyinfra's own check of
every layer against the host's facts; those gated by `_if` follow from others and are left out).
"""

import json

from pyinfra import host, state

from llmhost.deploys import serve
from llmhost.deploys.inputs import host_endpoints, host_planned
from llmhost.facts.model import EngineState, ModelDir
from llmhost.facts.monitoring import PrometheusLoad
from llmhost.manifest import stale_files
from llmhost.plan import LOAD_QUERIES, applicable

settings, plan = host_planned(host, write_secrets=False)
plan = applicable(plan)
serve(plan)  # with --dry (and no -y) pyinfra only checks what each operation would change

services = {}
for service in plan.services:
    live = host.get_fact(
        EngineState,
        python=plan.python,
        tool=plan.tool,
        supervisor=plan.supervisor,
        unit=service.unit,
        url=service.health_url,
        health_path=service.health_path,
        log=service.log,
    )
    model = host.get_fact(ModelDir, path=service.model.path, manifest=service.model.manifest)
    manifest = model["manifest"]
    services[service.name] = {
        **live,
        "unit": service.unit,
        "model": service.served_model_name,
        "manifest": "missing" if not manifest else "changed" if stale_files(manifest, model) else "ok",
        "engine": f"{service.engine.engine} {service.engine.version}",
        "listen": f"headless worker of {service.nodes[0]}" if service.headless else f"{service.bind}:{service.port}",
    }
# the gateway and the web UI: a row each, with the names they answer for or list; they hold no model
for name, g in (("gateway", plan.gateway), ("webui", plan.webui)):
    if g:
        live = host.get_fact(
            EngineState,
            python=plan.python,
            tool=plan.tool,
            supervisor=plan.supervisor,
            unit=g.unit,
            url=g.health_url,
            health_path=g.health_path,
            log=g.log,
        )
        services[name] = {
            **live,
            "unit": g.unit,
            "model": ", ".join(g.names),
            "manifest": "-",
            "engine": f"{g.engine.engine} {g.engine.version}",
            "listen": f"{g.bind}:{g.port}",
        }
monitoring = None
if plan.monitoring:  # Prometheus and its exporter: a row each; the load of every service it watches
    m = plan.monitoring
    rows = [
        ("prometheus", m.unit, m.port, "/-/healthy"),
        ("node-exporter", m.exporter_unit, m.exporter_port, "/metrics"),
    ]
    if m.alertmanager_port:
        rows.append(("alertmanager", m.alertmanager_unit, m.alertmanager_port, "/-/healthy"))
    if m.grafana_port:
        rows.append(("grafana", m.grafana_unit, m.grafana_port, "/api/health"))
    for name, unit, port, health in rows:
        live = host.get_fact(
            EngineState,
            python=plan.python,
            tool=plan.tool,
            supervisor="systemd",
            unit=unit,
            url=f"http://127.0.0.1:{port}",
            health_path=health,
            log="",
        )
        services[name] = {
            **live,
            "unit": unit,
            "model": "-",
            "manifest": "-",
            "engine": f"{unit} (package)",
            "listen": f"127.0.0.1:{port}",
        }
    monitoring = {
        "url": m.url,
        **host.get_fact(PrometheusLoad, python=plan.python, tool=plan.tool, url=m.url, queries=LOAD_QUERIES),
    }
drift = []
for op_hash in host.op_hash_order:
    data = state.get_op_data_for_host(host, op_hash)
    if data.operation_meta.will_change and not data.global_arguments.get("_if"):
        drift.append(min(state.get_op_meta(op_hash).names).split(" | ", 1)[-1])
status = {"services": services, "drift": drift, "endpoints": host_endpoints(host, settings, plan)}
if monitoring:
    status["monitoring"] = monitoring
print(json.dumps({"host": host.name, "status": status}, sort_keys=True), flush=True)
