"""Layer: keep each planned engine running under the planned supervisor (systemd or tmux)."""

from __future__ import annotations

import posixpath

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from llmhost.facts.pip import EngineVenvs
from llmhost.operations import secret, tmux
from llmhost.plan import HostPlan, ServicePlan
from llmhost.render import env_file_vars, launcher_vars, unit_vars
from llmhost.resources import template


def _restart_if(service: ServicePlan, plan: HostPlan, changed):
    """Restart when a file or input of this run changed, or when the running engine is not on the
    planned venv (an earlier run moved the link and stopped before its restart)."""
    running = host.get_fact(EngineVenvs, directory=posixpath.dirname(service.engine.venv), unit=service.unit,
                            supervisor=plan.supervisor)  # fmt: skip
    stale = any(name != posixpath.basename(service.engine.venv) for name in running)
    return lambda: stale or changed()


def _systemd(plan: HostPlan, service: ServicePlan, inputs: list[OperationMeta]) -> None:
    unit = files.template(
        name=f"Unit {service.unit}.service",
        src=template("llmhost.service.j2"),
        dest=service.unit_file,
        mode="644",
        **unit_vars(service, user=plan.service_user, workdir=f"{plan.root}/home"),
    )
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    systemd.service(
        name=f"Restart {service.unit} (argv, environment, engine or model changed)",
        service=f"{service.unit}.service",
        restarted=True,
        _if=_restart_if(service, plan, any_changed(unit, *inputs)),
    )
    systemd.service(
        name=f"Run {service.unit} under systemd, enabled at boot",
        service=f"{service.unit}.service",
        running=True,
        enabled=True,
    )


def _tmux(plan: HostPlan, service: ServicePlan, inputs: list[OperationMeta]) -> None:
    launcher = files.template(
        name=f"Launcher of {service.unit}",
        src=template("launcher.sh.j2"),
        dest=service.launcher,
        mode="755",
        **launcher_vars(service),
    )
    tmux.session(
        name=f"Restart {service.unit} (argv, environment, engine or model changed)",
        session=service.unit,
        command=service.launcher,
        restarted=True,
        _if=_restart_if(service, plan, any_changed(launcher, *inputs)),
    )
    tmux.session(name=f"Run {service.unit} in tmux", session=service.unit, command=service.launcher)


@deploy("llmhost service layer")
def apply(plan: HostPlan, model_ops: dict[str, OperationMeta], engine_ops: dict[str, OperationMeta]) -> None:
    """``model_ops``/``engine_ops``: each service's model operation (by service name) and each
    engine's link switch (by venv); a change in either restarts the service."""
    for service in plan.services:
        inputs = [
            files.template(
                name=f"Env file of {service.unit}",
                src=template("service.env.j2"),
                dest=service.env_file,
                mode="600",
                **env_file_vars(service),
            ),
            model_ops[service.name],
            engine_ops[service.engine.venv],
        ]
        if service.key_file:
            inputs.append(
                secret.generated(name=f"API key of {service.unit}", path=service.key_file,
                                 variable=service.api_key_var)  # fmt: skip
            )
        if plan.supervisor == "systemd":
            _systemd(plan, service, inputs)
        else:
            _tmux(plan, service, inputs)


@deploy("llmhost stop services")
def stop(plan: HostPlan) -> None:
    """Stop every planned service (their files stay; the next serve starts them again)."""
    for service in plan.services:
        if plan.supervisor == "systemd":
            systemd.service(name=f"Stop {service.unit}", service=f"{service.unit}.service", running=False)
        else:
            tmux.session(name=f"Stop {service.unit}", session=service.unit, command=service.launcher, present=False)
