"""Packaged deploys, one per layer. Each reads a HostPlan and never decides anything itself.

    mirrors -> system -> gpu -> cuda -> engine -> model -> service -> engine.pruned -> verify

(a run whose new NVIDIA driver waits for a reboot ends after gpu; see HostPlan.stop_after_driver)

``host_plan(host)`` is the one entry: validate the host's data, read its facts, plan.
"""

from __future__ import annotations

import os
import re
import secrets
import weakref
from pathlib import Path

from pyinfra import host as current_host
from pyinfra import logger
from pyinfra.api.exceptions import DeployError

from llmhost.catalog import GGUF
from llmhost.facts import host_facts, prefetch
from llmhost.plan import (
    Backend,
    BenchRequest,
    ClusterInputs,
    GatewayInputs,
    HostFacts,
    HostPlan,
    Node,
    model_path,
    plan_host,
)
from llmhost.settings import HUB_SOURCES, MASTER_KEY, WEBUI_PASSWORD, DataError, Settings, load

# Engines whose install layer exists in this version. vLLM on GPUs: the same venv/service layers
# as vllm-cpu with the gpu layer before them (checked at the command level; no GPU runs here).
# llama.cpp: built from source, serving a GGUF: a model directory holding one, or one file of a hub
# repository (hf:org/name/file.gguf; a base model's repository is refused with the GGUF to name).
# Ollama: unpacked from its release tarball (checked at the command level and against a stand-in
# release in the fleet tests; no real Ollama can be downloaded on the machines llmhost is tested on).
APPLICABLE_ENGINES = ("vllm-cpu", "vllm", "llamacpp", "ollama")
ENGINE_NAMES = {"llamacpp": "llama.cpp", "ollama": "Ollama"}  # the engines that serve GGUF files


def host_inputs(host) -> tuple[Settings, HostFacts]:
    """``host``'s data, validated (DataError on bad input), and its facts: what the planner reads."""
    settings = load(host.data.dict())
    hub_dirs = {
        path: f"{path}.manifest.json"
        for path in (model_path(settings.root, s.model) for s in settings.services if s.model.kind in HUB_SOURCES)
    }
    network = any(host.name in s.nodes for s in settings.services)  # a node of a service across hosts
    from llmhost.deploys import service, system  # what the layers will read, foretold by the data: one round trip

    also = tuple(system.reads_ahead(settings) + service.reads_ahead(settings))
    return settings, host_facts(
        host, settings.root, tuple(hub_dirs.items()), settings.python, network=network, also=also
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


def cluster_inputs(host, settings: Settings, facts: HostFacts) -> ClusterInputs | None:
    """The nodes of ``host``'s services across hosts: each one's data (from the controller) and
    facts (read from it once a run: every node plans the whole cluster); None where it has none."""
    names = {name for s in settings.services for name in s.nodes}
    if not names:
        return None
    read = _node_facts.setdefault(host.state, {})
    nodes = []
    for other in host.inventory:
        if other.name not in names:
            continue
        if other.name == host.name:
            nodes.append(Node(host.name, facts, settings.cluster_interface, settings.services))
            continue
        theirs = _their_data(other, host, "a service across hosts")
        if other.name not in read:
            read[other.name] = host_facts(other, theirs.root, (), theirs.python, network=True)
        nodes.append(Node(other.name, read[other.name], theirs.cluster_interface, theirs.services))
    return ClusterInputs(host.name, tuple(h.name for h in host.inventory), tuple(nodes))


def controller_secret(settings: Settings, host_name: str, name: str, make, valid: re.Pattern, what: str) -> str:
    """A secret generated once on the controller (llmhost_secrets_dir/<host>/<name>, 0600) by
    ``make()``: the same on every run and rebuild; ``valid``/``what``: what a good one is."""
    path = Path(settings.secrets_dir) / re.sub(r"[^A-Za-z0-9._@-]+", "--", host_name) / name
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(path, "x", opener=lambda p, flags: os.open(p, flags, 0o600)) as f:
                f.write(f"{make()}\n")
        value = path.read_text().strip()
    except OSError as e:
        raise DataError("llmhost_secrets_dir", f"cannot keep the {name.replace('-', ' ')} in {path}: {e.strerror}")
    if not valid.fullmatch(value):
        raise DataError("llmhost_secrets_dir", f"{path} does not hold {what}; delete it to have one generated")
    return value


def master_key(settings: Settings, host_name: str) -> str:
    """The gateway's master key: the data's, else the one generated on the controller, once
    (llmhost_secrets_dir/<host>/gateway-master-key, 0600): the same on every run and rebuild."""
    if settings.gateway.master_key:
        return settings.gateway.master_key
    return controller_secret(
        settings,
        host_name,
        "gateway-master-key",
        lambda: f"sk-{secrets.token_hex(32)}",
        MASTER_KEY,
        'a master key ("sk-" and 16+ characters)',
    )


def webui_secrets(settings: Settings, host_name: str) -> tuple[str, str]:
    """The web UI's admin password (the data's, else generated on the controller once) and its
    session secret (generated there once: sign-ins survive a rebuild)."""
    password = settings.webui.admin_password or controller_secret(
        settings,
        host_name,
        "webui-admin-password",
        lambda: secrets.token_urlsafe(18),
        WEBUI_PASSWORD,
        "a password (8+ printable characters)",
    )
    secret = controller_secret(
        settings,
        host_name,
        "webui-secret-key",
        lambda: secrets.token_hex(32),
        re.compile(r"[0-9a-f]{64}"),
        "a session secret (64 hex digits)",
    )
    return password, secret


def gateway_inputs(host, settings: Settings) -> GatewayInputs | None:
    """The services of every host of the inventory, from their data (a bad value in another host's
    data is named with that host), and the secrets kept on the controller, for ``host``'s gateway
    and web UI; None where it has neither."""
    if not settings.gateway and not settings.webui:
        return None
    backends = []
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
    password, secret = webui_secrets(settings, host.name) if settings.webui else ("", "")
    return GatewayInputs(
        host.name,
        tuple(h.name for h in host.inventory),
        tuple(backends),
        master_key(settings, host.name) if settings.gateway else "",
        password,
        secret,
    )


def host_plan(host) -> HostPlan:
    """Validate ``host``'s data (DataError on bad input), read its facts and plan it (PlanError)."""
    settings, facts = host_inputs(host)
    return plan_host(facts, settings, gateway_inputs(host, settings), cluster_inputs(host, settings, facts))


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


def serve(plan: HostPlan) -> None:
    """Every layer in order (deploys/serve.py; deploys/status.py runs them dry, for drift)."""
    from llmhost.deploys import cuda, engine, gpu, mirrors, model, service, system, verify

    for layer in (system, service):  # what the layers read while they are prepared: in one round trip
        for cls, kwargs in layer.reads(plan):
            prefetch.expect(current_host, cls, **kwargs)
    mirrors.apply(plan)
    system.apply(plan)
    gpu.apply(plan)
    if plan.stop_after_driver:  # a reboot stands between the new driver and the engines
        logger.warning(f"{current_host.name}: this run ends after the gpu layer: {plan.stop_after_driver}")
        return
    cuda.apply(plan)
    engine_ops = engine.apply(plan)
    model_ops = model.apply(plan)
    service.apply(plan, model_ops, engine_ops)
    engine.pruned(plan)
    verify.apply(plan)


def applicable(plan: HostPlan) -> HostPlan:
    """The plan, if this version's layers can apply it; else one line saying what they cannot."""
    for index, service in enumerate(plan.services):
        if (
            service.engine.binary
            and service.model.source in HUB_SOURCES
            and not service.model.file
            and not service.convert
        ):
            gguf = next((g for g in GGUF.get(service.model.ref, ()) if g.filename == service.model_file), None)
            raise DeployError(
                f"llmhost_services[{index}].model: {ENGINE_NAMES[service.engine.engine]} serves a GGUF, not the "
                f"repository of {service.model.ref}; name the GGUF file as the model"
                + (f' ("{service.model.source}:{gguf.repo}/{gguf.filename}", the one planned)' if gguf else "")
                + " or give a directory holding one .gguf"
            )
        if service.engine.engine not in APPLICABLE_ENGINES:
            raise DeployError(
                f"llmhost_services[{index}].engine: the plan chose {service.engine.engine} "
                f"{service.engine.version} ({service.engine.variant}), whose install layer is not in this "
                f"llmhost version yet (it applies: {', '.join(APPLICABLE_ENGINES)}); `llmhost plan` shows the plan"
            )
    return plan
