"""What `llmhost bench` runs on a host: which services, the concurrency levels, the request shape,
the load generator's environment, and the hardware bound each service's single-stream decode is
held against (weights read per decoded token, over the memory bandwidth that feeds them)."""

from __future__ import annotations

from dataclasses import dataclass

from llmhost.engines import BENCH_TOOLS, GGUF_TYPES
from llmhost.gpus import gpu_bandwidth
from llmhost.modelinfo import ModelInfo
from llmhost.plan.envs import engine_plan
from llmhost.plan.hostplan import HostPlan
from llmhost.plan.inputs import HostFacts
from llmhost.plan.sizing import DTYPE_BYTES
from llmhost.plan.sizing.llamacpp import made_gguf_bytes
from llmhost.plan.types import EnginePlan, PlanError, ServicePlan, bind_url
from llmhost.settings import Settings

# A level's default request count: enough that the steady state outweighs the ramp at its start
# (each stream's first request waits for the prompt of the others) and short on a small CPU.
REQUESTS_PER_STREAM, MIN_REQUESTS = 4, 8


@dataclass(frozen=True)
class BenchRequest:
    """What the user asked for (`llmhost bench` flags); None: planned per service."""

    stamp: str  # names this run's results (the controller's UTC time): never overwritten
    services: tuple[str, ...] = ()  # () = every service of the host
    levels: tuple[int, ...] | None = None
    prompt_tokens: int = 256
    output_tokens: int = 128
    requests: int | None = None  # per level
    max_seconds: int = 600  # per level


@dataclass(frozen=True)
class BenchRun:
    """One service's sweep: each level runs GuideLLM on the host against the service's loopback URL."""

    service: str
    url: str
    model: str  # the served model name requests ask for
    tokenizer: str  # a directory with the model's tokenizer (a GGUF's directory, with ``gguf_file``)
    gguf_file: str | None
    levels: tuple[int, ...]
    requests: tuple[int, ...]  # per level
    prompt_tokens: int
    output_tokens: int
    max_seconds: int
    env_files: tuple[str, ...]  # where the host keeps the service's API key
    api_key_var: str
    out_dir: str  # the raw GuideLLM results on the host
    manifest: str  # the model's sha256 manifest (its digest goes into the record)
    weights_bytes: int | None  # read once per decoded token (None: not known to the plan)
    bound: str  # "cpu": the host's measured read bandwidth; "gpu": the GPUs' specification; "" none
    gpu_bandwidth_gbs: float | None  # the GPUs' together (tensor parallel), by specification
    produced_by: dict  # engine, version, argv, env, model (what the record says produced it)
    reasons: tuple[str, ...]

    def spec(self) -> dict:
        """What llmhost-bench sweep reads on the host (no secrets: it reads the key from env_files)."""
        return {
            "service": self.service,
            "url": self.url,
            "model": self.model,
            "tokenizer": self.tokenizer,
            "gguf_file": self.gguf_file,
            "levels": list(self.levels),
            "requests": list(self.requests),
            "prompt_tokens": self.prompt_tokens,
            "output_tokens": self.output_tokens,
            "max_seconds": self.max_seconds,
            "env_files": list(self.env_files),
            "api_key_var": self.api_key_var,
            "out_dir": self.out_dir,
            "manifest": self.manifest,
        }


@dataclass(frozen=True)
class BenchPlan:
    tools: EnginePlan  # the load generator's venv
    script: str  # llmhost-bench on the host
    bandwidth_cache: str  # the host's memory read bandwidth, probed once (llmhost-bench probe)
    probe: bool  # a CPU service is held against the host's bandwidth
    runs: tuple[BenchRun, ...]
    stamp: str


def default_levels(max_num_seqs: int) -> tuple[int, ...]:
    """1, 2, 4, 8, ... up to ``max_num_seqs``, which is a level too."""
    levels, c = [], 1
    while c < max_num_seqs:
        levels.append(c)
        c *= 2
    return tuple(levels + [max_num_seqs])


def weights_per_token(service: ServicePlan, info: ModelInfo | None) -> tuple[int | None, str]:
    """Bytes of weights a decode step reads (every weight once; an untied input embedding only one
    row), and how that was worked out."""
    if info is None:
        return None, "the plan has no numbers for this model (not in the catalog): no bound"
    embedding = info.vocab_size * info.hidden_size
    if service.convert:  # a GGUF made on the host: the checkpoint's weights at the type's bits
        quant = service.convert.quant
        params, size = made_gguf_bytes(info, quant)
        per_weight = GGUF_TYPES[quant] / 8
        how = (
            f"{service.model_file}, made on the host (~{size / 1e9:.2f} GB: {params / 1e9:.3f} B weights x "
            f"{GGUF_TYPES[quant]:g} bits{'' if quant in ('F16', 'BF16') else ', the type average'})"
        )
    elif service.model_file:  # a GGUF: its file, as served
        size = info.weight_bytes
        how = f"{service.model_file} ({size / 1e9:.2f} GB)"
        per_weight = size / max(1, info.params or 0) if info.params else None
    elif service.quantization in (None, info.quantization):
        dtype = DTYPE_BYTES.get(service.dtype, info.stored_dtype_bytes)
        size = info.weight_bytes * dtype // info.stored_dtype_bytes if not info.quantization else info.weight_bytes
        how = f"{info.weight_bytes / 1e9:.2f} GB stored" + (
            f", {service.dtype} as served" if dtype != info.stored_dtype_bytes and not info.quantization else ""
        )
        per_weight = dtype if not info.quantization else None
    else:
        return None, f"quantized on load ({service.quantization}): the bytes read are not known to the plan: no bound"
    if info.tied_embeddings is False and embedding and per_weight:
        size -= int(embedding * per_weight)
        how += f", less the untied input embedding ({embedding * per_weight / 1e9:.2f} GB, one row read per token)"
    if info.active_params and info.params:  # a MoE model: a token reads its routed experts only
        size = int(size * info.active_params / info.params)
        how += (
            f", x {info.active_params / 1e9:.2f} B active of {info.params / 1e9:.2f} B params "
            f"({info.experts_active} of {info.experts} experts a token)"
        )
    return size, how


def _tokenizer(service: ServicePlan) -> tuple[str, str | None, str]:
    """Where the load generator finds the served model's tokenizer on the host."""
    if service.convert:
        return service.convert.source, None, f"tokenizer: the checkpoint {service.convert.source} the GGUF is made of"
    if service.model_file:
        return (
            service.model.path,
            service.model_file,
            f"tokenizer: read from {service.model_file} (transformers + gguf)",
        )
    return service.model.path, None, f"tokenizer: the model's own ({service.model.path})"


def _levels(key: str, service: ServicePlan, request: BenchRequest) -> tuple[int, ...]:
    if request.levels is None:
        return default_levels(service.max_num_seqs)
    over = [c for c in request.levels if c > service.max_num_seqs]
    if over:
        raise PlanError(
            f"{key}: concurrency {over[0]} is above {service.name}'s max_num_seqs {service.max_num_seqs} "
            "(the engine would only queue the rest); name levels up to it"
        )
    return request.levels


def plan_bench(plan: HostPlan, facts: HostFacts, settings: Settings, request: BenchRequest) -> BenchPlan:
    """The sweep of each asked-for service of a planned host (PlanError: an unknown service, a level
    above a service's max_num_seqs, a request longer than its context)."""
    by_name = {s.name: s for s in plan.services}
    unknown = [name for name in request.services if name not in by_name]
    if unknown:
        raise PlanError(f"--service: no service {unknown[0]!r} on this host (it has: {', '.join(by_name) or 'none'})")
    wishes = {w.name: w for w in settings.services}
    runs = []
    # a headless worker of a service across hosts has no endpoint: its head's sweep measures the cluster
    for service in [s for s in [by_name[n] for n in request.services] or plan.services if not s.headless]:
        levels = _levels("--levels", service, request)
        length = request.prompt_tokens + request.output_tokens
        if service.max_model_len and length > service.max_model_len:
            raise PlanError(
                f"--prompt-tokens/--output-tokens: {request.prompt_tokens} + {request.output_tokens} tokens "
                f"exceed {service.name}'s max_model_len {service.max_model_len}"
            )
        counts = tuple(request.requests or max(MIN_REQUESTS, REQUESTS_PER_STREAM * c) for c in levels)
        tokenizer, gguf_file, tokenizer_why = _tokenizer(service)
        weights, weights_why = weights_per_token(service, wishes[service.name].model.info)
        on_gpu = bool(service.gpus)
        gpu_gbs, bound_why = None, "bound: the host's memory read bandwidth (probed once, cached on the host)"
        if on_gpu:
            names = [facts.gpus[i].name for i in service.gpus]
            each = [gpu_bandwidth(n) for n in names]
            if all(each):
                gpu_gbs = float(sum(each))
                bound_why = (
                    f"bound: {' + '.join(f'{b:g}' for b in each)} GB/s of GPU memory by specification "
                    f"({', '.join(dict.fromkeys(names))}; llmhost/gpus.py)"
                )
            else:
                bound_why = f"bound: no memory bandwidth known for {names[each.index(None)]} (llmhost/gpus.py)"
        runs.append(
            BenchRun(
                service=service.name,
                url=bind_url(service.bind, service.port),
                model=service.served_model_name,
                tokenizer=tokenizer,
                gguf_file=gguf_file,
                levels=levels,
                requests=counts,
                prompt_tokens=request.prompt_tokens,
                output_tokens=request.output_tokens,
                max_seconds=request.max_seconds,
                env_files=service.secret_files,
                api_key_var=service.api_key_var,
                out_dir=f"{plan.root}/bench/{service.name}/{request.stamp}",
                manifest=service.convert.manifest if service.convert else service.model.manifest,
                weights_bytes=weights,
                bound="gpu" if gpu_gbs else "" if on_gpu or weights is None else "cpu",
                gpu_bandwidth_gbs=gpu_gbs,
                produced_by={
                    "engine": service.engine.engine,
                    "version": service.engine.version,
                    "variant": service.engine.variant,
                    "argv": list(service.argv),
                    "env": dict(service.env),
                    "model": service.model.spec,
                    "model_file": service.model_file,
                    "dtype": service.dtype,
                    "max_num_seqs": service.max_num_seqs,
                    "max_model_len": service.max_model_len,
                },
                reasons=(
                    f"levels {', '.join(map(str, levels))}: "
                    + ("asked for" if request.levels else f"doubling up to max_num_seqs {service.max_num_seqs}"),
                    f"requests per level {', '.join(map(str, counts))}"
                    + ("" if request.requests else f": {REQUESTS_PER_STREAM} per stream, at least {MIN_REQUESTS}"),
                    tokenizer_why,
                    f"weights per token: {weights_why}",
                    bound_why,
                ),
            )
        )
    tools = engine_plan(BENCH_TOOLS, settings, facts)
    return BenchPlan(
        tools=tools,
        script=f"{plan.root}/bin/llmhost-bench",
        bandwidth_cache=f"{plan.root}/bench/memory-bandwidth.json",
        probe=any(r.bound == "cpu" for r in runs),
        runs=tuple(runs),
        stamp=request.stamp,
    )
