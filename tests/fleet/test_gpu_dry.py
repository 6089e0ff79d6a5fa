"""`pyinfra --dry deploys/serve.py` with each GPU seed's group data on a real systemd fleet host
whose `nvidia-smi` is a stand-in printing the seed's GPUs: every fact but the GPU list is read for
real (OS, kernel, packages, /sys, Secure Boot), the planner decides, and the dry run lists the
operations the gpu layer would run. Nothing is installed: no GPU, no NVIDIA repository and no
Ubuntu image are reachable here, so the fleet host is Debian 12 and the driver comes the Debian
way (NVIDIA's repository: the branch pinned, nvidia-open or cuda-drivers with DKMS); the Ubuntu way
(ubuntu-drivers) is checked
at the command level in tests/unit/test_gpu_stack.py.
"""

from __future__ import annotations

import runpy
import time

import pytest

from tests.fleet import harness
from tests.helpers import REPO, record_timing

pytestmark = pytest.mark.fleet

# nvidia-smi --query-gpu=index,name,memory.total,memory.used,compute_cap,driver_version,uuid as each
# seed shows it
SEEDS = {
    "rtx4060-laptop": ["0, NVIDIA GeForce RTX 4060 Laptop GPU, 8188, 0, 8.9, 550.163.01, GPU-0"],
    "v100": [f"{i}, Tesla V100-SXM2-32GB, 32768, 0, 7.0, 470.256.02, GPU-{i}" for i in range(2)],
    "a800": [f"{i}, NVIDIA A800-SXM4-80GB, 81920, 0, 8.0, 535.161.08, GPU-{i}" for i in range(8)],
}
# The a800 seed's 72B model (145 GB in bf16) does not fit this machine's disk: the planner refuses
# it before any change, as it should. Its dry run serves a 7B on the same eight GPUs instead, and
# allows the reboot. Its mirrors (TUNA's PyPI) are not reachable from here either: a run there is
# refused before any change, naming llmhost_mirror (tests/e2e/test_bad_input.py shows such a
# refusal), so the dry run takes PyPI.
# The rtx4060 seed keeps its working driver 550 (llmhost_driver's default): vLLM 0.14.1 (CUDA 12.8)
# runs on it. The v100 stand-in's 470 runs no CUDA 12 wheel, and the a800 dry run is the one that
# reboots: both ask for the upgrade.
OVERRIDES = {
    "a800": {
        "llmhost_services": [{"name": "qwen7", "model": "Qwen/Qwen2.5-7B-Instruct"}],
        "llmhost_allow_reboot": True,
        "llmhost_mirror": "none",
        "llmhost_driver": "upgrade",
    },
    "v100": {"llmhost_driver": "upgrade"},
}


def driver_from_nvidia_repo(modules: str) -> list[str]:
    """Debian hosts: the driver from NVIDIA's repository, which the keyring and llmhost's source file add."""
    return [
        "llmhost gpu layer | NVIDIA's cuda-keyring (debian12)",
        "llmhost gpu layer | NVIDIA's repository (/etc/apt/sources.list.d/cuda-debian12-x86_64.list)",
        "llmhost gpu layer | Refresh apt package lists (NVIDIA's repository)",
        f"llmhost gpu layer | NVIDIA driver branch 580 (nvidia-repo: server, {modules} kernel modules)",
    ]


def seed_data(seed: str) -> dict:
    data = runpy.run_path(str(REPO / "group_data" / f"{seed}.py"))
    return {k: v for k, v in data.items() if k.startswith("llmhost_")} | OVERRIDES.get(seed, {})


@pytest.fixture(scope="module")
def gpu_host(fleet):
    if harness.real_hosts():
        pytest.skip("a stand-in nvidia-smi is installed: Docker hosts only")
    # The plan checks the seeds' models against the free disk under llmhost_root (the v100 seed's
    # Qwen-72B-Chat-Int4 needs 38.65 GiB). A container sees this machine's disk, which the rest of the
    # fleet fills during a run (CI failed on 37.75 GiB free): a dry run writes nothing, so the root is
    # an empty tmpfs the size of a server's disk instead.
    return fleet("llmhost-fleet-gpu", tmpfs={"/opt/llmhost": "size=200g"})


def dry(host, seed: str) -> tuple[list[str], str]:
    """The seed's dry run on ``host`` (harness.dry_run) with its GPUs behind a stand-in nvidia-smi."""
    lines = "\\n".join(SEEDS[seed])
    host.sh(
        f"printf '#!/bin/sh\\n# stand-in for the {seed} seed (tests/fleet/test_gpu_dry.py)\\nprintf \"{lines}\\\\n\"\\n' "
        "> /usr/local/bin/nvidia-smi && chmod 755 /usr/local/bin/nvidia-smi"
    )
    inv = str(harness.write_inventory(harness.STATE / f"gpu-{seed}.py", [host], seed_data(seed)))
    started = time.monotonic()
    changing, out = harness.dry_run(inv)
    record_timing(f"fleet gpu --dry: {seed} seed ({len(changing)} operations would change)", time.monotonic() - started)
    return changing, out


def test_rtx4060_seed_dry_run_keeps_its_driver_and_goes_on_to_the_engines(gpu_host):
    changing, out = dry(gpu_host, "rtx4060-laptop")
    gpu = [name for name in changing if name.startswith("llmhost gpu layer | ")]
    # no driver operation: 550 is kept; NVIDIA's repository for the toolkits the seed asks for
    assert gpu == [
        "llmhost gpu layer | NVIDIA's cuda-keyring (debian12)",
        "llmhost gpu layer | NVIDIA's repository (/etc/apt/sources.list.d/cuda-debian12-x86_64.list)",
        "llmhost gpu layer | Refresh apt package lists (NVIDIA's repository)",
        "llmhost gpu layer | CUDA toolkits 12.9, 12.6 side by side",
    ]
    # and the run goes on: vLLM 0.14.1, the release that runs on that driver
    assert any(n.startswith("llmhost engine layer | Install vllm 0.14.1") for n in changing), changing
    assert "this run ends after the gpu layer" not in out
    assert "Operations:" not in out and gpu_host.sh("ls /etc/apt/sources.list.d/").strip() == ""  # dry: nothing ran


def test_v100_seed_dry_run_plans_the_driver_for_volta_and_no_toolkit(gpu_host):
    changing, _ = dry(gpu_host, "v100")
    gpu = [name for name in changing if name.startswith("llmhost gpu layer | ")]
    assert gpu == driver_from_nvidia_repo("proprietary")  # Volta has no open kernel modules


def test_a800_seed_dry_run_with_allow_reboot_reboots_and_goes_on(gpu_host):
    names, _ = dry(gpu_host, "a800")
    reboot = names.index("llmhost gpu layer | Reboot onto NVIDIA driver 580 (llmhost_allow_reboot)")
    assert (
        names[reboot - 1] == "llmhost gpu layer | NVIDIA driver branch 580 (nvidia-repo: server, open kernel modules)"
    )
    after = {n.split(" | ")[0] for n in names[reboot + 1 :]}
    assert {"llmhost engine layer", "llmhost service layer"} <= after  # the vLLM venv and unit after the reboot
    assert any(n.startswith("llmhost engine layer | Install vllm 0.33.0") for n in names)
