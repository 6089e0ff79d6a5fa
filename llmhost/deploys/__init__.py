"""Packaged deploys, one per layer. Each reads a HostPlan and never decides anything itself.

    mirrors -> system -> gpu -> cuda -> engine -> model -> service -> engine.pruned -> verify

(a run whose new NVIDIA driver waits for a reboot ends after gpu; see HostPlan.stop_after_driver)

``llmhost.deploys.inputs.host_plan(host)`` is the one entry: validate the host's data, read its
facts, plan; ``llmhost.plan.applicable`` refuses a plan these layers cannot apply.
"""

from __future__ import annotations

from pyinfra import host as current_host
from pyinfra import logger

from llmhost.facts import prefetch
from llmhost.plan import HostPlan


def serve(plan: HostPlan) -> None:
    """Every layer in order (deploys/serve.py; deploys/status.py runs them dry, for drift)."""
    from llmhost.deploys import cuda, engine, gpu, mirrors, model, monitoring, service, system, verify

    for layer in (system, service):  # what the layers read while they are prepared: in one round trip
        for cls, kwargs in layer.reads(plan):
            prefetch.expect(current_host, cls, **kwargs)
    mirrors.apply(plan)
    system.apply(plan)
    gpu.apply(plan)
    if plan.stop_after_driver:  # a reboot stands between the new driver and the engines
        logger.warning(f"{current_host.name}: this run ends after the gpu layer: {plan.stop_after_driver}")
        return
    cuda.apply(plan)
    engine_ops = engine.apply(plan)
    model_ops = model.apply(plan)
    service.apply(plan, model_ops, engine_ops)
    monitoring.apply(plan)
    engine.pruned(plan)
    verify.apply(plan)
