"""deploys/gpu.py for real on a systemd fleet host against a stand-in NVIDIA repository
(tests/fleet/nvidia_repo.py: signed, NVIDIA's flat layout, stand-in cuda-keyring and
cuda-toolkit-X-Y packages): the keyring op, llmhost's source file, the gated apt refresh, the
toolkits side by side and /usr/local/cuda through update-alternatives, then a second run that
changes nothing and a switch. The host has no GPU: no driver is planned (the driver op is covered
at the command level and by the seeds' dry runs).
"""

from __future__ import annotations

import hashlib

import pytest

from tests.fleet import harness, nvidia_repo
from tests.fleet.serving import SERVICE
from tests.helpers import pyinfra, record_timing

pytestmark = pytest.mark.fleet

REPO_DIR = "/srv/nvidia-repo"
DATA = {
    "llmhost_services": [SERVICE],
    "llmhost_torch_index_url": None,
    "llmhost_cuda_repo_url": f"file://{REPO_DIR}",
    "llmhost_cuda_toolkits": list(nvidia_repo.TOOLKITS),
    "llmhost_cuda_default": "12.6",
}


@pytest.fixture(scope="module")
def repo_host(fleet):
    if harness.real_hosts():
        pytest.skip("installs stand-in NVIDIA packages: Docker hosts only")
    base = nvidia_repo.build(harness.STATE / "nvidia-repo")
    host = fleet("llmhost-fleet-nvrepo")
    harness._run("docker", "cp", f"{base}/.", f"{host.name}:{REPO_DIR}")
    # the stand-in keyring is not NVIDIA's: its sha256 is the data's (llmhost's pin is NVIDIA's)
    keyring = base / nvidia_repo.DISTRO / nvidia_repo.ARCH / "cuda-keyring_1.1-1_all.deb"
    data = {**DATA, "llmhost_cuda_keyring_sha256": hashlib.sha256(keyring.read_bytes()).hexdigest()}
    inv = str(harness.write_inventory(harness.STATE / "nvrepo.py", [host], data))
    return host, inv


def run(inv, deploy, label, *extra):
    r = pyinfra(inv, deploy, *extra)
    record_timing(f"fleet nvidia repo: {label} ({len(r.changed)} operations changed)", r.seconds)
    assert r.rc == 0, r.stderr[-3000:]
    return r


def test_toolkits_from_the_repository_side_by_side_then_nothing_then_a_switch(repo_host):
    host, inv = repo_host
    first = run(inv, "deploys/gpu.py", "first run")
    gpu = [n for n in first.changed if n.startswith(("llmhost gpu layer", "llmhost cuda layer"))]
    assert gpu == [
        "llmhost gpu layer | NVIDIA's cuda-keyring (debian12)",
        "llmhost gpu layer | NVIDIA's repository (/etc/apt/sources.list.d/cuda-debian12-x86_64.list)",
        "llmhost gpu layer | Refresh apt package lists (NVIDIA's repository)",
        "llmhost gpu layer | CUDA toolkits 12.9, 12.6 side by side",
        "llmhost cuda layer | /usr/local/cuda -> /usr/local/cuda-12.6 (update-alternatives)",
        "llmhost cuda layer | Login shells' CUDA (/etc/profile.d/cuda.sh)",
    ]
    # the packages' own update-alternatives registration, then llmhost's choice (manual, not the highest)
    assert host.sh("readlink /usr/local/cuda").strip() == "/etc/alternatives/cuda"
    assert host.sh("readlink -f /usr/local/cuda").strip() == "/usr/local/cuda-12.6"
    assert host.sh("update-alternatives --display cuda | head -1").strip() == "cuda - manual mode"
    assert host.sh("bash -lc 'nvcc --version'").strip() == "Cuda compilation tools, release 12.6 (stand-in package)"
    # llmhost's source file replaced the keyring's (which names NVIDIA's host, unreachable here)
    assert f"file://{REPO_DIR}/debian12/x86_64/ /" in host.sh("cat /etc/apt/sources.list.d/cuda-debian12-x86_64.list")

    again = run(inv, "deploys/gpu.py", "second run")
    assert again.changed == []

    switch = run(inv, "deploys/cuda.py", "switch to 12.9", "--data", "llmhost_cuda_default=12.9")
    assert switch.changed == [
        "llmhost cuda layer | /usr/local/cuda -> /usr/local/cuda-12.9 (update-alternatives)",
        "llmhost cuda layer | Login shells' CUDA (/etc/profile.d/cuda.sh)",
    ]  # its header names the default
    assert host.sh("bash -lc 'nvcc --version'").strip() == "Cuda compilation tools, release 12.9 (stand-in package)"


def test_a_driver_installed_before_waits_for_its_reboot_and_the_run_stops_there(repo_host):
    """The rtx4060 seed's GPU on driver 550 (a stand-in nvidia-smi), with branch 580 installed by
    an earlier run and no reboot since (the stand-in nvidia-driver-pinning-580 and nvidia-open, the
    open kernel modules an Ada GPU gets, dpkg-installed): the plan
    reads the packages for real, installs nothing, and the run ends after the gpu layer."""
    host, inv = repo_host
    run(inv, "deploys/gpu.py", "converged: the toolkits from the repository")  # (run alone: the first run)
    host.sh(
        "printf '#!/bin/sh\\nprintf \"0, NVIDIA GeForce RTX 4060 Laptop GPU, 8188, 0, 8.9, 550.163.01, GPU-0\\\\n\"\\n' "
        "> /usr/local/bin/nvidia-smi && chmod 755 /usr/local/bin/nvidia-smi && "
        f"dpkg -i {REPO_DIR}/debian12/x86_64/nvidia-driver-pinning-580_580.95.05-1_amd64.deb "
        f"{REPO_DIR}/debian12/x86_64/nvidia-open_580.95.05-1_amd64.deb >/dev/null"
    )
    # engine auto; the earlier run that installed 580 was asked to upgrade (a working 550 is kept otherwise)
    gpu_data = {
        **DATA,
        "llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct"}],
        "llmhost_driver": "upgrade",
    }
    inv = str(harness.write_inventory(harness.STATE / "nvrepo-gpu.py", [host], gpu_data))
    r = run(inv, "deploys/serve.py", "driver installed, reboot pending")
    assert r.changed == []  # nothing installed again, no engine layer at all
    assert (
        "this run ends after the gpu layer: driver branch 580 is installed and loads only after a reboot"
        in r.stderr + r.stdout
    )
    assert not host.sh("ls /opt/llmhost/venvs").strip()  # the engine layers waited
