"""What each service runs on: the one place that reads a service's ``engine``, its model's format
and the host's GPUs and decides the engine and the device. The order services are planned in,
the CPU shares and the sizing all read this decision; none decides it again."""

from __future__ import annotations

from dataclasses import dataclass

from packaging.requirements import Requirement

from llmhost.engines import LLAMACPP, EngineRelease
from llmhost.modelinfo import ModelInfo
from llmhost.plan.inputs import HostFacts
from llmhost.plan.releases import vllm_release
from llmhost.plan.types import PlanError
from llmhost.served import SERVES, SERVES_GGUF, VLLM_DROPPED
from llmhost.settings import ServiceWish, Settings

# Why auto never picks Ollama (it is chosen by pinning engine: ollama): it changes the service's
# shape, not only its engine.
NOT_OLLAMA = (
    "not Ollama, which is chosen only when pinned: one daemon serves all its models on one address, "
    "loads them on demand and has no API key"
)

# What `workload` chooses between on a CPU host, measured with `scripts/bench_cpu.py` (docs/project/benchmarks.md,
# "Benchmarks": a Qwen2.5-0.5B-shaped bf16 model on 2 EPYC cores, prompt 155, 64 out).
LATENCY = (
    "llama.cpp decodes one stream nearest the memory-bandwidth bound (0.86-1.00x measured in three runs, "
    "vLLM's CPU build 0.61-0.90x); vLLM batches more streams per second"
)
# ... except on a CPU with AMX (measured with the same script on a 2-core virtualized Xeon with AMX,
# 2026-11-27): vLLM's CPU build computes bfloat16 through oneDNN on the AMX tiles, llama.cpp's BF16
# path has no AMX kernels (ggml's AMX takes quantized types only, and llmhost turns it off there).
AMX_BF16 = "amx_bf16"
LATENCY_AMX = (
    "vLLM's CPU build computes bfloat16 on AMX (oneDNN) and llama.cpp's BF16 path does not: measured on "
    "2 Xeon cores with AMX (a 155-token prompt), the first token came in 120-125 ms under vLLM and 791 ms "
    "under llama.cpp, and one stream decoded alike (17.3 and 18.0 tok/s); tokens are streamed one by one"
)
THROUGHPUT = "vLLM's CPU build batches concurrent requests (1.36x llama.cpp's output tok/s at 8 streams measured)"


@dataclass(frozen=True)
class Route:
    """``engine`` (vllm | vllm-cpu | llamacpp | ollama) and whether it computes on the host's GPUs
    (else on its share of the CPUs), with ``why``. ``fallback``: auto on GPUs, where vLLM cannot
    serve the model, llama.cpp with a GGUF quant instead (why). ``gguf``: the lossless GGUF type the
    checkpoint is converted to for a llama.cpp route the service did not ask a GGUF for."""

    engine: str
    on_gpu: bool
    why: str
    fallback: str | None = None
    gguf: str | None = None  # a GGUF of the checkpoint the route needs (llama.cpp for workload: latency)

    @property
    def reason(self) -> str:
        return f"engine={self.engine}: {self.why}"


def pinned(wish: ServiceWish) -> str:
    return "pinned by the service" + (" (workload steers engine auto only)" if wish.workload == "latency" else "")


# The GGUF auto makes on the host for a GPU whose vLLM release lacks the model's architecture:
# 8.5 bits a weight, next to lossless, half a 16-bit checkpoint's memory.
ARCH_FALLBACK_GGUF = "Q8_0"


def route(index: int, wish: ServiceWish, facts: HostFacts, settings: Settings) -> Route:
    """What service ``index`` runs on; an engine that cannot serve its model here is refused."""
    key = f"llmhost_services[{index}]"
    pins = settings.engine_pins
    engine, gpus = wish.engine, bool(facts.gpus)
    gguf = wish.model.info is not None and wish.model.info.gguf_file is not None
    if engine == "ollama":  # one daemon for all of them, on the GPUs where there are any
        return Route("ollama", gpus, pinned(wish))
    if wish.gguf:  # auto or llamacpp here (llmhost.settings refuses gguf with the vLLM engines)
        return Route(
            "llamacpp",
            gpus,
            f"the service asks for a GGUF of its checkpoint (gguf: {wish.gguf}), which llama.cpp serves",
        )
    if gguf and engine in ("auto", "llamacpp"):
        return Route(
            "llamacpp",
            gpus,
            pinned(wish)
            if engine == "llamacpp"
            else f"auto, and the model is a GGUF (llama.cpp's own format; {NOT_OLLAMA})",
        )
    if gguf:
        raise PlanError(
            f"{key}.engine: {engine} does not serve GGUF files like {wish.model.info.gguf_file}; use llamacpp or auto"
        )
    amx = AMX_BF16 in facts.cpu_flags
    if engine == "auto" and not gpus and wish.workload == "latency":
        if amx:
            return Route(
                "vllm-cpu",
                False,
                f"auto, workload: latency, no NVIDIA GPU and a CPU with AMX ({AMX_BF16}): {LATENCY_AMX}",
            )
        stored = wish.model.info.torch_dtype if wish.model.info else "bfloat16"
        gguf = "BF16" if stored == "bfloat16" else "F16"
        kept = {"bfloat16": "as stored", "float16": "as stored"}.get(stored, f"half the bytes of its {stored}")
        return Route(
            "llamacpp",
            False,
            f"auto, workload: latency and no NVIDIA GPU: {LATENCY}; the checkpoint is "
            f"made into a {gguf} GGUF on the host ({kept})",
            gguf=gguf,
        )
    if engine == "vllm-cpu" or (engine == "auto" and not gpus):
        return Route(
            "vllm-cpu",
            False,
            pinned(wish)
            if engine == "vllm-cpu"
            else f"auto, workload: throughput and no NVIDIA GPU: {THROUGHPUT}"
            + ("" if amx else "; workload: latency picks llama.cpp, faster for one stream"),
        )
    if engine == "vllm":
        if not gpus:
            raise PlanError(
                f"{key}.engine: vllm (the CUDA build) needs an NVIDIA GPU and this host has none; use vllm-cpu or auto"
            )
        return Route("vllm", True, pinned(wish))
    if engine == "llamacpp":
        return Route("llamacpp", gpus, pinned(wish))
    # auto with GPUs: vLLM where it serves the architecture and the model fits, else llama.cpp.
    vllm = vllm_release(facts, settings).release  # None: no vLLM here (refused in sizing)
    info = wish.model.info
    why = vllm and unsupported(info, vllm, pins)
    if why and not info.quantization and not unsupported(info, LLAMACPP, pins):
        return Route(
            "llamacpp",
            True,
            f"auto: {why}; llama.cpp serves it from a {ARCH_FALLBACK_GGUF} GGUF made on the host ({NOT_OLLAMA})",
            gguf=ARCH_FALLBACK_GGUF,
        )
    return Route(
        "vllm",
        True,
        f"auto, the host has {len(facts.gpus)} NVIDIA GPU(s) (vLLM batches the most requests "
        "per GPU; llama.cpp/Ollama only where vLLM cannot serve the model"
        + ("; workload steers CPU hosts only" if wish.workload == "latency" else "")
        + ")",
        fallback=f"auto ({NOT_OLLAMA})",
    )


def may_use_gpus(wish: ServiceWish) -> bool:
    """Whether a service may run on GPUs the host cannot read yet (no driver): every engine but
    vllm-cpu, so the driver comes first and the services are routed once the GPUs can be read."""
    return wish.engine != "vllm-cpu"


def unsupported(info: ModelInfo | None, release: EngineRelease, pins: tuple) -> str | None:
    """Why ``release`` cannot serve the model's architecture, naming the pinned releases that can
    (from each release's own code: llmhost/archs/); None where it can, or where llmhost cannot tell
    (no numbers; llmhost_engine_pins replaces the engine's own package with another version)."""
    if info is None or info.architecture in ("unknown", ""):
        return None
    package = Requirement(release.requirements[0]).name if release.requirements else None
    if package and any(Requirement(r).name == package for env, reqs in pins if env == release.engine for r in reqs):
        return None
    gguf = info.architecture.startswith("gguf:")
    lists = SERVES_GGUF if gguf else SERVES
    name = info.architecture.removeprefix("gguf:")
    have = lists.get((release.engine, release.version))
    if not have or name in have:
        return None
    others = [
        f"{engine} {version}" + (" (a GGUF of it: gguf: Q4_K_M)" if engine == "llamacpp" and not gguf else "")
        for (engine, version), names in lists.items()
        if name in names
    ]
    dropped = VLLM_DROPPED.get(name) if release.engine.startswith("vllm") else None
    return (
        f"{release.engine} {release.version} does not serve the architecture {name}"
        + (f" (vLLM dropped it after {dropped})" if dropped else "")
        + "; "
        + (f"served by {', '.join(others)}" if others else "no engine release llmhost pins serves it")
    )


def refuse_unserved(key: str, wish: ServiceWish, release: EngineRelease, pins: tuple) -> None:
    """PlanError where ``release`` cannot serve the service's model architecture (see unsupported)."""
    why = unsupported(wish.model.info, release, pins)
    if why:
        raise PlanError(f"{key}.engine: {why}")
