"""Layer: the default CUDA toolkit (/usr/local/cuda) and its profile.d for login shells."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files

from llmhost.operations import cuda
from llmhost.plan import HostPlan
from llmhost.render import cuda_profile_vars
from llmhost.resources import template


@deploy("llmhost cuda layer")
def apply(plan: HostPlan) -> None:
    if not plan.cuda:
        return
    c = plan.cuda
    cuda.default(
        name=f"/usr/local/cuda -> {c.toolkit}" + (" (update-alternatives)" if c.alternatives else ""),
        version=c.version,
        alternatives=c.alternatives,
        installing=c.installing,
    )
    files.template(
        name=f"Login shells' CUDA ({c.profile})",
        src=template("cuda.sh.j2"),
        dest=c.profile,
        mode="644",
        **cuda_profile_vars(c),
    )
