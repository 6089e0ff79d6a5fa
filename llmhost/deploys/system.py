"""Layer: OS packages, /dev/shm grown where the plan says so, the service account, llmhost's
directories, its host-side tool, the offline wheelhouse, and Miniforge when the envs are conda's."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt, files, server

from llmhost.manifest import build_manifest
from llmhost.operations import conda, model
from llmhost.plan import HostPlan
from llmhost.render import condarc_vars
from llmhost.resources import hostside_tool, template


@deploy("llmhost system layer")
def apply(plan: HostPlan) -> None:
    installed = host.get_fact(DebPackages)
    missing = [p for p in plan.system_packages if p not in installed]
    if missing:
        # Refresh the package lists only when something is to be installed: a converged host
        # never touches apt.
        apt.update(name="Refresh apt package lists", cache_time=3600)
    apt.packages(name="Install system packages", packages=list(plan.system_packages))
    if plan.shm:  # the engines' shared memory (the plan's reasons say how much, and why)
        server.mount(name=f"Remount {plan.shm.path} with {plan.shm.option}", path=plan.shm.path,
                     options=[plan.shm.option])  # fmt: skip
        files.line(name=f"Keep {plan.shm.path} at {plan.shm.option} in /etc/fstab", path="/etc/fstab",
                   line=r"^[^#[:space:]]+[[:space:]]+/dev/shm[[:space:]]", replace=plan.shm.fstab_line,
                   extended_regex=True)  # fmt: skip

    user = plan.service_user
    if user:
        server.group(name=f"Group {user}", group=user, system=True)
        server.user(
            name=f"Service user {user}",
            user=user,
            group=user,
            system=True,
            home=f"{plan.root}/home",
            create_home=False,
            ensure_home=False,
            shell="/usr/sbin/nologin",
        )
    for path in plan.directories:
        files.directory(name=f"Directory {path}", path=path, mode="755")
    for path in plan.writable_directories:
        # where the engines write (logs, caches, HOME): owned by the service user when there is one
        files.directory(name=f"Directory {path} (writable)", path=path, mode="755", user=user, group=user)
    files.directory(name=f"Directory {plan.env_dir} (secrets)", path=plan.env_dir, mode="700")
    files.put(name="Install llmhost-hosttool", src=hostside_tool(), dest=plan.tool, mode="755")
    if plan.wheelhouse:
        # the same manifest-checked push as a model directory: only changed wheels travel
        model.pushed(
            name=f"Wheelhouse {plan.wheelhouse_dir} from the controller",
            src=plan.wheelhouse,
            dest=plan.wheelhouse_dir,
            manifest=build_manifest(plan.wheelhouse, "llmhost_wheelhouse"),
            manifest_path=f"{plan.wheelhouse_dir}.manifest.json",
        )
    if plan.conda:
        c = plan.conda
        conda.installed(
            name=f"Miniforge {c.version} in {c.prefix}",
            prefix=c.prefix,
            installer=c.installer,
            download=f"{plan.root}/cache/{c.installer.rsplit('/', 1)[-1]}",
            sha256=c.sha256,
            source_key=c.installer_key,
        )
        files.template(name=f"conda channels ({c.condarc})", src=template("condarc.j2"), dest=c.condarc,
                       mode="644", **condarc_vars(c))  # fmt: skip
