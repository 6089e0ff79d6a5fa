"""What llmhost created on a host and the plan no longer wants: a service removed from the data, an
Ollama daemon with no services left, a service moved to another supervisor. Only what llmhost's
record on the host lists is ever stopped or removed: a unit someone else wrote, files llmhost did
not, stay as they are. Models and engine venvs stay (their own keep/prune rules)."""

from __future__ import annotations

from llmhost.plan.hostplan import GatewayPlan, MonitoringPlan, WebuiPlan
from llmhost.plan.inputs import HostFacts, Owned
from llmhost.plan.types import OllamaPlan, PlanError, ServicePlan, Teardown

HF_TOKEN = "hf-token"  # the record's name of <llmhost_env_dir>/hf-token.env
FILES_ONLY = "files"  # a record entry with files and no process (no supervisor to stop it)
# the record's entry that says llmhost installed Prometheus's packages (kept once monitoring is
# removed: the packages stay, stopped, and a later llmhost_monitoring takes them up again)
PROMETHEUS_PACKAGES = "prometheus-packages"


def owned(
    services: list[ServicePlan],
    ollama: OllamaPlan | None,
    supervisor: str,
    gateway: GatewayPlan | None = None,
    webui: WebuiPlan | None = None,
    hf_token_file: str | None = None,
    monitoring: MonitoringPlan | None = None,
    recorded: tuple[Owned, ...] = (),
) -> tuple[Owned, ...]:
    """What this plan creates: each engine's (the gateway's, the web UI's) unit or tmux session and
    the files written for it (the web UI's database stays, like the models), and the hub token's
    file (a file alone: FILES_ONLY, nothing to stop), Prometheus's and the node exporter's units
    (the packages' own: their drop-ins and llmhost's config, rules and keys are what it wrote) and
    that llmhost installed their packages (``recorded``: the host's record, which may say so)."""
    made = [Owned(HF_TOKEN, FILES_ONLY, (hf_token_file,))] if hf_token_file else []
    if monitoring:
        kept = (
            monitoring.dropin(monitoring.unit),
            monitoring.config,
            monitoring.rules_file,
            monitoring.console,
            *monitoring.key_files,
        )
        made.append(Owned(monitoring.unit, "systemd", kept))
        made.append(Owned(monitoring.exporter_unit, "systemd", (monitoring.dropin(monitoring.exporter_unit),)))
        if monitoring.grafana_port:
            made.append(Owned(monitoring.grafana_unit, "systemd", monitoring.grafana_files))
        if monitoring.alertmanager_argv:
            unit = monitoring.alertmanager_unit
            made.append(Owned(unit, "systemd", (monitoring.dropin(unit), monitoring.alertmanager_config)))
    if monitoring or any(o.unit == PROMETHEUS_PACKAGES for o in recorded):
        made.append(Owned(PROMETHEUS_PACKAGES, FILES_ONLY, ()))
    if gateway:
        kept = (gateway.supervisor_file(supervisor), gateway.config, *gateway.secret_files)
        made.append(Owned(gateway.unit, supervisor, kept))
    if webui:
        made.append(Owned(webui.unit, supervisor, (webui.supervisor_file(supervisor), *webui.secret_files)))
    for service in services:
        if service.engine.archive:
            continue
        made.append(Owned(service.unit, supervisor, (service.supervisor_file(supervisor), *service.secret_files)))
    if ollama:
        daemon = (ollama.unit_file, ollama.dropin) if supervisor == "systemd" else (ollama.launcher,)
        models = tuple(s.modelfile for s in services if s.engine.archive)
        made.append(Owned(ollama.unit, supervisor, daemon + models))
    return tuple(sorted(made, key=lambda o: o.unit))


def teardown(facts: HostFacts, made: tuple[Owned, ...], record: str) -> tuple[tuple[Teardown, ...], list[str]]:
    """What the host's record (``record``) lists and this plan does not: stopped where its unit or
    session is not planned the same way, its files removed unless the plan writes them too."""
    planned = {(o.unit, o.supervisor) for o in made}
    keep = {f for o in made for f in o.files}
    plans, reasons = [], []
    for old in facts.owned:
        stop = (old.unit, old.supervisor) not in planned
        files = tuple(f for f in old.files if f not in keep)
        if not stop and not files:
            continue
        plans.append(Teardown(old.unit, old.supervisor, stop, files))
        what = (
            f"{old.unit} ({old.supervisor}) is no longer planned: stopped"
            + (" and disabled" if old.supervisor == "systemd" else "")
            if stop and old.supervisor != FILES_ONLY
            else f"{old.unit}: files no longer planned"
        )
        reasons.append(
            f"teardown: {what}"
            + (f"; {', '.join(files)} removed" if files else "")
            + f" (llmhost's record {record}; models and venvs stay)"
        )
    return tuple(plans), reasons


def refuse_emptied(made: tuple[Owned, ...], gone: tuple[Teardown, ...], remove_all: bool) -> None:
    """A plan with nothing on the host that would stop what llmhost runs there: refused unless
    llmhost_remove_all says it is meant (data never read, e.g. group data pyinfra did not find,
    looks the same). Removing some services while others stay needs no flag."""
    stopped = [t.unit for t in gone if t.stop and t.supervisor != FILES_ONLY]
    if any(o.unit != PROMETHEUS_PACKAGES for o in made) or not stopped or remove_all:
        return
    raise PlanError(
        f"llmhost_services: this host's data lists no service, gateway or web UI, and the run would stop "
        f"{len(stopped)} that llmhost runs here ({', '.join(stopped)}); if that is meant, set "
        "llmhost_remove_all = true (pyinfra ... --data llmhost_remove_all=true; llmhost serve --remove-all), "
        "else check that the group data was read (pyinfra reads group_data/ from the current folder "
        "and the inventory's)"
    )
