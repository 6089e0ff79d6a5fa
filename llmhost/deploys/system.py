"""Layer: OS packages, llmhost's directories and its host-side tool."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files

from llmhost.plan import HostPlan
from llmhost.resources import hostside_tool


@deploy("llmhost system layer")
def apply(plan: HostPlan) -> None:
    installed = host.get_fact(DebPackages)
    missing = [p for p in plan.system_packages if p not in installed]
    if missing:
        # Refresh the package lists only when something is to be installed: a converged host
        # never touches apt.
        apt.update(name="Refresh apt package lists", cache_time=3600)
    apt.packages(name="Install system packages", packages=list(plan.system_packages))

    for path in plan.directories:
        files.directory(name=f"Directory {path}", path=path, mode="755")
    files.directory(name=f"Directory {plan.env_dir} (secrets)", path=plan.env_dir, mode="700")
    files.put(name="Install llmhost-hosttool", src=hostside_tool(), dest=plan.tool, mode="755")
