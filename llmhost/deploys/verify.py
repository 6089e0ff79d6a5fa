"""Layer: every service answers /health and a real chat completion; so does the gateway, for each
model group and alias, with its master key (and refuses a request without it); the web UI signs its
admin in, lists the default model and chats with it through its own API; Prometheus scrapes every
target it was given, each up."""

from __future__ import annotations

from pyinfra.api import deploy

from llmhost.operations import endpoint
from llmhost.plan import HostPlan, SupervisedProcess


def _ready(plan: HostPlan, supervised: SupervisedProcess, name: str, model: str, python: str, **more) -> None:
    """Health, then a chat completion for ``model``, of a service or the gateway (its supervisor's
    unit ends the wait at once when it dies; its log names why)."""
    endpoint.ready(
        name=name,
        url=supervised.health_url,
        model=model,
        python=python,
        tool=plan.tool,
        env_files=list(supervised.secret_files),
        log=supervised.log,
        timeout=plan.health_timeout,
        health_path=supervised.health_path,
        supervisor=plan.supervisor,
        unit=supervised.unit,
        errors=list(supervised.errors),
        **more,
    )


@deploy("llmhost verify layer")
def apply(plan: HostPlan) -> None:
    # a headless worker of a service across hosts has no API: its head's check answers only once
    # every node has joined (vLLM's /health on the head), so that one check covers the whole cluster
    for service in (s for s in plan.services if not s.headless):
        # the engine's own Python; a built or unpacked engine (llama.cpp, Ollama) has none: the host's
        _ready(
            plan,
            service,
            f"Health and chat of {service.unit} at {service.health_url}",
            service.served_model_name,
            plan.python if service.engine.binary else service.engine.python_bin,
        )
    gateway = plan.gateway
    for name in gateway.names if gateway else ():
        _ready(
            plan,
            gateway,
            f"Chat through {gateway.unit} at {gateway.health_url} as {name!r} (with the master key; none: 401)",
            name,
            plan.python,
            refused_without_key=True,
        )
    m = plan.monitoring
    if m:
        endpoint.prometheus_ready(
            name=f"Prometheus at {m.url} scrapes its {len(m.targets)} targets, {len(m.rules)} alert rules loaded",
            url=m.url,
            python=plan.python,
            tool=plan.tool,
            rules=len(m.rules),
            targets=len(m.targets),
            timeout=plan.health_timeout,
            alertmanagers=1 if m.alertmanager_port else 0,
            grafana=f"http://127.0.0.1:{m.grafana_port}" if m.grafana_port else None,
        )
    ui = plan.webui
    if ui:
        _ready(
            plan,
            ui,
            f"Sign in to {ui.unit} at {ui.health_url} as {ui.admin_email} and chat with "
            f"{ui.default_model!r} through it",
            ui.default_model,
            plan.python,
            signin=ui.admin_email,
        )
