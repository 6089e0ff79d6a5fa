"""Layer: keep each planned engine running under the planned supervisor (systemd or tmux)."""

from __future__ import annotations

import io
import json
import posixpath
import weakref

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.facts.server import Groups
from pyinfra.operations import files, server, systemd
from pyinfra.operations.util import any_changed

from llmhost.facts import prefetch
from llmhost.facts.pip import EngineVenvs, SystemdEngines
from llmhost.operations import files as llmfiles
from llmhost.operations import ollama, secret, tmux, webui
from llmhost.plan import GatewayPlan, HostPlan, ServicePlan, SupervisedProcess, WebuiPlan, supervised
from llmhost.render import (
    env_file_vars,
    gateway_config,
    launcher_vars,
    ollama_launcher_vars,
    ollama_override_vars,
    ollama_unit_vars,
    unit_vars,
)
from llmhost.resources import template
from llmhost.settings import Settings


def _restart_if(service: SupervisedProcess, plan: HostPlan, changed, units: dict | None = None):
    """Restart when a file or input of this run changed, or when the running engine is not on the
    planned venv (an earlier run moved the link and stopped before its restart). ``units``: the
    systemd services as ``SystemdEngines`` read them for the whole layer (else one read here)."""
    if units is None:
        running = host.get_fact(
            EngineVenvs, directory=posixpath.dirname(service.engine.venv), unit=service.unit, supervisor=plan.supervisor
        )
    else:
        running = units.get(service.unit, {}).get("venvs", [])
    stale = any(name != posixpath.basename(service.engine.venv) for name in running)
    if isinstance(service, ServicePlan) and service.nodes:
        changed = _any_node_changed(dict(service.env)["LLMHOST_CLUSTER"], changed)
    return lambda: stale or changed()


# pyinfra state -> {cluster digest: each node's "did this node's files or inputs change?"}
_clusters: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _any_node_changed(cluster: str, changed):
    """A node of a service across hosts restarts when any node's inputs changed: a head cannot
    rejoin the workers of an earlier start, nor a new worker a running head (a rebuilt or drifted
    node restarts them all). pyinfra runs an operation on every host before the next one, so when
    the restart is decided every node's file operations have run; a node that failed before them
    (its operations never ran) counts as unchanged."""
    nodes = _clusters.setdefault(host.state, {}).setdefault(cluster, [])
    nodes.append(changed)

    def done(node_changed) -> bool:
        try:
            return node_changed()
        except RuntimeError:  # "Cannot evaluate operation result before execution": that host failed
            return False

    return lambda: any(done(c) for c in nodes)


def _systemd(plan: HostPlan, service: SupervisedProcess, inputs: list[OperationMeta], units: dict) -> None:
    unit = llmfiles.rendered(  # /etc/systemd/system: there on every systemd host
        name=f"Unit {service.unit}.service",
        src=template("llmhost.service.j2"),
        dest=service.unit_file,
        mode="644",
        **unit_vars(service, user=plan.service_user, workdir=f"{plan.root}/home", nofile=plan.nofile),
    )
    systemd.daemon_reload(name="Reload systemd units", _if=unit.did_change)
    systemd.service(
        name=f"Restart {service.unit} (argv, environment, engine or model changed)",
        service=f"{service.unit}.service",
        restarted=True,
        _if=_restart_if(service, plan, any_changed(unit, *inputs), units),
    )
    # read with the layer's other systemd states: where it runs and is enabled, pyinfra's operation
    # (two more reads) has nothing to do and is not added (no `_if`: `llmhost status` counts it as
    # drift when it would start or enable the service); the restart above never stops it
    state = units.get(service.unit, {})
    if not (state.get("running") and state.get("enabled")):
        systemd.service(
            name=f"Run {service.unit} under systemd, enabled at boot",
            service=f"{service.unit}.service",
            running=True,
            enabled=True,
        )


def _tmux(plan: HostPlan, service: SupervisedProcess, inputs: list[OperationMeta]) -> None:
    launcher = llmfiles.rendered(  # <root>/run: made by the system layer
        name=f"Launcher of {service.unit}",
        src=template("launcher.sh.j2"),
        dest=service.launcher,
        mode="755",
        **launcher_vars(service, plan.nofile, plan.python, plan.tool, plan.service_user),
    )
    tmux.session(
        name=f"Restart {service.unit} (argv, environment, engine or model changed)",
        session=service.unit,
        command=service.launcher,
        restarted=True,
        _if=_restart_if(service, plan, any_changed(launcher, *inputs)),
    )
    tmux.session(name=f"Run {service.unit} in tmux", session=service.unit, command=service.launcher)


def _ollama(plan: HostPlan, model_ops: dict[str, list[OperationMeta]], engine_ops: dict[str, OperationMeta]) -> None:
    """The host's one Ollama daemon (as its Linux docs set it up: the ollama user, the official unit,
    every setting in a drop-in), then each ollama service's model imported into it."""
    o = plan.ollama
    services = [s for s in plan.services if s.engine.archive]
    link = files.link(
        name=f"{o.bin_link} -> {o.engine.link}/bin/ollama", path=o.bin_link, target=f"{o.engine.link}/bin/ollama"
    )
    inputs = [link, engine_ops[o.engine.venv]]
    files.directory(
        name=f"Directory of the Modelfiles ({posixpath.dirname(services[0].modelfile)})",
        path=posixpath.dirname(services[0].modelfile),
        mode="755",
    )
    if plan.supervisor == "systemd":
        groups = host.get_fact(Groups)
        server.group(name=f"System group {o.user}", group=o.user, system=True)
        server.user(
            name=f"System user {o.user} (Ollama's own account, home {o.home})",
            user=o.user,
            system=True,
            home=o.home,
            shell="/bin/false",
            create_home=True,
            group=o.user,
            # GPU device nodes belong to these groups where they exist (Ollama's install adds them too)
            groups=[g for g in ("render", "video") if g in groups],
            append=True,
        )
        files.directory(name=f"OLLAMA_MODELS {o.models_dir}", path=o.models_dir, user=o.user, group=o.user, mode="755")
        unit = files.template(
            name="Unit ollama.service (Ollama's official unit)",
            src=template("ollama.service.j2"),
            dest=o.unit_file,
            mode="644",
            **ollama_unit_vars(o),
        )
        dropin = files.template(
            name="Drop-in ollama.service.d/override.conf (every setting of the daemon)",
            src=template("ollama-override.conf.j2"),
            dest=o.dropin,
            mode="644",
            **ollama_override_vars(o, plan.nofile),
        )
        systemd.daemon_reload(name="Reload systemd units", _if=any_changed(unit, dropin))
        systemd.service(
            name="Restart ollama (unit, settings or release changed)",
            service="ollama.service",
            restarted=True,
            _if=_restart_if(services[0], plan, any_changed(unit, dropin, *inputs)),
        )
        systemd.service(
            name="Run ollama under systemd, enabled at boot", service="ollama.service", running=True, enabled=True
        )
    else:
        files.directory(
            name=f"OLLAMA_MODELS {o.models_dir}",
            path=o.models_dir,
            user=plan.service_user,
            group=plan.service_user,
            mode="755",
        )
        launcher = files.template(
            name="Launcher of ollama",
            src=template("launcher.sh.j2"),
            dest=o.launcher,
            mode="755",
            **ollama_launcher_vars(services, plan.nofile, plan.python, plan.tool, plan.service_user),
        )
        tmux.session(
            name="Restart ollama (settings or release changed)",
            session=o.unit,
            command=o.launcher,
            restarted=True,
            _if=_restart_if(services[0], plan, any_changed(launcher, *inputs)),
        )
        tmux.session(name="Run ollama in tmux", session=o.unit, command=o.launcher)
    for service in services:
        imported = ollama.imported(
            name=f"Import {service.served_model_name} into Ollama ({service.modelfile})",
            model=service.served_model_name,
            modelfile=service.modelfile,
            text=service.modelfile_text,
            models_dir=o.models_dir,
            binary=o.bin_link,
            url=o.url,
            wait=plan.health_timeout,
        )
        ollama.imported(
            name=f"Import {service.served_model_name} again (its GGUF changed)",
            model=service.served_model_name,
            modelfile=service.modelfile,
            text=service.modelfile_text,
            models_dir=o.models_dir,
            binary=o.bin_link,
            url=o.url,
            wait=plan.health_timeout,
            force=True,
            # the weights pushed or fetched anew, or the GGUF made again from them
            _if=lambda ops=model_ops[service.name], done=imported: (
                any(op.did_change() for op in ops) and not done.did_change()
            ),
        )


def _gateway(plan: HostPlan, gateway: GatewayPlan, engine_ops: dict[str, OperationMeta], units: dict) -> None:
    """The gateway, supervised like an engine: its config (no secrets), its env file (the master key
    and the backends' keys, 0600), restarted when either or its venv changed (LiteLLM has no reload;
    the engines it fronts are never touched)."""
    inputs = [
        files.put(
            name=f"Config of {gateway.unit} ({len(gateway.deployments)} backends, {len(gateway.aliases)} aliases)",
            src=io.StringIO(gateway_config(gateway)),
            dest=gateway.config,
            mode="644",
        ),
        llmfiles.rendered(
            name=f"Env file of {gateway.unit} (master key, backends' keys)",
            src=template("service.env.j2"),
            dest=gateway.env_file,
            mode="600",
            **env_file_vars(gateway),
        ),
        engine_ops[gateway.engine.venv],
    ]
    if plan.supervisor == "systemd":
        _systemd(plan, gateway, inputs, units)
    else:
        _tmux(plan, gateway, inputs)


def _webui(plan: HostPlan, ui: WebuiPlan, engine_ops: dict[str, OperationMeta], units: dict) -> None:
    """The web UI, supervised like an engine: its env file (the admin's password, the session
    secret, the connections' keys: 0600), restarted when it or its venv changed (Open WebUI reads
    its settings at start); then its admin account as the data has it (Open WebUI sets it only at
    its first start)."""
    env_file = llmfiles.rendered(
        name=f"Env file of {ui.unit} (admin password, session secret, connections' keys)",
        src=template("service.env.j2"),
        dest=ui.env_file,
        mode="600",
        **env_file_vars(ui),
    )
    inputs = [env_file, engine_ops[ui.engine.venv]]
    if plan.supervisor == "systemd":
        _systemd(plan, ui, inputs, units)
    else:
        _tmux(plan, ui, inputs)
    account = {
        "python": ui.engine.python_bin,
        "tool": plan.tool,
        "database": ui.database,
        "email": ui.admin_email,
        "env_files": list(ui.secret_files),
    }
    # as its database has it now (someone changed the password in the UI), against the env file
    webui.admin(name=f"Admin account of {ui.unit} ({ui.admin_email})", **account)
    # and against the env file this run wrote (the fact above read the one before it)
    webui.admin(
        name=f"Admin account of {ui.unit} ({ui.admin_email}) as the new env file has it",
        force=True,
        _if=env_file.did_change,
        **account,
    )


def _teardown(plan: HostPlan) -> None:
    """What llmhost created and the plan no longer wants, stopped and removed (its record says what
    that is: nothing else is touched); then the record of what this plan creates, before it does."""
    removed = []
    for gone in plan.teardown:
        if gone.stop and gone.supervisor == "systemd":
            systemd.service(
                name=f"Stop and disable {gone.unit} (no longer planned)",
                service=f"{gone.unit}.service",
                running=False,
                enabled=False,
            )
        elif gone.stop and gone.supervisor == "tmux":
            tmux.session(name=f"Stop {gone.unit} (no longer planned)", session=gone.unit, command="", present=False)
        removed += [
            files.file(name=f"Remove {path} ({gone.unit}, no longer planned)", path=path, present=False)
            for path in gone.files
        ]
    if removed and any(gone.supervisor == "systemd" for gone in plan.teardown):
        systemd.daemon_reload(name="Reload systemd units (units removed)", _if=any_changed(*removed))
    record = {"version": 1, "units": {o.unit: o.as_record() for o in plan.owned}}
    llmfiles.content(
        name=f"llmhost's record of what it created ({plan.owned_file})",
        src=io.StringIO(json.dumps(record, indent=1, sort_keys=True) + "\n"),
        dest=plan.owned_file,
        mode="644",
    )


def reads(plan: HostPlan) -> list[tuple[type, dict]]:
    """The facts this layer reads while the deploy is prepared: the systemd services llmhost runs
    for this plan (engines, gateway, web UI), in one read."""
    if plan.supervisor != "systemd":
        return []
    supervised = [s for s in plan.services if not s.engine.archive] + [x for x in (plan.gateway, plan.webui) if x]
    if not supervised:
        return []
    directory = posixpath.dirname(supervised[0].engine.venv)
    return [(SystemdEngines, {"units": tuple(s.unit for s in supervised), "directory": directory})]


def reads_ahead(settings: Settings) -> list[tuple[type, dict]]:
    """``reads`` as the data foretells them (under systemd), read with the planner's facts."""
    _, units, venvs = supervised(settings)
    return [(SystemdEngines, {"units": units, "directory": venvs})] if units else []


def _units(plan: HostPlan) -> dict:
    """The systemd services llmhost runs for this plan, as ``SystemdEngines`` reads them."""
    return next((prefetch.get(host, cls, **kwargs) for cls, kwargs in reads(plan)), {})


@deploy("llmhost service layer")
def apply(plan: HostPlan, model_ops: dict[str, list[OperationMeta]], engine_ops: dict[str, OperationMeta]) -> None:
    """``model_ops``/``engine_ops``: each service's model operations (by service name) and each
    engine's link switch (by venv); a change in any restarts the service. The ollama services
    share one daemon. What the plan no longer wants goes first (its port is free for the new)."""
    _teardown(plan)
    units = _units(plan)
    if plan.ollama:
        _ollama(plan, model_ops, engine_ops)
    for service in plan.services:
        if service.engine.archive:
            continue
        inputs = [
            llmfiles.rendered(  # the env files' directory: made by the system layer
                name=f"Env file of {service.unit}",
                src=template("service.env.j2"),
                dest=service.env_file,
                mode="600",
                **env_file_vars(service),
            ),
            *model_ops[service.name],
            engine_ops[service.engine.venv],
        ]
        if service.key_file:
            inputs.append(
                secret.generated(name=f"API key of {service.unit}", path=service.key_file, variable=service.api_key_var)
            )
        if plan.supervisor == "systemd":
            _systemd(plan, service, inputs, units)
        else:
            _tmux(plan, service, inputs)
    if plan.gateway:
        _gateway(plan, plan.gateway, engine_ops, units)
    if plan.webui:
        _webui(plan, plan.webui, engine_ops, units)


@deploy("llmhost stop services")
def stop(plan: HostPlan, only: tuple[str, ...] = ()) -> None:
    """Stop every planned service, the gateway and the web UI (``only``: those of these names);
    their files stay, and the next serve starts them again."""
    for service in (*plan.services, *(s for s in (plan.gateway, plan.webui) if s)):
        if only and service.name not in only:
            continue
        if service.engine.archive and service is not next(s for s in plan.services if s.engine.archive):
            continue  # the ollama services share one daemon: stopped once
        if plan.supervisor == "systemd":
            systemd.service(name=f"Stop {service.unit}", service=f"{service.unit}.service", running=False)
        else:
            tmux.session(name=f"Stop {service.unit}", session=service.unit, command=service.launcher, present=False)
