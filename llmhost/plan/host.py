"""One host's plan: the order of its decisions (plan_host) and the host-wide ones made here: the
supervisor, the Python the environments are made with, the engines to install (one venv per
engine), the model tools and the re-run check. The system packages are gathered by
llmhost.plan.packages as these decisions are made."""

from __future__ import annotations

import json
from dataclasses import replace

from llmhost.distros import APT_DISTROS
from llmhost.engines import (
    CONVERT_TOOLS,
    HUB_TOOLS,
)
from llmhost.plan import envs, gpu_stack, mirrors, preconditions, teardown
from llmhost.plan import gateway as gateway_unit
from llmhost.plan import webui as webui_unit
from llmhost.plan.cluster import ClusterInputs
from llmhost.plan.envs import venvs_dir
from llmhost.plan.gateway import plan_gateway
from llmhost.plan.hostplan import HostPlan
from llmhost.plan.inputs import Backend, GatewayInputs, HostFacts, owned_record
from llmhost.plan.models import check_disk
from llmhost.plan.monitoring import plan_monitoring
from llmhost.plan.packages import SystemPackages
from llmhost.plan.releases import gpus_cc
from llmhost.plan.route import may_use_gpus
from llmhost.plan.services import plan_services
from llmhost.plan.types import EnginePlan, PlanError, ServicePlan, unit_of
from llmhost.plan.webui import plan_webui
from llmhost.settings import HUB_SOURCES, Settings

SERVICE_USER = "llmhost"  # the system account that runs the engines (under systemd and tmux)


def supervised(settings: Settings) -> tuple[str, tuple[str, ...], str]:
    """What a plan of ``settings`` will supervise, known from the data before the host is read: the
    service account (under systemd), the units of its engines (Ollama's daemon apart), gateway and
    web UI, and the directory of their venvs. The layers read these states ahead, with the facts
    the planner reads (one round trip less); tests/unit/test_prefetch.py holds it to the plans."""
    units = [unit_of(s.name) for s in settings.services if s.engine != "ollama"]
    units += [u for u, wanted in ((gateway_unit.UNIT, settings.gateway), (webui_unit.UNIT, settings.webui)) if wanted]
    return SERVICE_USER, tuple(units), venvs_dir(settings.root)


def vllm_checks(services: list[ServicePlan], facts: HostFacts) -> dict[str, tuple[str, ...]]:
    """Each vLLM venv's services, as llmhost-hosttool's vllm-check takes them: the name, the parser
    of what runs (the OpenAI server module, or `vllm serve` for a headless worker), its arguments and
    the compute capability it was planned for (None: the CPU build)."""
    checks: dict[str, list[str]] = {}
    for svc in services:
        if svc.engine.engine.startswith("vllm"):
            node = svc.argv[2:3] == ("vllm-node",)  # python hosttool vllm-node ARGS; else python -m module ARGS
            spec = {
                "name": svc.name,
                "parser": "serve" if node else "api_server",
                "argv": list(svc.argv[3:]),
                "cc": gpus_cc(facts) if svc.engine.cuda else None,
            }
            checks.setdefault(svc.engine.venv, []).append(json.dumps(spec, sort_keys=True))
    return {venv: tuple(specs) for venv, specs in checks.items()}


def _supervisor(facts: HostFacts, settings: Settings) -> tuple[str, str]:
    """systemd where it is PID 1, else tmux (or what llmhost_supervisor pins)."""
    if settings.supervisor == "auto":
        if facts.systemd:
            return "systemd", "supervisor=systemd: systemd is PID 1"
        where = "WSL without systemd" if facts.wsl else "a container or an init without systemd"
        return "tmux", f"supervisor=tmux: systemd is not PID 1 ({where})"
    if settings.supervisor == "systemd" and not facts.systemd:
        raise PlanError("llmhost_supervisor: systemd is not PID 1 on this host; use auto or tmux")
    return settings.supervisor, f"supervisor={settings.supervisor}: pinned by llmhost_supervisor"


def _alone(settings: Settings) -> GatewayInputs:
    """A gateway (web UI, monitoring) planned without an inventory (a hardware file): in front of
    this host's services (and gateway)."""
    g = settings.gateway
    return GatewayInputs(
        "this host",
        ("this host",),
        tuple(
            Backend("this host", True, "127.0.0.1", i, s.name, s.engine, s.host, s.port, s.served_model_name, s.api_key)
            for i, s in enumerate(settings.services)
        ),
        gateways=(Backend("this host", True, "127.0.0.1", -1, "gateway", "gateway", g.host, g.port, ""),) if g else (),
    )


def plan_host(
    facts: HostFacts, settings: Settings, gateway: GatewayInputs | None = None, cluster: ClusterInputs | None = None
) -> HostPlan:
    """Decide everything for one host, in this order: supervisor, sources, /usr/local/cuda, Python
    environments, services (llmhost.plan.services), their engines and system packages, the gateway
    and the web UI (``gateway``: the inventory around this host), the driver and its reboot, NVIDIA's repository,
    disk, model tools. ``cluster``: the nodes of its services across hosts. Pure: same inputs, same plan."""
    if facts.os_id not in APT_DISTROS:
        raise PlanError(f"host: {facts.os_id} {facts.os_version} is not supported (supported: Debian, Ubuntu)")
    if settings.pip_no_index and not settings.pip_find_links:
        raise PlanError("llmhost_pip_no_index: true needs llmhost_pip_find_links (a wheelhouse on the host)")
    supervisor, supervisor_reason = _supervisor(facts, settings)
    reasons = [supervisor_reason]
    apt, mirror_reasons = mirrors.sources(facts, settings)
    reasons += mirror_reasons
    cuda, cuda_reasons = gpu_stack.cuda_default(settings, facts)
    reasons += cuda_reasons
    conda = None
    packages = SystemPackages(facts, settings, supervisor)
    if settings.env_manager == "conda":
        conda, conda_reason = envs.conda(settings, facts, [])
        reasons.append(conda_reason)
    elif facts.python_version == "":
        raise PlanError(
            f"llmhost_python: {settings.python} is not on the host ({facts.os_id} {facts.os_version}); install that "
            'Python first or name one the host has (llmhost_python = "python3")'
        )
    if facts.python_version and not conda:
        reasons.append(f"python: {settings.python} is Python {facts.python_version} on the host (llmhost_python)")
    service_user = SERVICE_USER
    if facts.python_unreachable and not conda:
        # an engine venv's python links to the interpreter it was made from: unreachable, it runs for root alone
        service_user = None
        reasons.append(
            f"user root runs the engines, the gateway and the web UI: llmhost_python ({settings.python}) is under "
            f"{facts.python_unreachable}, which the service user {SERVICE_USER} cannot enter; name an interpreter "
            'outside root\'s home (llmhost_python = "/usr/bin/python3") or set llmhost_env_manager = "conda" '
            f"to run them as {SERVICE_USER}"
        )
    else:
        reasons.append(
            f"service user {SERVICE_USER}: a system account without login runs the engines, the gateway and the web "
            f"UI ({'User= in their units' if supervisor == 'systemd' else 'switched to by their launchers'})"
        )

    reasons += preconditions.memory(facts)
    # GPUs on the PCI bus that nvidia-smi cannot read: the driver first, the services after it runs
    driver_first = bool(
        not facts.gpus and facts.pci_gpus and not facts.wsl and any(map(may_use_gpus, settings.services))
    )
    services, ollama = ([], None) if driver_first else plan_services(facts, settings, cluster)
    engines: dict[str, EnginePlan] = {}
    for svc in services:
        for engine in (svc.engine, *((svc.convert.tools,) if svc.convert else ())):
            if engine.venv in engines:
                continue
            other = next((e for e in engines.values() if e.link == engine.link), None)
            if other:
                raise PlanError(
                    f"llmhost_services: two venvs of {engine.engine} on one host ({other.venv}, {engine.venv}); "
                    f"{engine.link} can point to one of them"
                )
            engines[engine.venv] = engine
            reasons.append(
                envs.engine_reason(engine, settings)
                + ("" if engine is svc.engine else f" (its converter and llama-quantize make {svc.name}'s GGUF)")
            )
        packages.for_service(svc, facts)  # (refuses a distribution with no known tcmalloc here)
    for venv, specs in vllm_checks(services, facts).items():  # a new vLLM venv proves it takes the planned options
        engines[venv] = replace(engines[venv], serves=specs, check_tool=f"{settings.root}/bin/llmhost-hosttool")
    gateway_plan = None
    g = gateway or _alone(settings)  # the inventory around this host (none: this host alone)
    if settings.gateway and not driver_first:
        gateway_plan = plan_gateway(settings, facts, g.host, g.backends, g.inventory, g.master_key)
        engines[gateway_plan.engine.venv] = gateway_plan.engine
        reasons.append(envs.engine_reason(gateway_plan.engine, settings) + " (the gateway)")
        reasons += gateway_plan.reasons
    webui_plan = None
    if settings.webui and not driver_first:
        webui_plan = plan_webui(
            settings,
            facts,
            g.host,
            gateway_plan,
            g.backends,
            g.inventory,
            g.master_key,
            g.webui_password,
            g.webui_secret,
        )
        engines[webui_plan.engine.venv] = webui_plan.engine
        reasons.append(envs.engine_reason(webui_plan.engine, settings) + " (the web UI)")
        reasons += webui_plan.reasons
    monitoring_plan = None
    if settings.monitoring and not driver_first:
        monitoring_plan = plan_monitoring(settings, facts, supervisor, services, g)
        reasons += monitoring_plan.reasons
    fitted = [e for e in engines.values() if e.host_python]
    if fitted and not conda:  # releases the host's Python does not fit get conda envs of their own
        conda, conda_reason = envs.conda(settings, facts, fitted)
        reasons.append(conda_reason)
    made, gone = (), ()
    # the hub token reaches the host as a 0600 file (uploaded, never on a command line), for the
    # services fetched from the hub there; a token no longer wanted goes with the record's teardown
    hf_token_file = None
    if settings.hf_token and any(s.model.source == "hf" for s in services):
        hf_token_file = f"{settings.env_dir}/hf-token.env"
    if not driver_first:  # (the services are planned, and the host's record read, once the GPUs can be)
        made = teardown.owned(
            services, ollama, supervisor, gateway_plan, webui_plan, hf_token_file, monitoring_plan, facts.owned
        )
        gone, teardown_reasons = teardown.teardown(facts, made, owned_record(settings.root))
        teardown.refuse_emptied(made, gone, settings.remove_all)
        reasons += teardown_reasons
    accounts = {SERVICE_USER} | ({ollama.user} if ollama else set())
    taken = preconditions.port_conflicts(
        facts, settings, services, accounts | ({monitoring_plan.user} if monitoring_plan else set())
    )
    reasons += [f"port taken: {line} (a serve run stops here, before any change)" for line in taken]
    directories, made_directories, directory_reasons = preconditions.directories(facts, settings, service_user)
    reasons += directory_reasons
    shm, shm_reasons = preconditions.shared_memory(facts, services)
    nofile, nofile_reasons = preconditions.open_files(facts, supervisor, services)
    reasons += shm_reasons + nofile_reasons
    driver, driver_reasons = (
        gpu_stack.driver_first(facts) if driver_first else gpu_stack.driver(facts, list(engines.values()), settings)
    )
    reasons += driver_reasons
    reboot, stop_after_driver, reboot_reasons = gpu_stack.reboot(driver, facts, settings)
    reasons += reboot_reasons
    # engines compiled with nvcc on a host with no toolkit: the toolkit they were planned with is installed
    built = tuple(
        (e.cuda, f"{e.engine} {e.version}'s CUDA build")
        for e in engines.values()
        if e.build and e.cuda and e.cuda not in facts.cuda_toolkits and e.cuda not in settings.cuda_toolkits
    )
    cuda_repo, toolkit_reasons = gpu_stack.toolkits(settings, facts, driver, built)
    reasons += toolkit_reasons
    packages.for_host(conda, cuda_repo, driver)
    reasons += check_disk(services, facts, settings.root)
    tools = None
    hub = {svc.model.source for svc in services} & set(HUB_SOURCES)
    if hub:
        tools = envs.engine_plan(HUB_TOOLS.with_modelscope() if "modelscope" in hub else HUB_TOOLS, settings, facts)
        reasons.append(
            f"model tools venv {tools.venv}: {', '.join(tools.requirements)} fetch hub models "
            "(apart from the engines, so a model download never depends on an engine's pins)"
        )
    converter = None
    if any(svc.convert for svc in services):
        converter = envs.engine_plan(CONVERT_TOOLS, settings, facts)
        reasons.append(
            f"converter venv {converter.venv}: {', '.join(converter.requirements)} run llama.cpp's "
            "convert_hf_to_gguf.py (apart from the engines)"
        )
    verify_why = "re-hash every file (llmhost_verify=full)" if settings.verify == "full" else "manifest and sizes"
    reasons.append(f"models: checked against their sha256 manifests on every run ({verify_why})")
    return HostPlan(
        root=settings.root,
        env_dir=settings.env_dir,
        supervisor=supervisor,
        service_user=service_user,
        system_packages=packages.all(),
        missing_packages=tuple(p for p in packages.all() if p not in facts.deb_packages),
        engines=tuple(engines.values()),
        services=tuple(services),
        hf_endpoint=mirrors.endpoints(settings)["hf"],
        hf_token=settings.hf_token,
        hf_token_file=hf_token_file,
        port_conflicts=taken,
        directories=directories,
        made_directories=made_directories,
        health_timeout=settings.health_timeout,
        reasons=tuple(reasons),
        disk_free_bytes=facts.disk_free_bytes,
        modelscope_endpoint=mirrors.endpoints(settings)["modelscope"],
        endpoint_keys=tuple(sorted(mirrors.endpoint_keys(settings).items())),
        python=f"{conda.prefix}/bin/python" if settings.env_manager == "conda" else settings.python,
        apt=apt,
        conda=conda,
        cuda=cuda,
        driver=driver,
        cuda_repo=cuda_repo,
        cuda_toolkits=tuple(dict.fromkeys(settings.cuda_toolkits + tuple(v for v, _ in built))),
        stop_after_driver=stop_after_driver,
        reboot=reboot,
        ollama=ollama,
        converter=converter,
        wheelhouse=settings.wheelhouse,
        verify=settings.verify,
        tools=tools,
        shm=shm,
        nofile=nofile,
        owned=made,
        teardown=gone,
        gateway=gateway_plan,
        webui=webui_plan,
        monitoring=monitoring_plan,
    )
