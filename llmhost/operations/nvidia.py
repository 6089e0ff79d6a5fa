"""NVIDIA's side of a host: its apt repository's keyring and the driver branch."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.deb import DebPackages

from llmhost.operations.download import checked

APT_ENV = "DEBIAN_FRONTEND=noninteractive"


@operation()
def keyring(url: str, download: str, sha256: str, source_key: str | None = None):
    """
    Install NVIDIA's ``cuda-keyring`` package (the repository's signing key, and its source file),
    checked against its sha256 before dpkg runs it.

    + url: the ``cuda-keyring_<version>_all.deb`` of the host's repository
    + download: where the package is fetched to on the host (removed after)
    + sha256: what the package must hash to (llmhost's pin, or llmhost_cuda_keyring_sha256)
    + source_key: the data key that sets ``url``, named when it cannot be fetched (bounded time)

    A host with ``cuda-keyring`` installed changes nothing.

    **Example:**

    .. code:: python

        nvidia.keyring(
            name="NVIDIA's cuda-keyring",
            url="https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/cuda-keyring_1.1-1_all.deb",
            download="/opt/llmhost/cache/cuda-keyring_1.1-1_all.deb",
            sha256="d2a6b11c096396d868758b86dab1823b25e14d70333f1dfa74da5ddaf6a06dba",
        )
    """
    if "cuda-keyring" in host.get_fact(DebPackages):
        host.noop("cuda-keyring is installed")
        return
    yield from checked(url, download, sha256, source_key)
    yield StringCommand(APT_ENV, "dpkg", "-i", QuoteString(download))
    yield StringCommand("rm", "-f", QuoteString(download))


@operation(is_idempotent=True)
def driver(branch: str, method: str, command: list[str], packages: list[str], headers: str | None = None):
    """
    Install an NVIDIA driver branch, the way the distribution does it best.

    + branch: the driver branch (``580``)
    + method: ``ubuntu-drivers`` (``ubuntu-drivers <command>``: ``install --gpgpu
      nvidia:<branch>-server[-open]``, the headless driver with Canonical's signed prebuilt modules,
      then nvidia-utils for nvidia-smi; or ``install nvidia:<branch>[-open]``, a desktop's driver) or
      ``nvidia-repo`` (``command``: the packages from NVIDIA's repository in order, the branch's
      pinning package first, then ``nvidia-open`` or ``cuda-drivers``, built by DKMS against
      ``headers``)
    + command: ubuntu-drivers' arguments, or the packages in install order
    + packages: what an installed branch leaves on the host; all of them there changes nothing
    + headers: the running kernel's headers package (DKMS)

    Never an unpinned branch; never inside WSL (the plan gives no driver there). The new kernel
    module loads at the next reboot.

    **Example:**

    .. code:: python

        nvidia.driver(
            name="NVIDIA driver 580",
            branch="580",
            method="ubuntu-drivers",
            command=["install", "--gpgpu", "nvidia:580-server-open"],
            packages=["nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server"],
        )
    """
    installed = host.get_fact(DebPackages)
    missing = [p for p in packages if p not in installed]
    if not missing:
        host.noop(f"driver branch {branch} is installed ({', '.join(packages)})")
        return
    install = [APT_ENV, "apt-get", "install", "-y", "--no-install-recommends"]
    if method == "ubuntu-drivers":
        yield StringCommand("ubuntu-drivers", *(QuoteString(a) for a in command))
        utils = [QuoteString(p) for p in missing if p.startswith("nvidia-utils-")]  # --gpgpu leaves nvidia-smi out
        if utils and "--gpgpu" in command:
            yield StringCommand(*install, *utils)
    elif method == "nvidia-repo":
        # DKMS builds the modules while the packages install: the headers go first; the pinning
        # package before the driver, so that apt takes the driver from the pinned branch
        yield StringCommand(*install, *([QuoteString(headers)] if headers else []), "dkms")
        for package in command:
            yield StringCommand(APT_ENV, "apt-get", "install", "-y", QuoteString(package))
    else:
        raise ValueError(f"unknown driver install method {method!r}")
