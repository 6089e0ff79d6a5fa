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

# Memory bandwidth in GB/s (10^9 B/s) from NVIDIA's datasheets, by name fragment as nvidia-smi prints
# it, the most specific first: what bounds decode speed when every weight is read once per token.
# (A100/A800 80GB SXM4 2039, 80GB PCIe 1935, 40GB 1555; V100 SXM2/PCIe 900, V100S 1134; H100 SXM
# 3350, PCIe 2000; RTX 4060 Laptop: 128-bit GDDR6 at 16 Gbps; MX450: 64-bit GDDR6, "up to 80 GB/s".)
MEMORY_BANDWIDTH_GBS = (
    ("A100-SXM4-80GB", 2039),
    ("A800-SXM4-80GB", 2039),
    ("A100 80GB PCIe", 1935),
    ("A800 80GB PCIe", 1935),
    ("A100", 1555),
    ("A800", 1555),
    ("V100S", 1134),
    ("V100", 900),
    ("H100 PCIe", 2000),
    ("H100", 3350),
    ("H800", 3350),
    ("H200", 4800),
    ("A30", 933),
    ("A10", 600),
    ("T4", 320),
    ("L40", 864),
    ("L4", 300),
    ("RTX 4090", 1008),
    ("RTX 4060 Laptop", 256),
    ("RTX 4060", 272),
    ("RTX 3090", 936),
    ("MX450", 80),
)


def gpu_bandwidth(name: str) -> float | None:
    """The GPU's memory bandwidth in GB/s by its specification (None: not in the table)."""
    return next((float(gbs) for fragment, gbs in MEMORY_BANDWIDTH_GBS if fragment in name), None)


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
# driver branch that supports it (None: current)). CUDA 13.0 removed offline compilation and
# library support for Maxwell, Pascal and Volta ("through the 12.x series ... will continue to be
# supported"); NVIDIA's Unix driver deprecation schedule: "The release 580 series will be the last
# to support GPUs based on the Maxwell, Pascal, and Volta architectures". Kepler's last CUDA was
# 11.8 and its last driver branch 470.
ARCHITECTURES = (
    (10.0, "Blackwell", None, None),
    (9.0, "Hopper", None, None),
    (8.9, "Ada", None, None),
    (8.0, "Ampere", None, None),
    (7.5, "Turing", None, None),
    (7.0, "Volta", "12.9", "580"),
    (6.0, "Pascal", "12.9", "580"),
    (5.0, "Maxwell", "12.9", "580"),
)
# NVIDIA's open GPU kernel modules: the default since driver 560, recommended from Turing on and the
# only ones for Blackwell and Grace Hopper; Maxwell, Pascal and Volta need the proprietary ones (so
# does a host that mixes them with newer GPUs). (NVIDIA, "Transitions Fully Towards Open-Source GPU
# Kernel Modules"; driver installation guide, kernel modules.)
OPEN_MODULES_MIN_CC = 7.5
# Where nvidia-smi cannot tell (no driver yet), the PCI device id: NVIDIA numbers its GPUs roughly by
# generation, Turing's from 0x1e00 (TU102) on; Volta's GV100 is 0x1db*.
OPEN_MODULES_MIN_PCI_DEVICE = 0x1E00

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
# Inside WSL the driver is Windows' and nvidia-smi prints its version: held against the Windows
# column of the same table (GA). CUDA 13.0's row says N/A for Windows; 580.88 is the first Windows
# driver of branch 580, which CUDA 13.x needs (Table 2: "13.x >= 580").
CUDA_MIN_DRIVER_WINDOWS = {
    "12.0": "527.41",
    "12.1": "531.14",
    "12.2": "536.25",
    "12.3": "545.84",
    "12.4": "551.61",
    "12.5": "555.85",
    "12.6": "560.76",
    "12.8": "570.65",
    "12.9": "576.02",
    "13.0": "580.88",
}


def min_driver(cuda: str, wsl: bool) -> str:
    """The oldest driver that runs ``cuda``: Linux's, or inside WSL Windows'."""
    return (CUDA_MIN_DRIVER_WINDOWS if wsl else CUDA_MIN_DRIVER)[cuda]


# CUDA minor-version compatibility: a program built with any toolkit of a major release runs on
# that major's first driver, if it carries native code (cubins) for the GPU. NVIDIA's CUDA
# Compatibility guide ("applications compiled with a CUDA Toolkit release from within a CUDA major
# release family can run, with limited feature-set, on systems having at least the minimum
# required driver version"; release notes Table 2: 12.x >= 525, 13.x >= 580; "525.60.13 which is
# the minimum required driver version for the 12.x toolkits"), Windows' 12.0 GA driver 527.41.
# PyTorch's maintainers run its 12.x wheels this way (pytorch/pytorch#155141: "I can install and run
# PyTorch on system with 550.127.05 KMD/libcuda.so"); tests/upstream/test_gpu_contract.py loads the
# pinned releases' torch against Debian's libcuda of branches 535 and 550 and reads torch's verdict.
CUDA_COMPAT_MIN_DRIVER = {"12": "525.60.13", "13": "580.65.06"}
CUDA_COMPAT_MIN_DRIVER_WINDOWS = {"12": "527.41", "13": "580.88"}
# Not covered: PTX the driver compiles at run time ("Applications that compile device code to PTX
# will not work on older drivers"). vLLM's FlashAttention-2 and Marlin kernels carry an sm_80 cubin
# and PTX, so on Hopper and newer the driver JIT-compiles them: vllm-project/vllm#31700 (0.11.2,
# torch 2.9.0+cu128, H100, driver 550.144.03: "the provided PTX was compiled with an unsupported
# toolchain"), #47397, #38669 ("on sm_90 (H100/H200) the driver must JIT-compile sm_80 PTX"). From
# this compute capability a wheel needs its own toolkit's driver (Table 3).
PTX_JIT_FROM_CC = 9.0


def wheel_min_driver(cuda: str, wsl: bool, cc: float | None) -> tuple[str, str]:
    """The oldest driver that runs pip wheels built with ``cuda`` on GPUs of compute capability
    ``cc`` (their lowest), and why: the major's minor-version-compatible driver, or from
    PTX_JIT_FROM_CC (and for GPUs not known yet) the toolkit's own."""
    if cc is not None and cc < PTX_JIT_FROM_CC:
        table = CUDA_COMPAT_MIN_DRIVER_WINDOWS if wsl else CUDA_COMPAT_MIN_DRIVER
        return table[cuda.split(".")[0]], f"CUDA {cuda.split('.')[0]}.x minor-version compatibility"
    why = "its kernels' PTX is compiled by the driver on cc >= 9.0" if cc is not None else "the GPUs are not known"
    return min_driver(cuda, wsl), f"CUDA {cuda}'s own driver: {why}"


def architecture(cc: float) -> tuple[str, str | None, str | None]:
    """(name, newest CUDA, last driver branch) of the architecture of compute capability ``cc``."""
    for lowest, name, cuda, branch in ARCHITECTURES:
        if cc >= lowest:
            return name, cuda, branch
    return "Kepler or older", "11.8", "470"


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
# On Ubuntu the driver is Canonical's (ubuntu-drivers: signed prebuilt modules). NVIDIA's repository
# carries packages of the same names up to branch 580 (nvidia-kernel-common-580, libnvidia-compute-580,
# ...), and its cuda-keyring pins the whole repository at 600 (cuda-repository-pin-600: "Package: *",
# "Pin: release l=NVIDIA CUDA"), above the archive's 500: apt would take NVIDIA's driver packages,
# whose versions Canonical's signed modules do not depend on. This file holds them below the
# archive; NVIDIA's toolkits keep its 600. Read back by the real apt in tests/unit/test_apt_pin.py.
DRIVER_PIN_FILE = "/etc/apt/preferences.d/llmhost-nvidia-driver"
DRIVER_PIN_PACKAGES = (
    "nvidia-*",
    "libnvidia-*",
    "xserver-xorg-video-nvidia-*",
    "linux-modules-nvidia-*",
    "linux-objects-nvidia-*",
    "linux-signatures-nvidia-*",
)
CUDA_REPO_LABEL = "NVIDIA CUDA"  # its Release file's Label (a mirror copies it, signed)
DRIVER_PIN_PRIORITY = 100


def cuda_toolkit_package(version: str) -> str:
    """The side-by-side toolkit package (cuda-toolkit-12-9 -> /usr/local/cuda-12.9); never the
    cuda / cuda-12-9 / cuda-drivers meta-packages, which pull a driver."""
    return "cuda-toolkit-" + version.replace(".", "-")


# How a driver branch is installed, per distribution and flavour:
# - Ubuntu (Ubuntu Server docs, "NVIDIA drivers installation"; ubuntu-drivers-common's detect.py):
#   a server gets `ubuntu-drivers install --gpgpu nvidia:<branch>-server[-open]`: the headless
#   "Enterprise Ready Driver" with Canonical's prebuilt, signed kernel modules for the running kernel
#   (they load with Secure Boot on; --gpgpu installs nvidia-headless-no-dkms-<flavour> and
#   linux-modules-nvidia-<flavour>-<kernel flavour>), plus nvidia-utils-<branch>-server for
#   nvidia-smi, which --gpgpu leaves out. A desktop (a desktop driver installed, or a display on an
#   NVIDIA GPU) gets `ubuntu-drivers install nvidia:<branch>[-open]`, the desktop driver: the headless
#   server one conflicts with the desktop's packages and would remove them.
# - Debian: NVIDIA's repository (its driver installation guide, for 570 and later): the branch pinned
#   by nvidia-driver-pinning-<branch>, then nvidia-open (open modules) or cuda-drivers (proprietary);
#   DKMS builds the modules against the kernel's headers, signed by DKMS's own key, so Secure Boot
#   needs that key enrolled as a MOK.
DRIVER_METHODS = ("ubuntu", "debian")
# The fabric manager of NVSwitch boards (HGX A100/A800/H100 8-GPU): at exactly the driver's version.
# Ubuntu: nvidia-fabricmanager-<branch> and libnvidia-nscq-<branch>, which depend on the -server
# driver's exact version ("only available with the ERDs or -server driver versions"; Ubuntu Server
# docs). NVIDIA's repository (570 and later): nvidia-fabricmanager and libnvidia-nscq, held to the
# branch by the pinning package. Without it CUDA reports "system not yet initialized" (802).
FABRIC_MANAGER_SERVICE = "nvidia-fabricmanager"


def driver_recipe(
    os_id: str, branch: str, desktop: bool, open_modules: bool
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """(method, what installs it, what an installed branch leaves on the host): for ubuntu-drivers
    its argument list, for NVIDIA's repository the packages in order (the pinning package first)."""
    if os_id == "ubuntu":
        flavour = (branch if desktop else f"{branch}-server") + ("-open" if open_modules else "")
        if desktop:
            return "ubuntu-drivers", ("install", f"nvidia:{flavour}"), (f"nvidia-driver-{flavour}",)
        return (
            "ubuntu-drivers",
            ("install", "--gpgpu", f"nvidia:{flavour}"),
            (f"nvidia-headless-no-dkms-{flavour}", f"nvidia-utils-{branch}-server"),
        )
    packages = (f"nvidia-driver-pinning-{branch}", "nvidia-open" if open_modules else "cuda-drivers")
    return "nvidia-repo", packages, packages


def fabric_manager(os_id: str, branch: str) -> tuple[str, ...]:
    """The packages of the NVSwitch fabric manager that go with ``branch``."""
    if os_id == "ubuntu":
        return (f"nvidia-fabricmanager-{branch}", f"libnvidia-nscq-{branch}")
    return ("nvidia-fabricmanager", "libnvidia-nscq")
