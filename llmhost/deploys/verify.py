"""Layer: every service answers /health and a real chat completion; so does the gateway, for each
model group and alias, with its master key (and refuses a request without it)."""

from __future__ import annotations

from pyinfra.api import deploy

from llmhost.operations import endpoint
from llmhost.plan import HostPlan


@deploy("llmhost verify layer")
def apply(plan: HostPlan) -> None:
    for service in plan.services:
        endpoint.ready(
            name=f"Health and chat of {service.unit} at {service.health_url}",
            url=service.health_url,
            model=service.served_model_name,
            # the engine's own Python; a built or unpacked engine (llama.cpp, Ollama) has none: the host's
            python=plan.python if service.engine.binary else service.engine.python_bin,
            tool=plan.tool,
            env_files=list(service.secret_files),
            log=service.log,
            timeout=plan.health_timeout,
            health_path=service.health_path,
            supervisor=plan.supervisor,
            unit=service.unit,
            errors=list(service.errors),
        )
    gateway = plan.gateway
    for name in gateway.names if gateway else ():
        endpoint.ready(
            name=f"Chat through {gateway.unit} at {gateway.health_url} as {name!r} (with the master key; none: 401)",
            url=gateway.health_url,
            model=name,
            python=plan.python,
            tool=plan.tool,
            env_files=list(gateway.secret_files),
            log=gateway.log,
            timeout=plan.health_timeout,
            health_path=gateway.health_path,
            supervisor=plan.supervisor,
            unit=gateway.unit,
            errors=list(gateway.errors),
            refused_without_key=True,
        )
