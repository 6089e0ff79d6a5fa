"""Layer: OS packages, /dev/shm grown where the plan says so, the service account, llmhost's
directories, its host-side tool, the offline wheelhouse, and Miniforge when the envs are conda's."""

from __future__ import annotations

import io
import json

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from llmhost.facts import prefetch
from llmhost.facts.files import Account
from llmhost.manifest import run_manifest
from llmhost.operations import conda, model
from llmhost.operations import files as dirs
from llmhost.plan import HostPlan, supervised
from llmhost.render import condarc_vars
from llmhost.resources import hostside_tool, hostside_vllm_auth, template
from llmhost.settings import Settings


def reads(plan: HostPlan) -> list[tuple[type, dict]]:
    """The facts this layer reads while the deploy is prepared: the service account."""
    return [(Account, {"user": plan.service_user})] if plan.service_user else []


def reads_ahead(settings: Settings) -> list[tuple[type, dict]]:
    """``reads`` as the data foretells them, read with the planner's facts (a host without
    systemd has no service account: the read is then not asked for, and costs nothing more)."""
    user, _, _ = supervised(settings)
    return [(Account, {"user": user})]


@deploy("llmhost system layer")
def apply(plan: HostPlan) -> None:
    if plan.missing_packages:
        # Refresh the package lists only when something is to be installed: a converged host
        # never touches apt (nor reads the package list a second time through apt.packages).
        apt.update(name="Refresh apt package lists", cache_time=3600)
        apt.packages(name="Install system packages", packages=list(plan.system_packages))
    else:
        host.noop(f"system packages {', '.join(plan.system_packages)} are installed")
    if plan.shm:  # the engines' shared memory (the plan's reasons say how much, and why)
        server.mount(
            name=f"Remount {plan.shm.path} with {plan.shm.option}", path=plan.shm.path, options=[plan.shm.option]
        )
        files.line(
            name=f"Keep {plan.shm.path} at {plan.shm.option} in /etc/fstab",
            path="/etc/fstab",
            line=r"^[^#[:space:]]+[[:space:]]+/dev/shm[[:space:]]",
            replace=plan.shm.fstab_line,
            extended_regex=True,
        )

    user = plan.service_user
    account = {"home": f"{plan.root}/home", "shell": "/usr/sbin/nologin", "group": user}
    existing = prefetch.get(host, Account, user=user) if user else None
    if user and existing and existing["uid"] < 1000 and {k: existing[k] for k in account} == account:
        host.noop(f"service user {user} is as planned")
    elif user:
        server.group(name=f"Group {user}", group=user, system=True)
        server.user(
            name=f"Service user {user}",
            user=user,
            group=user,
            system=True,
            home=account["home"],
            create_home=False,
            ensure_home=False,
            shell=account["shell"],
        )
    # where the engines write (logs, caches, HOME): owned by the service user when there is one;
    # the env files' directory (secrets) is root's alone. One read of them all (the planner's). A
    # directory llmhost did not make keeps its mode and owner; the record of those it made is
    # written as soon as they are (a run that stops after the driver layer has made them too).
    dirs.directories(name=f"Directories under {plan.root} and {plan.env_dir}", directories=list(plan.directories))
    dirs.content(
        name=f"llmhost's record of the directories it made ({plan.directories_file})",
        src=io.StringIO(json.dumps({"directories": list(plan.made_directories), "version": 1}, indent=1) + "\n"),
        dest=plan.directories_file,
        mode="644",
    )
    dirs.content(name="Install llmhost-hosttool", src=hostside_tool(), dest=plan.tool, mode="755")
    if plan.vllm_auth:  # vLLM's --middleware: the API key on every route, not only /v1 (llmhost_vllm_auth.py)
        dirs.content(name="Install llmhost_vllm_auth", src=hostside_vllm_auth(), dest=plan.vllm_auth, mode="644")
    if plan.wheelhouse:
        # the same manifest-checked push as a model directory: only changed wheels travel
        model.pushed(
            name=f"Wheelhouse {plan.wheelhouse_dir} from the controller",
            src=plan.wheelhouse,
            dest=plan.wheelhouse_dir,
            manifest=run_manifest(host.state, plan.wheelhouse, "llmhost_wheelhouse"),
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
        files.template(
            name=f"conda channels ({c.condarc})",
            src=template("condarc.j2"),
            dest=c.condarc,
            mode="644",
            **condarc_vars(c),
        )
