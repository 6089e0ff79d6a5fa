"""Whether this version's layers can apply a plan: the engines whose install layer exists, and
GGUF engines given a model they can serve. A plan is shown by `llmhost plan` either way; the
deploys that change a host refuse it here, in one line, before any change."""

from __future__ import annotations

from llmhost.catalog import GGUF
from llmhost.plan.hostplan import HostPlan
from llmhost.plan.types import PlanError
from llmhost.settings import HUB_SOURCES

# Engines whose install layer exists in this version. vLLM on GPUs: the same venv/service layers
# as vllm-cpu with the gpu layer before them (checked at the command level; no GPU runs here).
# llama.cpp: built from source, serving a GGUF: a model directory holding one, or one file of a hub
# repository (hf:org/name/file.gguf; a base model's repository is refused with the GGUF to name).
# Ollama: unpacked from its release tarball (checked at the command level and against a stand-in
# release in the fleet tests; no real Ollama can be downloaded on the machines llmhost is tested on).
APPLICABLE_ENGINES = ("vllm-cpu", "vllm", "llamacpp", "ollama")
ENGINE_NAMES = {"llamacpp": "llama.cpp", "ollama": "Ollama"}  # the engines that serve GGUF files


def applicable(plan: HostPlan) -> HostPlan:
    """The plan, if this version's layers can apply it and the ports it listens on are free (or
    llmhost's own); else one line saying what stops it."""
    if plan.port_conflicts:
        raise PlanError(plan.port_conflicts[0])
    for index, service in enumerate(plan.services):
        if (
            service.engine.binary
            and service.model.source in HUB_SOURCES
            and not service.model.file
            and not service.convert
        ):
            gguf = next((g for g in GGUF.get(service.model.ref, ()) if g.filename == service.model_file), None)
            raise PlanError(
                f"llmhost_services[{index}].model: {ENGINE_NAMES[service.engine.engine]} serves a GGUF, not the "
                f"repository of {service.model.ref}; name the GGUF file as the model"
                + (f' ("{service.model.source}:{gguf.repo}/{gguf.filename}", the one planned)' if gguf else "")
                + " or give a directory holding one .gguf"
            )
        if service.engine.engine not in APPLICABLE_ENGINES:
            raise PlanError(
                f"llmhost_services[{index}].engine: the plan chose {service.engine.engine} "
                f"{service.engine.version} ({service.engine.variant}), whose install layer is not in this "
                f"llmhost version yet (it applies: {', '.join(APPLICABLE_ENGINES)}); `llmhost plan` shows the plan"
            )
    return plan


# What to set instead, by the data key that named an unreachable source.
_INSTEAD = {
    "llmhost_torch_index_url": (
        "set llmhost_torch_index_url to an index of the same torch builds that is reachable (a mirror), or give "
        "the wheels: llmhost_pip_find_links (a directory on the host) or llmhost_wheelhouse (shipped from the "
        "controller; `llmhost wheelhouse`)"
    ),
    "llmhost_pip_index_url": "set llmhost_pip_index_url or llmhost_mirror to an index that is, or use llmhost_wheelhouse",
    "llmhost_mirror": "set llmhost_mirror to another (or none), or llmhost_pip_index_url",
}


def reachable(plan: HostPlan, unreachable: list[list[str]]) -> HostPlan:
    """The plan, if the indexes its new venvs install from answer from the host (``unreachable``:
    ``[key, url, why]`` of those that do not, read before any change); else one line naming the
    data key to set."""
    if not unreachable:
        return plan
    key, url, why = unreachable[0]
    instead = next((text for k, text in _INSTEAD.items() if key.startswith(k)), "set it to one that is")
    raise PlanError(f"{key}: {url} is not reachable from this host ({why}); {instead}")
