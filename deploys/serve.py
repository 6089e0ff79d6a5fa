"""Take a host to a verified serving state: plan, then the layers in order, then verify.

    pyinfra -y inventories/local.py deploys/serve.py
"""

from pyinfra import host, logger

from llmhost.deploys import applicable, cuda, engine, gpu, host_plan, mirrors, model, service, system, verify

plan = applicable(host_plan(host))  # bad data or an impossible wish stops here, before any change

mirrors.apply(plan)
system.apply(plan)
gpu.apply(plan)
if plan.stop_after_driver:  # a reboot stands between the new driver and the engines
    logger.warning(f"{host.name}: this run ends after the gpu layer: {plan.stop_after_driver}")
else:
    cuda.apply(plan)
    engine_ops = engine.apply(plan)
    model_ops = model.apply(plan)
    service.apply(plan, model_ops, engine_ops)
    engine.pruned(plan)
    verify.apply(plan)
