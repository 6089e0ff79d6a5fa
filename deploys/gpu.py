"""The GPU stack alone: NVIDIA's repository, the driver branch the plan needs, the CUDA toolkits
side by side and the /usr/local/cuda default, without touching engines or services.

    pyinfra -y inventories/rtx4060-laptop.py deploys/gpu.py

The plan decides (`llmhost plan` shows why): nothing inside WSL but the toolkits, nothing where
the driver already satisfies the engines. A new driver loads after a reboot: with
llmhost_allow_reboot the host reboots, otherwise the run says so and stops there.
"""

from pyinfra import host, logger

from llmhost.deploys import cuda, gpu, mirrors, system
from llmhost.deploys.inputs import host_plan

plan = host_plan(host)  # bad data or an impossible wish stops here, before any change

mirrors.apply(plan)
system.apply(plan)
gpu.apply(plan)
if plan.stop_after_driver:
    logger.warning(f"{host.name}: this run ends after the gpu layer: {plan.stop_after_driver}")
else:
    cuda.apply(plan)
