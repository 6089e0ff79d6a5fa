"""The GPU stack at the command level, for each GPU seed profile: given these facts, the plan and
the operations' commands (or their no-op reasons). No GPU, no NVIDIA repository and no Ubuntu
image are reachable on the machines these tests run on: the driver and toolkit installs are
checked here and by `--dry` on a fleet host (tests/fleet/test_gpu_dry.py), not run."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess

import pytest

from llmhost.facts.nvidia import PciNvidiaGpus, SecureBoot
from llmhost.hardware import load_hardware
from llmhost.operations import cuda as cuda_ops
from llmhost.operations import nvidia
from llmhost.operations.download import BOUNDS
from llmhost.plan import PlanError, plan_host
from llmhost.settings import load
from tests.helpers import FakeHost
from tests.unit.common import HARDWARE, seed_plan

UBUNTU_DRIVER = ("nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server")  # a server, Turing or newer
DESKTOP_DRIVER = ("nvidia-driver-580-open",)


def commands(monkeypatch, op, installed=(), **kwargs):
    fake = FakeHost({p: ["1"] for p in installed})
    monkeypatch.setattr(nvidia, "host", fake)
    return [shlex.split(str(c.get_raw_value())) for c in op._inner(**kwargs)], fake.noops


def driver_commands(monkeypatch, plan, installed=()):
    d = plan.driver
    return commands(
        monkeypatch,
        nvidia.driver,
        installed,
        branch=d.branch,
        method=d.method,
        command=list(d.command),
        packages=list(d.packages),
        headers=d.headers,
    )


def keyring_commands(monkeypatch, plan, installed=()):
    r = plan.cuda_repo
    return commands(
        monkeypatch,
        nvidia.keyring,
        installed,
        url=r.keyring_url,
        download="/opt/llmhost/cache/k.deb",
        sha256=r.keyring_sha256,
    )


def facts(seed, **changes):
    return dataclasses.replace(load_hardware(HARDWARE / f"{seed}.yaml"), **changes)


def gpu_driver(f, version):
    return tuple(dataclasses.replace(g, driver=version) for g in f.gpus)


def seed_plan_data(seed):
    from tests.golden import seed_data

    return seed_data(seed)["llmhost_services"]


def plan_of(f, **data):
    """The plan of ``f`` with ``data``; these tests are about installing a driver: llmhost_driver "upgrade"
    unless they say otherwise (by default a working driver is kept: tests/unit/test_gpu_chain.py)."""
    data.setdefault("llmhost_services", [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct"}])
    data.setdefault("llmhost_driver", "upgrade")
    return plan_host(f, load(data))


# --- rtx4060 (seed 003): Ubuntu 24.04 desktop, driver 550 too old for CUDA 13.0, two toolkits ---


def test_rtx4060_seed_installs_580_the_ubuntu_way_then_stops_for_the_reboot(monkeypatch):
    plan = seed_plan("rtx4060-laptop", llmhost_driver="upgrade")
    assert (plan.driver.method, plan.driver.install, plan.driver.reboot) == ("ubuntu-drivers", True, True)
    # the desktop driver (its desktop stays), open kernel modules (Ada); nvidia-smi comes with it
    assert driver_commands(monkeypatch, plan) == ([["ubuntu-drivers", "install", "nvidia:580-open"]], [])
    assert "ubuntu-drivers-common" in plan.system_packages
    # the toolkits come from NVIDIA's ubuntu2404 repository, by its keyring
    assert plan.cuda_repo.url == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/"
    assert keyring_commands(monkeypatch, plan)[0] == [
        [
            "curl",
            "-fsSL",
            *BOUNDS,
            "-o",
            "/opt/llmhost/cache/k.deb",
            "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/cuda-keyring_1.1-1_all.deb",
        ],
        # checked against llmhost's pin (the one NVIDIA's Packages index lists) before dpkg runs it as root
        [
            "echo",
            "d2a6b11c096396d868758b86dab1823b25e14d70333f1dfa74da5ddaf6a06dba  /opt/llmhost/cache/k.deb",
            "|",
            "sha256sum",
            "--check",
            "--strict",
            "-",
        ],
        ["DEBIAN_FRONTEND=noninteractive", "dpkg", "-i", "/opt/llmhost/cache/k.deb"],
        ["rm", "-f", "/opt/llmhost/cache/k.deb"],
    ]
    assert plan.cuda_toolkits == ("12.9", "12.6")
    # 12.9 is installed by this run: /usr/local/cuda then belongs to update-alternatives
    assert (plan.cuda.version, plan.cuda.installing, plan.cuda.alternatives) == ("12.9", True, True)
    assert plan.stop_after_driver and not plan.reboot
    # the engine's wheels are CUDA 13.0: a 12.x toolkit is not given to it (torch's extension builder
    # and FlashInfer's JIT refuse a toolkit of another major), and the reasons say so
    svc = plan.services[0]
    env = dict(svc.env)
    assert "CUDA_HOME" not in env and env["PATH"] == "/opt/llmhost/venvs/vllm-current/bin:/usr/local/bin:/usr/bin:/bin"
    assert any(
        r.startswith(
            "CUDA_HOME: not set: no CUDA 13.x toolkit on the host (it has 12.6, 12.9: torch's "
            "extension builder and FlashInfer's JIT refuse a toolkit of another major)"
        )
        for r in svc.reasons
    )
    assert "bitsandbytes==0.50.2" in svc.engine.requirements  # the seed's 4-bit
    # with a 13.0 toolkit beside them, the service gets that one explicitly: CUDA_HOME and its bin, never
    # its lib64 ahead of the wheels' own CUDA libraries
    both = plan_of(
        facts("rtx4060-laptop"),
        llmhost_services=seed_plan_data("rtx4060-laptop"),
        llmhost_cuda_toolkits=["12.9", "13.0"],
    )
    env = dict(both.services[0].env)
    assert env["CUDA_HOME"] == "/usr/local/cuda-13.0" and "LD_LIBRARY_PATH" not in env
    assert env["PATH"] == "/opt/llmhost/venvs/vllm-current/bin:/usr/local/cuda-13.0/bin:/usr/local/bin:/usr/bin:/bin"


def test_rtx4060_after_the_reboot_everything_is_already_satisfied(monkeypatch):
    f = facts(
        "rtx4060-laptop",
        nvidia_module="580.95.05",
        cuda_toolkits=("12.6", "12.9"),
        cuda_default="12.9",
        cuda_link="alternatives",
        nvidia_packages=frozenset(DESKTOP_DRIVER + ("cuda-keyring",)),
    )
    f = dataclasses.replace(f, gpus=gpu_driver(f, "580.95.05"))
    plan = plan_host(
        f,
        load(
            {
                "llmhost_services": [
                    {
                        "name": "q",
                        "model": "Qwen/Qwen1.5-7B-Chat",
                        "quantization": "bitsandbytes",
                        "max_model_len": 1024,
                    }
                ],
                "llmhost_cuda_toolkits": ["12.9", "12.6"],
                "llmhost_cuda_default": "12.9",
            }
        ),
    )
    assert not plan.driver.install and not plan.driver.reboot and plan.stop_after_driver is None
    # the gpu layer gives the driver op nothing to do; the keyring is a no-op; the switch too
    assert keyring_commands(monkeypatch, plan, {"cuda-keyring"}) == ([], ["cuda-keyring is installed"])
    fake = FakeHost({"toolkits": ["12.6", "12.9"], "default": "12.9", "link": "alternatives"})
    monkeypatch.setattr(cuda_ops, "host", fake)
    assert list(cuda_ops.default._inner(version="12.9", alternatives=True)) == []
    assert plan.cuda.installing is False


def test_installed_branch_waiting_for_its_reboot_is_not_installed_again(monkeypatch):
    f = facts("rtx4060-laptop", nvidia_module="550.163.01", nvidia_packages=frozenset(DESKTOP_DRIVER))
    plan = plan_of(f)
    assert (plan.driver.install, plan.driver.reboot) == (False, True)
    assert plan.stop_after_driver.startswith("driver branch 580 is installed and loads only after a reboot")
    assert driver_commands(monkeypatch, plan, DESKTOP_DRIVER) == (
        [],
        ["driver branch 580 is installed (nvidia-driver-580-open)"],
    )
    allowed = plan_of(f, llmhost_allow_reboot=True)
    assert allowed.reboot and allowed.stop_after_driver is None  # GPUs known: reboot, then the run goes on


# --- v100 (seed 004): Volta, vLLM 0.14.1 (CUDA 12.8) ------------------------------------------------


def test_v100_old_driver_on_debian_uses_nvidia_repo_branch_with_dkms_headers(monkeypatch):
    f = facts("v100", os_id="debian", os_version="12", kernel="6.1.0-28-amd64")
    f = dataclasses.replace(f, gpus=gpu_driver(f, "470.256.02"))
    plan = plan_of(f)
    d = plan.driver
    # NVIDIA's guide for 570 and later: the branch's pinning package first, then the driver; Volta
    # has no open kernel modules: the proprietary ones (cuda-drivers)
    assert (d.method, d.packages, d.headers, d.cuda) == (
        "nvidia-repo",
        ("nvidia-driver-pinning-580", "cuda-drivers"),
        "linux-headers-6.1.0-28-amd64",
        "12.8",
    )
    assert plan.cuda_repo.distro == "debian12" and plan.cuda_toolkits == ()  # the repository for the driver only
    assert driver_commands(monkeypatch, plan) == (
        [
            [
                "DEBIAN_FRONTEND=noninteractive",
                "apt-get",
                "install",
                "-y",
                "--no-install-recommends",
                "linux-headers-6.1.0-28-amd64",
                "dkms",
            ],
            ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "nvidia-driver-pinning-580"],
            ["DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "cuda-drivers"],
        ],
        [],
    )
    svc = plan.services[0]
    assert svc.engine.version == "0.14.1" and "--enforce-eager" in svc.argv
    assert "CUDA_HOME" not in dict(svc.env)  # no toolkit: the wheels' own runtime, said in the reasons
    assert any(r.startswith("CUDA_HOME: not set: no CUDA 12.x toolkit on the host;") for r in svc.reasons)


def test_secure_boot_with_dkms_modules_is_explained_before_any_change():
    f = facts("v100", os_id="debian", os_version="12", kernel="6.1.0-28-amd64", secure_boot=True)
    f = dataclasses.replace(f, gpus=gpu_driver(f, "470.256.02"))
    with pytest.raises(PlanError) as err:
        plan_of(f)
    assert str(err.value).startswith(
        "driver: Secure Boot is on and branch 580 from NVIDIA's repository builds its kernel modules with DKMS"
    )
    # dkms makes its key only on its first signed build: the message says how to have it now
    assert "openssl req -new -x509 -nodes -days 36500" in str(err.value) and "-out /var/lib/dkms/mok.pub" in str(
        err.value
    )
    assert "mokutil --import /var/lib/dkms/mok.pub" in str(err.value) and "\n" not in str(err.value)
    assert plan_of(dataclasses.replace(f, dkms_key_enrolled=True)).driver.install  # an enrolled key is fine
    # Ubuntu's prebuilt modules are signed by Canonical: Secure Boot is only noted
    ubuntu = dataclasses.replace(f, os_id="ubuntu", os_version="22.04")
    assert "secure boot: on; Ubuntu's prebuilt modules are signed by Canonical and load" in plan_of(ubuntu).reasons


# --- a800 (seed 001): Ampere, driver 535 -> 580 -----------------------------------------------------


def test_a800_seed_driver_535_gets_580_and_with_allow_reboot_goes_on(monkeypatch):
    f = facts("a800")
    f = dataclasses.replace(f, gpus=gpu_driver(f, "535.161.08"))  # tests/fixtures/facts/NvidiaGpus.a800x8.json
    plan = plan_of(f, llmhost_allow_reboot=True)
    assert (plan.driver.found, plan.driver.install, plan.reboot, plan.stop_after_driver) == (
        "535.161.08",
        True,
        True,
        None,
    )
    assert "reboot: llmhost_allow_reboot; the host reboots onto the new driver and the run goes on" in plan.reasons
    assert driver_commands(monkeypatch, plan)[0][0] == [
        "ubuntu-drivers",
        "install",
        "--gpgpu",
        "nvidia:580-server-open",
    ]
    assert plan.cuda_repo is None  # no toolkits asked for, Ubuntu's own driver: NVIDIA's repository not needed
    # an HGX board: the fabric manager of the same branch, from Ubuntu's archive
    assert plan.driver.fabric == ("nvidia-fabricmanager-580", "libnvidia-nscq-580")


# --- WSL (seed 000): never a driver; toolkits from wsl-ubuntu ------------------------------------------


def test_wsl_gets_no_driver_operation_and_toolkits_from_wsl_ubuntu():
    f = facts("wsl-laptop")
    f = dataclasses.replace(f, gpus=gpu_driver(f, "581.42"))
    plan = plan_of(
        f,
        llmhost_services=[{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "engine": "vllm"}],
        llmhost_cuda_toolkits=["12.9"],
    )
    assert plan.driver.method == "" and not plan.driver.install and not plan.reboot
    assert plan.cuda_repo.url == "https://developer.download.nvidia.com/compute/cuda/repos/wsl-ubuntu/x86_64/"
    env = dict(plan.services[0].env)
    assert env["LD_LIBRARY_PATH"] == "/usr/lib/wsl/lib"  # Windows' libcuda; no 13.x toolkit for the CUDA 13 wheels
    with13 = plan_of(
        f,
        llmhost_services=[{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "engine": "vllm"}],
        llmhost_cuda_toolkits=["13.0"],
    )
    assert dict(with13.services[0].env)["LD_LIBRARY_PATH"] == "/usr/lib/wsl/lib"  # the wheels' own CUDA libraries
    assert dict(with13.services[0].env)["CUDA_HOME"] == "/usr/local/cuda-13.0"
    # even GPUs that nvidia-smi cannot read are never a reason for a driver inside WSL
    blind = plan_of(dataclasses.replace(f, gpus=(), pci_gpus=1))
    assert blind.driver is None and blind.services[0].engine.engine == "vllm-cpu"


# --- a bare GPU host: NVIDIA GPUs on PCI, no driver yet ------------------------------------------------


def test_gpus_on_pci_without_a_driver_get_the_driver_first():
    f = facts("v100", gpus=(), pci_gpus=2)
    plan = plan_of(f)
    assert plan.services == () and plan.engines == ()  # never planned onto the CPU by mistake
    assert (plan.driver.install, plan.driver.cuda, plan.driver.method) == (True, None, "ubuntu-drivers")
    assert any(
        r.startswith("gpus: 2 NVIDIA GPU(s) on the PCI bus and nvidia-smi cannot read them") for r in plan.reasons
    )
    # no nvidia-smi: the architecture is not known, and the proprietary modules run every GPU before Blackwell
    assert plan.driver.packages == ("nvidia-headless-no-dkms-580-server", "nvidia-utils-580-server")
    assert plan.stop_after_driver.startswith("driver branch 580 is installed by this run")
    allowed = plan_of(f, llmhost_allow_reboot=True)
    assert (
        allowed.reboot
        and allowed.stop_after_driver == "the host reboots onto the driver; run again to plan and serve on its GPUs"
    )
    # services pinned to the CPU engine leave the GPUs (and their driver) alone
    cpu = plan_of(f, llmhost_services=[{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "engine": "vllm-cpu"}])
    assert cpu.driver is None and cpu.services[0].engine.engine == "vllm-cpu"


def test_toolkits_on_a_distribution_nvidia_has_no_repository_for_are_refused():
    f = facts("rtx4060-laptop", os_version="20.04")
    with pytest.raises(
        PlanError, match=r"^llmhost_cuda_toolkits: NVIDIA's CUDA repository has no packages for ubuntu 20\.04$"
    ):
        plan_of(dataclasses.replace(f, gpus=gpu_driver(f, "580.95.05")), llmhost_cuda_toolkits=["12.6"])


# --- the new facts' shell commands, against a fake /sys tree --------------------------------------------


def run_fact(fact, replace, tmp_path):
    script = fact.command()
    for old, new in replace.items():
        script = script.replace(old, str(tmp_path / new))
    return fact.process(
        subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout.splitlines()
    )


def test_pci_fact_reads_sysfs_and_skips_audio_functions(tmp_path):
    for slot, vendor, device, klass in (
        ("0000:01:00.0", "0x10de", "0x28e0", "0x030000"),
        ("0000:01:00.1", "0x10de", "0x22be", "0x040300"),
        ("0000:00:02.0", "0x8086", "0xa7a0", "0x030000"),
    ):
        d = tmp_path / "devices" / slot
        d.mkdir(parents=True)
        for name, value in (("vendor", vendor), ("device", device), ("class", klass)):
            (d / name).write_text(value + "\n")
    assert run_fact(PciNvidiaGpus(), {"/sys/bus/pci/devices": "devices"}, tmp_path) == [
        {"slot": "0000:01:00.0", "device": "0x28e0", "pci_class": "0x030000"}
    ]


def test_secure_boot_fact_reads_the_efi_variable(tmp_path):
    (tmp_path / "efi" / "efivars").mkdir(parents=True)
    var = tmp_path / "efi" / "efivars" / "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
    var.write_bytes(bytes([6, 0, 0, 0, 1]))
    assert run_fact(SecureBoot(), {"/sys/firmware/efi": "efi"}, tmp_path) == {
        "enforcing": True,
        "dkms_key_enrolled": False,
    }
    var.write_bytes(bytes([6, 0, 0, 0, 0]))
    assert run_fact(SecureBoot(), {"/sys/firmware/efi": "efi"}, tmp_path)["enforcing"] is False
    assert run_fact(SecureBoot(), {"/sys/firmware/efi": "no-efi"}, tmp_path)["enforcing"] is None
