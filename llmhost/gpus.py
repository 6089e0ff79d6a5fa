"""GPU data the planner uses: compute capability by name, and which vLLM build serves which GPU.

Sources: NVIDIA's CUDA GPUs table (developer.nvidia.com/cuda-gpus) for compute capabilities;
vLLM's installation docs (0.3.3-0.14: cc >= 7.0; 0.21+: cc >= 7.5; bf16 needs cc >= 8.0) and the
vLLM production-stack V100 tutorial (Volta: fp16, --enforce-eager) for the engine chain. Copied
into ../shared/reference/models-and-gpus.md and engines.md.
"""

from __future__ import annotations

# Name fragments as nvidia-smi prints them (older drivers drop the "NVIDIA " prefix).
COMPUTE_CAPABILITY = (
    ("V100", "7.0"),
    ("T4", "7.5"),
    ("MX450", "7.5"),
    ("RTX 20", "7.5"),
    ("A100", "8.0"),
    ("A800", "8.0"),
    ("A30", "8.0"),
    ("RTX 30", "8.6"),
    ("A10", "8.6"),
    ("RTX 40", "8.9"),
    ("L40", "8.9"),
    ("L4", "8.9"),
    ("H100", "9.0"),
    ("H800", "9.0"),
    ("H200", "9.0"),
)

BF16_MIN_CC = 8.0  # "Bfloat16 is only supported on GPUs with compute capability of at least 8.0"


def compute_capability(name: str, reported: str | None) -> float | None:
    """The GPU's compute capability: as nvidia-smi reported it, else from its name."""
    if reported:
        return float(reported)
    for fragment, cc in COMPUTE_CAPABILITY:
        if fragment in name:
            return float(cc)
    return None


# --- The compatibility chain: GPU architecture -> driver branch -> CUDA -> engine -------------------
# The driver branch llmhost installs where a host needs one: R580, NVIDIA's long-term branch, the
# last one that supports Maxwell, Pascal and Volta and the first that CUDA 13.0 needs.
# Sources: NVIDIA's driver release notes for 580 (Volta..Blackwell); CUDA 13.0 release notes
# ("Maxwell, Pascal and Volta ... are feature-complete ... dropped from CUDA 13.0"; offline
# compilation for them ends with CUDA 12.9).
DRIVER_BRANCH = "580"

# (lowest compute capability, architecture, the newest CUDA that still builds for it, the last
# driver branch that supports it (None: current)).
ARCHITECTURES = (
    (10.0, "Blackwell", None, None),
    (9.0, "Hopper", None, None),
    (8.9, "Ada", None, None),
    (8.0, "Ampere", None, None),
    (7.5, "Turing", None, None),
    (7.0, "Volta", "12.9", "580"),
    (6.0, "Pascal", "12.9", "580"),
)

# Minimum Linux driver of each CUDA toolkit (CUDA Toolkit release notes, Table 3 "CUDA Toolkit and
# Corresponding Driver Versions", the GA column). CUDA's minor-version compatibility lets a 12.x
# runtime start on any driver >= 525.60.13, without PTX JIT; llmhost plans the GA minimum, which
# is what the engines' own kernels are built and tested against.
CUDA_MIN_DRIVER = {
    "12.0": "525.60.13",
    "12.1": "530.30.02",
    "12.2": "535.54.03",
    "12.3": "545.23.06",
    "12.4": "550.54.14",
    "12.5": "555.42.02",
    "12.6": "560.28.03",
    "12.8": "570.26",
    "12.9": "575.51.03",
    "13.0": "580.65.06",
}


def architecture(cc: float) -> tuple[str, str | None, str | None]:
    """(name, newest CUDA, last driver branch) of the architecture of compute capability ``cc``."""
    for lowest, name, cuda, branch in ARCHITECTURES:
        if cc >= lowest:
            return name, cuda, branch
    return "pre-Pascal", "11.8", "470"


def driver_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split(".") if x.isdigit())


# --- Installing the stack: NVIDIA's apt repository and the driver -----------------------------------
# NVIDIA's CUDA repositories (developer.download.nvidia.com/compute/cuda/repos/<distro>/<arch>/);
# the cuda-keyring package adds the source and its key (CUDA installation guide, "Network Repo
# Installation"). Inside WSL: the wsl-ubuntu repository, whose packages never include a driver.
CUDA_REPO_DISTROS = {
    ("ubuntu", "22.04"): "ubuntu2204",
    ("ubuntu", "24.04"): "ubuntu2404",
    ("debian", "12"): "debian12",
    ("debian", "13"): "debian13",
}
CUDA_REPO_WSL = "wsl-ubuntu"
CUDA_REPO_ARCHS = {"x86_64": "x86_64", "aarch64": "sbsa"}
CUDA_KEYRING = "cuda-keyring_1.1-1_all.deb"


def cuda_toolkit_package(version: str) -> str:
    """The side-by-side toolkit package (cuda-toolkit-12-9 -> /usr/local/cuda-12.9); never the
    cuda / cuda-12-9 / cuda-drivers meta-packages, which pull a driver."""
    return "cuda-toolkit-" + version.replace(".", "-")


# How a driver branch is installed, per distribution:
# - Ubuntu: `ubuntu-drivers install --gpgpu nvidia:<branch>-server` (Ubuntu Server docs, "NVIDIA
#   drivers installation"): the headless server driver with Canonical's prebuilt, signed kernel
#   modules for the running kernel (they load with Secure Boot on), plus nvidia-utils-<branch>-server
#   for nvidia-smi, which --gpgpu leaves out.
# - Debian: NVIDIA's repository, cuda-drivers-<branch> (the branch-pinned meta-package; the unpinned
#   cuda-drivers would follow the newest branch): DKMS builds the modules against the kernel's
#   headers, unsigned, so Secure Boot must be off or a MOK enrolled.
DRIVER_METHODS = {
    "ubuntu": ("ubuntu-drivers", "nvidia-headless-no-dkms-{b}-server", "nvidia-utils-{b}-server"),
    "debian": ("nvidia-repo", "cuda-drivers-{b}"),
}


def driver_packages(os_id: str, branch: str) -> tuple[str, tuple[str, ...]]:
    """(method, the packages an installed branch leaves on the host) for ``os_id``."""
    method, *packages = DRIVER_METHODS[os_id]
    return method, tuple(p.format(b=branch) for p in packages)
