"""The apt pin llmhost writes on Ubuntu beside NVIDIA's CUDA repository, read back by the real apt
(this machine's, in a directory of its own: nothing of the system's apt is touched): two local
repositories stand for Ubuntu's archive and NVIDIA's (its Release Label, its cuda-keyring's pin
file as the keyring writes it), with the driver packages of the same names NVIDIA's carries up to
branch 580. Without the pin apt takes NVIDIA's; with it Ubuntu's, and the toolkits stay NVIDIA's."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import jinja2

from llmhost.gpus import CUDA_REPO_LABEL, DRIVER_PIN_FILE, DRIVER_PIN_PACKAGES, DRIVER_PIN_PRIORITY
from llmhost.plan import plan_host
from llmhost.resources import template
from llmhost.settings import load
from tests.helpers import require

# cuda-repository-pin-600 as NVIDIA ships it (its cuda-<distro>.pin, installed by cuda-keyring)
NVIDIA_PIN = """Package: nsight-compute
Pin: origin *ubuntu.com*
Pin-Priority: -1

Package: nsight-systems
Pin: origin *ubuntu.com*
Pin-Priority: -1

Package: *
Pin: release l=NVIDIA CUDA
Pin-Priority: 600
"""
UBUNTU = {"nvidia-kernel-common-580": "580.95.05-0ubuntu1", "libnvidia-compute-580": "580.95.05-0ubuntu1"}
NVIDIA = {
    "nvidia-kernel-common-580": "580.105.08-1",
    "libnvidia-compute-580": "580.105.08-1",
    "cuda-toolkit-12-8": "12.8.1-1",
}


def _repo(path: Path, origin: str, label: str, packages: dict[str, str]) -> None:
    path.mkdir(parents=True)
    (path / "Packages").write_text(
        "".join(
            f"Package: {p}\nVersion: {v}\nArchitecture: amd64\nMaintainer: x <x@example.com>\nFilename: {p}.deb\n"
            f"Size: 1\nDescription: stand-in\n\n"
            for p, v in packages.items()
        )
    )
    (path / "Release").write_text(
        f"Origin: {origin}\nLabel: {label}\nSuite: stable\nCodename: x\nArchitectures: amd64\n"
        "Date: Mon, 07 Dec 2026 00:00:00 UTC\n"
    )


def candidates(root: Path, packages: list[str]) -> dict[str, str]:
    """What apt would install for each of ``packages``: `apt-cache policy`'s Candidate."""
    opts = [
        f"-oDir::Etc={root}/etc",
        f"-oDir::State={root}/state",
        f"-oDir::Cache={root}/cache",
        f"-oDir::State::status={root}/status",
        "-oAPT::Architecture=amd64",
        "-oDebug::NoLocking=1",
    ]
    subprocess.run(["apt-get", *opts, "update", "-qq"], check=True, capture_output=True)
    out = subprocess.run(["apt-cache", *opts, "policy", *packages], check=True, capture_output=True, text=True)
    found, name = {}, None
    for line in out.stdout.splitlines():
        if not line.startswith(" "):
            name = line.rstrip(":")
        elif line.strip().startswith("Candidate:"):
            found[name] = line.split(":", 1)[1].strip()
    return found


def test_the_pin_keeps_the_driver_ubuntus_and_the_toolkits_nvidias(tmp_path):
    require(shutil.which("apt-cache") is not None, "apt reads the pin (a Debian or Ubuntu machine)")
    _repo(tmp_path / "ubuntu", "Ubuntu", "Ubuntu", UBUNTU)
    _repo(tmp_path / "nvidia", "NVIDIA", CUDA_REPO_LABEL, NVIDIA)
    for d in ("etc/preferences.d", "state/lists/partial", "cache/archives/partial"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "status").write_text("")
    (tmp_path / "etc/sources.list").write_text(
        f"deb [trusted=yes] file:{tmp_path}/ubuntu ./\ndeb [trusted=yes] file:{tmp_path}/nvidia ./\n"
    )
    (tmp_path / "etc/preferences.d/cuda-repository-pin-600").write_text(NVIDIA_PIN)
    names = sorted(NVIDIA)
    assert candidates(tmp_path, names) == NVIDIA  # the keyring's pin alone: NVIDIA's driver packages win

    text = jinja2.Template(Path(template("nvidia-driver-pin.j2")).read_text(), keep_trailing_newline=True).render(
        packages=" ".join(DRIVER_PIN_PACKAGES), label=CUDA_REPO_LABEL, priority=DRIVER_PIN_PRIORITY
    )
    (tmp_path / "etc/preferences.d" / Path(DRIVER_PIN_FILE).name).write_text(text)
    assert candidates(tmp_path, names) == {**UBUNTU, "cuda-toolkit-12-8": NVIDIA["cuda-toolkit-12-8"]}


def test_ubuntu_hosts_with_nvidias_repository_get_the_pin_and_debian_and_wsl_do_not():
    from tests.golden import _hardware

    data = {
        "llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct"}],
        "llmhost_cuda_toolkits": ["12.8"],
    }
    ubuntu = plan_host(_hardware("rtx4060-laptop"), load(data))
    assert ubuntu.cuda_repo.driver_pin == DRIVER_PIN_FILE
    assert any(r.startswith(f"apt pin {DRIVER_PIN_FILE}: NVIDIA's driver packages") for r in ubuntu.reasons)
    wsl = plan_host(_hardware("wsl-laptop"), load(data))
    assert wsl.cuda_repo.distro == "wsl-ubuntu" and wsl.cuda_repo.driver_pin is None
    # Debian's driver comes from NVIDIA's repository itself: no pin
    debian = plan_host(dataclasses.replace(_hardware("rtx4060-laptop"), os_id="debian", os_version="12"), load(data))
    assert debian.cuda_repo.distro == "debian12" and debian.cuda_repo.driver_pin is None
