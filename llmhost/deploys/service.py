"""Layer: keep each planned engine running under the planned supervisor."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files
from pyinfra.operations.util import any_changed

from llmhost.operations import tmux
from llmhost.plan import HostPlan
from llmhost.render import env_file_vars, launcher_vars
from llmhost.resources import template


@deploy("llmhost service layer")
def apply(plan: HostPlan, model_ops: dict[str, OperationMeta]) -> None:
    for service in plan.services:
        env_file = files.template(
            name=f"Env file of {service.unit}",
            src=template("service.env.j2"),
            dest=service.env_file,
            mode="600",
            **env_file_vars(service),
        )
        launcher = files.template(
            name=f"Launcher of {service.unit}",
            src=template("launcher.sh.j2"),
            dest=service.launcher,
            mode="755",
            **launcher_vars(service),
        )
        changed = any_changed(env_file, launcher, model_ops[service.name])
        if plan.supervisor == "tmux":
            tmux.session(
                name=f"Restart {service.unit} (argv, environment or model changed)",
                session=service.unit,
                command=service.launcher,
                restarted=True,
                _if=changed,
            )
            tmux.session(name=f"Run {service.unit} in tmux", session=service.unit, command=service.launcher)


@deploy("llmhost stop services")
def stop(plan: HostPlan) -> None:
    """Stop every planned service (their files stay; the next serve starts them again)."""
    for service in plan.services:
        if plan.supervisor == "tmux":
            tmux.session(name=f"Stop {service.unit}", session=service.unit, command=service.launcher, present=False)
