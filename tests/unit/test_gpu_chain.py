"""The compatibility chain (GPU architecture -> CUDA -> driver -> engine) as data the planner uses:
the seed hosts' plans and the refusals, worked out by hand from the tables' sources."""

from __future__ import annotations

import dataclasses

import pytest

from llmhost.engines import VLLM_CUDA, VLLM_GPU_RELEASES, VLLM_VOLTA
from llmhost.gpus import ARCHITECTURES, COMPUTE_CAPABILITY, CUDA_MIN_DRIVER, DRIVER_BRANCH, architecture, driver_tuple
from llmhost.hardware import load_hardware
from llmhost.plan import Gpu, PlanError, plan_host
from llmhost.plan.gpu_stack import driver
from llmhost.settings import load
from tests.unit.common import HARDWARE, seed_plan


def test_the_tables_agree_with_each_other():
    for _, release in VLLM_GPU_RELEASES:
        assert release.cuda in CUDA_MIN_DRIVER, release
    for _, cc in COMPUTE_CAPABILITY:
        name, newest, branch = architecture(float(cc))
        assert name != "Kepler or older"
        if newest:  # an architecture CUDA stopped at must still run the engine planned for it
            assert branch and driver_tuple(branch) >= driver_tuple(DRIVER_BRANCH)
    assert architecture(7.0) == ("Volta", "12.9", "580") and architecture(8.9)[0] == "Ada"
    assert driver_tuple(VLLM_VOLTA.cuda) <= driver_tuple(architecture(7.0)[1])
    assert [a[0] for a in ARCHITECTURES] == sorted((a[0] for a in ARCHITECTURES), reverse=True)
    # DRIVER_BRANCH satisfies every CUDA of the table (580.65.06 is CUDA 13.0's minimum)
    assert all(driver_tuple(DRIVER_BRANCH) >= driver_tuple(v)[:1] for v in CUDA_MIN_DRIVER.values())


def test_rtx4060_seed_driver_550_is_too_old_for_cuda_13():
    """Seed 003's nvidia-smi shows driver 550.163.01; vLLM 0.33.0's wheels are CUDA 13.0 (torch 2.14.0's
    metadata), whose minimum on Linux is 580.65.06. The laptop runs its desktop on the GPU with Ubuntu's
    desktop nvidia-driver-550: it gets the desktop driver of branch 580, open kernel modules (Ada)."""
    plan = seed_plan("rtx4060-laptop")
    d = plan.driver
    assert (d.cuda, d.minimum, d.found, d.install, d.branch) == ("13.0", "580.65.06", "550.163.01", True, "580")
    assert (d.method, d.command, d.packages, d.headers, d.reboot) == (
        "ubuntu-drivers",
        ("install", "nvidia:580-open"),
        ("nvidia-driver-580-open",),
        None,
        True,
    )
    assert any(
        r.startswith("driver: install branch 580 by ubuntu-drivers install nvidia:580-open")
        and "(found 550.163.01; CUDA 13.0 of vllm 0.33.0 needs >= 580.65.06" in r
        for r in plan.reasons
    )
    assert (
        "driver flavour: desktop (nvidia-driver-550 installed: the headless server driver "
        "would remove it); open kernel modules: the GPUs are Turing or newer (cc 8.9; NVIDIA's default since "
        "560)"
    ) in plan.reasons
    # the new module loads after a reboot, which llmhost does not do unasked: the run stops there
    assert plan.stop_after_driver.startswith("driver branch 580 is installed by this run and loads only after a reboot")
    assert not plan.reboot


def test_a_new_enough_driver_is_left_alone():
    facts = load_hardware(HARDWARE / "rtx4060-laptop.yaml")
    gpu = dataclasses.replace(facts.gpus[0], driver="580.95.05")
    plan = plan_host(
        dataclasses.replace(facts, gpus=(gpu,)),
        load(
            {
                "llmhost_services": [
                    {
                        "name": "q",
                        "model": "Qwen/Qwen1.5-7B-Chat",
                        "quantization": "bitsandbytes",
                        "max_model_len": 1024,
                    }
                ]
            }
        ),
    )
    assert not plan.driver.install and plan.driver.found == "580.95.05"
    assert (
        "driver: 580.95.05 satisfies CUDA 13.0 of vllm 0.33.0 (>= 580.65.06, CUDA Toolkit release notes, Table 3); not touched"
        in plan.reasons
    )


def test_v100_with_driver_470_gets_the_580_branch_for_cuda_12_8():
    facts = load_hardware(HARDWARE / "v100.yaml")
    old = tuple(dataclasses.replace(g, driver="470.256.02") for g in facts.gpus)
    plan = plan_host(
        dataclasses.replace(facts, gpus=old),
        load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct"}]}),
    )
    assert plan.services[0].engine.version == "0.14.1"
    assert (plan.driver.cuda, plan.driver.minimum, plan.driver.install) == ("12.8", "570.26", True)
    assert "gpu Tesla V100-SXM2-32GB: Volta, CUDA up to 12.9, driver branches up to 580" in plan.reasons


def test_wsl_never_installs_a_driver_and_refuses_an_old_windows_one():
    facts = load_hardware(HARDWARE / "wsl-laptop.yaml")  # MX450, Windows driver 556.12
    wish = load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "engine": "vllm"}]})
    with pytest.raises(PlanError) as err:
        plan_host(facts, wish)
    # the Windows driver is held against CUDA's Windows minimum (13.0: branch 580's first, 580.88)
    assert str(err.value) == (
        "driver: inside WSL the NVIDIA driver is Windows' (556.12); CUDA 13.0 of vllm 0.33.0 needs >= 580.88 "
        "(CUDA Toolkit release notes, Table 3, Windows column): update the NVIDIA driver on Windows"
    )
    newer = dataclasses.replace(facts, gpus=(dataclasses.replace(facts.gpus[0], driver="581.42"),))
    plan = plan_host(newer, wish)
    assert not plan.driver.install
    assert any(r.startswith("driver: Windows' (WSL: never installed here") for r in plan.reasons)


def test_a_cuda_newer_than_the_architecture_is_refused():
    engine = seed_plan("v100").engines[0]
    volta = load_hardware(HARDWARE / "v100.yaml")
    with pytest.raises(
        PlanError, match=r"^host: Tesla V100-SXM2-32GB \(Volta\) runs CUDA up to 12\.9; CUDA 13\.0 of vllm"
    ):
        driver(volta, [dataclasses.replace(engine, cuda="13.0")])


def test_cpu_engines_need_nodriver():
    assert seed_plan("cpu-server").driver is None
    assert driver(load_hardware(HARDWARE / "v100.yaml"), []) == (None, [])
    assert VLLM_CUDA.cuda == "13.0" and Gpu("x", 1, None).driver is None
