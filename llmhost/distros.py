"""Distribution and mirror data the planner uses: the apt distributions and their releases'
codenames and sources layouts, per-release package names, what each mirror serves, and where
Miniforge's installer comes from.

Tables, not code paths: when a distribution release or a mirror moves, edit a row here (and its source).
"""

from __future__ import annotations

from dataclasses import dataclass

APT_DISTROS = ("debian", "ubuntu")

# libtcmalloc_minimal.so.4 (vLLM's CPU backend warns without it; +50% decode throughput measured
# here, docs/project/engine-notes.md). Package names per distribution release; Ubuntu 24.04 and Debian 13
# renamed it in the 64-bit time_t transition (packages.ubuntu.com / packages.debian.org).
TCMALLOC_PACKAGE = {
    ("debian", "11"): "libtcmalloc-minimal4",
    ("debian", "12"): "libtcmalloc-minimal4",
    ("debian", "13"): "libtcmalloc-minimal4t64",
    ("ubuntu", "20.04"): "libtcmalloc-minimal4",
    ("ubuntu", "22.04"): "libtcmalloc-minimal4",
    ("ubuntu", "24.04"): "libtcmalloc-minimal4t64",
}

# Debian/Ubuntu multiarch triplets by machine: the shared libraries' directory, /usr/lib/<triplet>.
MULTIARCH = {"x86_64": "x86_64-linux-gnu", "aarch64": "aarch64-linux-gnu"}


# --- conda (llmhost_env_manager = "conda") -------------------------------------------------------
# Miniforge: conda with conda-forge as its only channel. Anaconda's `defaults` channel is under
# Anaconda's terms of service even through a mirror, so llmhost never configures it. Each release
# publishes <installer>.sha256 beside the installer. TUNA's github-release mirror keeps only the newest
# release (docs/mirrors.md): once conda-forge publishes a newer one, set llmhost_conda_installer_url.
MINIFORGE_VERSION = "25.11.0-1"
MINIFORGE_INSTALLERS = {
    "none": "https://github.com/conda-forge/miniforge/releases/download/{v}/Miniforge3-{v}-Linux-{arch}.sh",
    "tuna": "https://mirrors.tuna.tsinghua.edu.cn/github-release/conda-forge/miniforge/{v}/Miniforge3-{v}-Linux-{arch}.sh",
}
# The channel host for conda-forge (conda's `channel_alias`-style custom_channels entry).
CONDA_FORGE_MIRRORS = {"tuna": "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud"}


# --- Mirrors -------------------------------------------------------------------------------------
PYPI_SIMPLE = "https://pypi.org/simple/"  # pip's default index (no llmhost_pip_index_url, no mirror)

# What `llmhost_mirror: tuna` means, per thing it mirrors (mirrors.tuna.tsinghua.edu.cn/help/*;
# docs/project/engine-notes.md "Mirrors (China)"; docs/mirrors.md, with the evidence for each). Hugging
# Face has no TUNA mirror: hf-mirror.com is the one the seeds use. ModelScope is served from China
# already: no mirror. TUNA mirrors neither PyTorch's wheel indexes (tuna/issues#1050, #405) nor
# NVIDIA's CUDA repository ("we only mirror open source", tuna/issues#564): the preset takes NJU's
# copy of download.pytorch.org/whl (a PEP 503 index per variant, synced by ustcmirror-images'
# pytorch job) and Aliyun's of developer.download.nvidia.com/compute/cuda/repos.
PYTORCH_WHEELS = "https://download.pytorch.org/whl"  # what a "torch" mirror stands in for
GRAFANA_APT = "https://apt.grafana.com"  # Grafana Labs' APT repository (what a "grafana" mirror stands in for)
MIRROR_TARGETS = ("debian", "ubuntu", "pip", "hf", "modelscope", "conda", "torch", "cuda", "grafana")
TUNA = {
    "debian": "https://mirrors.tuna.tsinghua.edu.cn/debian",
    "ubuntu": "https://mirrors.tuna.tsinghua.edu.cn/ubuntu",
    "ubuntu-ports": "https://mirrors.tuna.tsinghua.edu.cn/ubuntu-ports",
    "pip": "https://pypi.tuna.tsinghua.edu.cn/simple",
    "hf": "https://hf-mirror.com",
    "conda": CONDA_FORGE_MIRRORS["tuna"],
    "torch": "https://mirrors.nju.edu.cn/pytorch/whl",
    "cuda": "https://mirrors.aliyun.com/nvidia-cuda",
    "grafana": "https://mirrors.tuna.tsinghua.edu.cn/grafana/apt",
}


@dataclass(frozen=True)
class AptLayout:
    """How a distribution release lays out its apt sources, and where security updates come from
    (always the distribution's own host: mirrors lag behind security fixes)."""

    file: str  # the sources file llmhost rewrites (after backing up the original)
    deb822: bool
    suites: tuple[str, ...]  # {c} is the codename
    components: str
    keyring: str
    security_uri: str
    security_suite: str


_DEBIAN_COMPONENTS = "main contrib non-free non-free-firmware"
_UBUNTU_COMPONENTS = "main restricted universe multiverse"
_DEBIAN_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
_UBUNTU_KEYRING = "/usr/share/keyrings/ubuntu-archive-keyring.gpg"
# Debian 12 installs list their sources in /etc/apt/sources.list; its container images and Debian
# 13 use deb822 /etc/apt/sources.list.d/debian.sources: llmhost takes the one the host has.
DEBIAN_SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
APT_LAYOUTS = {
    # Ubuntu 24.04 moved to deb822 ubuntu.sources; 22.04 keeps the one-line sources.list.
    ("ubuntu", "22.04"): AptLayout(
        "/etc/apt/sources.list",
        False,
        ("{c}", "{c}-updates", "{c}-backports"),
        _UBUNTU_COMPONENTS,
        _UBUNTU_KEYRING,
        "http://security.ubuntu.com/ubuntu",
        "{c}-security",
    ),
    ("ubuntu", "24.04"): AptLayout(
        "/etc/apt/sources.list.d/ubuntu.sources",
        True,
        ("{c}", "{c}-updates", "{c}-backports"),
        _UBUNTU_COMPONENTS,
        _UBUNTU_KEYRING,
        "http://security.ubuntu.com/ubuntu",
        "{c}-security",
    ),
    ("debian", "12"): AptLayout(
        "/etc/apt/sources.list",
        False,
        ("{c}", "{c}-updates"),
        _DEBIAN_COMPONENTS,
        _DEBIAN_KEYRING,
        "http://deb.debian.org/debian-security",
        "{c}-security",
    ),
    ("debian", "13"): AptLayout(
        "/etc/apt/sources.list.d/debian.sources",
        True,
        ("{c}", "{c}-updates"),
        _DEBIAN_COMPONENTS,
        _DEBIAN_KEYRING,
        "http://deb.debian.org/debian-security",
        "{c}-security",
    ),
}
CODENAMES = {
    ("ubuntu", "22.04"): "jammy",
    ("ubuntu", "24.04"): "noble",
    ("debian", "12"): "bookworm",
    ("debian", "13"): "trixie",
}
