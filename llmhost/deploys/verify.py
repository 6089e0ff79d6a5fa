"""Layer: every service answers /health and a real chat completion."""

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
