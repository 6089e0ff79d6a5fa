"""Where each model lives on the host (a directory under llmhost_root/models with its manifest, or
where a host: model already is), what is made of it there (a GGUF, with llama.cpp's tools), and
whether the downloads fit the host's free disk."""

from __future__ import annotations

from llmhost.engines import CONVERT_TOOLS
from llmhost.plan.envs import env_link
from llmhost.plan.inputs import HostFacts
from llmhost.plan.types import ConvertPlan, EnginePlan, ModelPlan, PlanError, ServicePlan, gib
from llmhost.settings import HUB_SOURCES, ModelSource, ServiceWish


def model_path(root: str, source: ModelSource) -> str:
    """Where a model lives on the host: under <root>/models, or where a host: source already is."""
    return source.ref if source.kind == "host" else f"{root}/models/{source.slug}"


def model_plan(source: ModelSource, root: str) -> ModelPlan:
    path = model_path(root, source)
    manifest = f"{root}/models/{source.slug}.manifest.json" if source.kind == "host" else f"{path}.manifest.json"
    if source.locked:
        size = sum(f["size"] for f in source.locked["files"].values())
    elif source.kind == "controller" or source.info is None:
        size = None  # a pushed directory is checked file by file; host: and unknown hub ids: not known here
    else:
        size = source.info.weight_bytes
    return ModelPlan(
        spec=source.spec,
        source=source.kind,
        ref=source.ref,
        revision=source.revision,
        path=path,
        manifest=manifest,
        locked=source.locked,
        lock_file=source.lock_file,
        size_bytes=size,
        file=source.file,
    )


def convert_plan(
    wish: ServiceWish, model: ModelPlan, engine: EnginePlan, model_file: str, host: HostFacts, root: str
) -> ConvertPlan:
    """``engine``: the llama.cpp build whose tools make the GGUF."""
    dest = f"{model.path}--gguf-{wish.gguf}"
    outtype = wish.gguf.lower() if wish.gguf in ("F16", "BF16") else "f16"
    return ConvertPlan(
        source=model.path,
        source_manifest=model.manifest,
        output=f"{dest}/{model_file}",
        manifest=f"{dest}.manifest.json",
        quant=wish.gguf,
        outtype=outtype,
        python=f"{env_link(root, CONVERT_TOOLS.engine)}/bin/python",
        script=f"{engine.link}/convert/convert_hf_to_gguf.py",
        quantize=f"{engine.link}/bin/llama-quantize",
        spec=f"{model.spec} as GGUF {wish.gguf}",
        threads=max(1, host.cores),
        tools=engine,
    )


def check_disk(services: list[ServicePlan], facts: HostFacts, root: str) -> list[str]:
    """Refuse a model download that cannot fit the free disk; the reasons of what was checked."""
    free = facts.disk_free_bytes
    present = dict(facts.model_bytes)
    needed, reasons, seen = 0, [], set()
    for index, service in enumerate(services):
        model = service.model
        if model.path in seen or model.source not in HUB_SOURCES or model.size_bytes is None:
            continue
        seen.add(model.path)
        have = present.get(model.path, 0)
        more = max(0, model.size_bytes - have)
        needed += more
        where = "the lock" if model.locked else "the catalog"
        if free is not None and needed > free:
            raise PlanError(
                f"llmhost_services[{index}].model: {model.spec} needs {gib(more)} more under {root}/models "
                f"({gib(have)} of {gib(model.size_bytes)} from {where} already there), but only {gib(free)} is free"
                + (" after the models before it" if needed > more else "")
            )
        if more:
            reasons.append(
                f"disk: {model.spec} needs {gib(more)} more ({gib(model.size_bytes)} from {where}); "
                + (f"{gib(free)} free under {root}/models" if free is not None else "free space unknown")
            )
    return reasons
