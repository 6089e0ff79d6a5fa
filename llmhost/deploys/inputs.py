"""What the planner reads for a host, gathered on the controller: the host's data validated, its
facts (with what the layers will read, foretold by the data: one round trip), the inventory's
services its gateway and web UI front, the nodes of its services across hosts, and the request of
`llmhost bench`. ``host_plan(host)`` is the one entry of every deploy: validate, read, plan."""

from __future__ import annotations

import os
import sys
import weakref

from llmhost import hubmeta, report
from llmhost.benchmarks import slowest_first_token
from llmhost.deploys.controller_secrets import grafana_password, master_key, secret_files, webui_secrets
from llmhost.facts import host_facts
from llmhost.facts.pip import SourcesUnreachable
from llmhost.inventory import unread_group_data
from llmhost.plan import (
    Backend,
    BenchRequest,
    ClusterInputs,
    GatewayInputs,
    HostFacts,
    HostPlan,
    Node,
    listen_ports,
    llmhost_directories,
    model_path,
    plan_host,
    reachable,
)
from llmhost.settings import HUB_SOURCES, DataError, Settings, load


def _group_data_read(host) -> None:
    """A deploy run by pyinfra itself from another folder than the one holding the inventory's
    group_data/: refused (DataError), never planned without the data pyinfra did not read."""
    missed = unread_group_data(sys.argv, getattr(host.state, "cwd", None) or os.getcwd())
    if missed:
        raise DataError(
            "group_data",
            f"{missed} is the group data beside this inventory and pyinfra did not read it (it reads "
            f"group_data/ in the current folder and in the inventory's): run pyinfra from "
            f"{os.path.dirname(missed)}, add --group-data {missed}, or use `llmhost serve`",
        )


def host_inputs(host, write: bool = True) -> tuple[Settings, HostFacts]:
    """``host``'s data, validated (DataError on bad input), its hub models' metadata (read on the
    controller; kept beside their locks when ``write``), and its facts: what the planner reads."""
    _group_data_read(host)
    settings = hubmeta.attach(load(host.data.dict()), write)
    hub_dirs = {
        path: f"{path}.manifest.json"
        for path in (model_path(settings.root, s.model) for s in settings.services if s.model.kind in HUB_SOURCES)
    }
    network = any(host.name in s.nodes for s in settings.services)  # a node of a service across hosts
    from llmhost.deploys import service, system  # what the layers will read, foretold by the data: one round trip

    also = tuple(system.reads_ahead(settings) + service.reads_ahead(settings))
    return settings, host_facts(
        host,
        settings.root,
        tuple(hub_dirs.items()),
        settings.python,
        network=network,
        also=also,
        ports=listen_ports(settings),
        directories=tuple(path for path, _, _ in llmhost_directories(settings)),
    )


_node_facts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pyinfra state -> {host name: HostFacts}


def _their_data(other, host, what: str) -> Settings:
    """Another host's data, validated (a bad value is named with that host)."""
    try:
        return load(other.data.dict())
    except DataError as e:
        raise DataError(
            e.key, f"(in the data of {other.name}, a host {what} on {host.name} reads) {str(e).split(': ', 1)[1]}"
        )


def cluster_inputs(
    host, settings: Settings, facts: HostFacts, offline: HostFacts | None = None
) -> ClusterInputs | None:
    """The nodes of ``host``'s services across hosts: each one's data (from the controller) and
    facts (read from it once a run: every node plans the whole cluster; ``offline``: every node
    taken to be this hardware, read from no host); None where it has none."""
    names = {name for s in settings.services for name in s.nodes}
    if not names:
        return None
    read = {} if offline else _node_facts.setdefault(host.state, {})
    nodes = []
    for other in host.inventory:
        if other.name not in names:
            continue
        if other.name == host.name:
            nodes.append(Node(host.name, facts, settings.cluster_interface, settings.services, settings.cluster_public))
            continue
        theirs = _their_data(other, host, "a service across hosts")
        if other.name not in read:
            read[other.name] = offline or host_facts(other, theirs.root, (), theirs.python, network=True)
        nodes.append(
            Node(other.name, read[other.name], theirs.cluster_interface, theirs.services, theirs.cluster_public)
        )
    return ClusterInputs(host.name, tuple(h.name for h in host.inventory), tuple(nodes))


def gateway_inputs(host, settings: Settings, write_secrets: bool = True) -> GatewayInputs | None:
    """The services and gateways of every host of the inventory, from their data (a bad value in
    another host's data is named with that host), the secrets kept on the controller, and the
    services' benchmark records there, for ``host``'s gateway, web UI and monitoring; None where it
    has none of them."""
    if not settings.gateway and not settings.webui and not settings.monitoring:
        return None
    backends, gateways = [], []
    for other in host.inventory:
        # by name: the deploy's `host` is pyinfra's context proxy, never the inventory's object itself
        # (`is` made every service of the host remote: its loopback ones were refused, seen under @local)
        this = other.name == host.name
        theirs = settings if this else _their_data(other, host, "the gateway")
        address = theirs.address or other.data.get("ssh_hostname") or other.name
        # a service across hosts is served by its head alone
        backends += [
            Backend(other.name, this, address, i, s.name, s.engine, s.host, s.port, s.served_model_name, s.api_key)
            for i, s in enumerate(theirs.services)
            if not s.nodes or s.nodes[0] == other.name
        ]
        if settings.monitoring and theirs.gateway:
            key = master_key(theirs, other.name, write_secrets)
            g = theirs.gateway
            gateways.append(Backend(other.name, this, address, -1, "gateway", "gateway", g.host, g.port, "", key))
    password, secret = webui_secrets(settings, host.name, write_secrets) if settings.webui else ("", "")
    first_tokens = ()
    if settings.monitoring:
        try:
            measured = [(b.host, b.name, slowest_first_token(settings.bench_results, b.host, b.name)) for b in backends]
        except (ValueError, KeyError, TypeError) as e:  # a record that is not one
            raise DataError("llmhost_bench_results", f"{e}") from None
        first_tokens = tuple(((h, name), found) for h, name, found in measured if found)
    return GatewayInputs(
        host.name,
        tuple(h.name for h in host.inventory),
        tuple(backends),
        master_key(settings, host.name, write_secrets) if settings.gateway else "",
        password,
        secret,
        gateways=tuple(gateways),
        first_tokens=first_tokens,
        grafana_password=grafana_password(settings, host.name, write_secrets)
        if settings.monitoring and settings.monitoring.grafana
        else "",
    )


def host_planned(host, write_secrets: bool = True) -> tuple[Settings, HostPlan]:
    """Validate ``host``'s data (DataError on bad input), read its facts and plan it (PlanError):
    the data validated, and the plan. ``write_secrets=False``: a secret not generated yet on the
    controller is not generated now (`llmhost plan` and `llmhost status` change nothing anywhere)."""
    settings, facts = host_inputs(host, write_secrets)
    gateway = gateway_inputs(host, settings, write_secrets)
    return settings, plan_host(facts, settings, gateway, cluster_inputs(host, settings, facts))


def host_plan(host, write_secrets: bool = True) -> HostPlan:
    """``host``'s plan (host_planned's, without the data)."""
    return host_planned(host, write_secrets)[1]


def sources_checked(host, plan: HostPlan) -> HostPlan:
    """``plan``, once the indexes its venvs not made yet install from answer from the host (one
    probe, only where a venv is to be made); else PlanError naming the data key, before any change."""
    checks = tuple((e.venv, url, key) for e in plan.engines for url, key in e.reach)
    return reachable(plan, host.get_fact(SourcesUnreachable, checks=checks) if checks else [])


def offline_plan(host, facts: HostFacts) -> HostPlan:
    """``host``'s data planned against a hardware description instead of its facts (`llmhost plan
    INVENTORY --hardware FILE`): no host is read, no secret is made, a model directory is sized
    from its config.json; every node of a service across hosts is taken to be this hardware."""
    settings = hubmeta.attach(load(host.data.dict(), estimate_weights=True))
    gateway = gateway_inputs(host, settings, write_secrets=False)
    return plan_host(facts, settings, gateway, cluster_inputs(host, settings, facts, offline=facts))


def address_of(host, settings: Settings) -> str:
    """Where a client elsewhere reaches ``host``: llmhost_address, else its SSH hostname, else its
    inventory name (@local: this machine, 127.0.0.1)."""
    return settings.address or host.data.get("ssh_hostname") or ("127.0.0.1" if host.name == "@local" else host.name)


def host_endpoints(host, settings: Settings, plan: HostPlan) -> dict:
    """Where ``host``'s planned services answer and where each generated key is kept (never the key)."""
    return report.endpoints(address_of(host, settings), plan, secret_files(settings, host.name))


def stop_request(text: str, plan: HostPlan) -> tuple[str, ...]:
    """The services `llmhost stop INVENTORY SERVICE...` names (LLMHOST_STOP_ONLY, comma-separated;
    empty: all), each one this host runs (a name it does not run is refused, in one line)."""
    names = tuple(n for n in text.split(",") if n)
    planned = [s.name for s in (*plan.services, plan.gateway, plan.webui) if s]
    unknown = [n for n in names if n not in planned]
    if unknown:
        raise DataError("SERVICE", f"{unknown[0]!r} is not a service of this host (it runs: {', '.join(planned)})")
    return names


def bench_request(text: str) -> BenchRequest:
    """The benchmark `llmhost bench` asks for (LLMHOST_BENCH, JSON)."""
    import json
    import time

    asked = json.loads(text or "{}")
    return BenchRequest(
        stamp=asked.get("stamp") or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        services=tuple(asked.get("services") or ()),
        levels=tuple(asked["levels"]) if asked.get("levels") else None,
        prompt_tokens=int(asked.get("prompt_tokens") or 256),
        output_tokens=int(asked.get("output_tokens") or 128),
        requests=asked.get("requests"),
        max_seconds=int(asked.get("max_seconds") or 600),
    )
