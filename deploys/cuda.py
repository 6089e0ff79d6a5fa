"""Switch the default CUDA toolkit of a host among those installed side by side.

    pyinfra -y inventories/rtx4060-laptop.py deploys/cuda.py --data llmhost_cuda_default=12.6

/usr/local/cuda is re-pointed atomically (through update-alternatives where NVIDIA's packages
manage it) and /etc/profile.d/cuda.sh written; a toolkit that is not installed is refused before
any change; a host already there changes nothing. Services are not restarted: they get their CUDA
paths in their own environment.
"""

from pyinfra import host
from pyinfra.api.exceptions import DeployError

from llmhost.deploys import cuda
from llmhost.deploys.inputs import host_plan

plan = host_plan(host)  # bad data, or a toolkit the host lacks, stops here before any change
if plan.cuda is None:
    raise DeployError("llmhost_cuda_default: not set; name the toolkit, e.g. --data llmhost_cuda_default=12.6")
if plan.cuda.installing:
    raise DeployError(
        f"llmhost_cuda_default: CUDA {plan.cuda.version} is in llmhost_cuda_toolkits but not installed yet; "
        "deploys/gpu.py (or deploys/serve.py) installs it and switches to it"
    )
cuda.apply(plan)
