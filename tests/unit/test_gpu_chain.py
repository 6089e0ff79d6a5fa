"""The compatibility chain (GPU architecture -> CUDA -> driver -> engine) as data the planner uses:
the seed hosts' plans and the refusals, worked out by hand from the tables' sources."""

from __future__ import annotations

import dataclasses

import pytest

from llmhost.engines import VLLM_CU128, VLLM_CUDA, VLLM_GPU_RELEASES
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
    assert driver_tuple(VLLM_CU128.cuda) <= driver_tuple(architecture(7.0)[1])
    assert [a[0] for a in ARCHITECTURES] == sorted((a[0] for a in ARCHITECTURES), reverse=True)
    # DRIVER_BRANCH satisfies every CUDA of the table (580.65.06 is CUDA 13.0's minimum)
    assert all(driver_tuple(DRIVER_BRANCH) >= driver_tuple(v)[:1] for v in CUDA_MIN_DRIVER.values())


def test_rtx4060_seed_keeps_its_driver_550_and_serves_with_the_cuda_12_vllm():
    """Seed 003's nvidia-smi shows driver 550.163.01 (CUDA 12.4). vLLM 0.33.0's wheels are CUDA 13.0
    (>= 580.65.06); 0.14.1's are CUDA 12.8, which a 12.x driver >= 525.60.13 runs (minor-version
    compatibility; Ada carries vLLM's sm_80 cubins). Kept by default: no install, no reboot, and the
    reasons say what an upgrade would bring."""
    plan = seed_plan("rtx4060-laptop")
    assert {s.engine.version for s in plan.services if s.engine.engine == "vllm"} == {"0.14.1"}
    d = plan.driver
    assert (d.cuda, d.minimum, d.found, d.install) == ("12.8", "525.60.13", "550.163.01", False)
    assert not plan.stop_after_driver and not plan.reboot
    why = next(r for s in plan.services for r in s.reasons if r.startswith("vllm 0.14.1 (cu128): the driver, kept"))
    assert why.startswith(
        'vllm 0.14.1 (cu128): the driver, kept (llmhost_driver = "keep") 550.163.01 runs CUDA 12.8 (>= 525.60.13, '
        "CUDA 12.x minor-version compatibility); vllm 0.33.0 (CUDA 13.0) needs >= 580.65.06: "
        'llmhost_driver = "upgrade" installs branch 580 (a reboot) and brings it ('
    ), why


def test_rtx4060_seed_asking_for_the_upgrade_gets_branch_580_the_desktop_way():
    """With llmhost_driver = "upgrade" the laptop (its desktop on the GPU, Ubuntu's desktop
    nvidia-driver-550) gets the desktop driver of branch 580, open kernel modules (Ada), and vLLM 0.33.0."""
    plan = seed_plan("rtx4060-laptop", llmhost_driver="upgrade")
    assert {s.engine.version for s in plan.services if s.engine.engine == "vllm"} == {"0.33.0"}
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


def test_hopper_needs_the_wheels_own_toolkit_driver_and_a_kept_535_runs_no_vllm():
    """On cc >= 9.0 vLLM's FlashAttention-2/Marlin PTX is compiled by the driver: CUDA 12.8 wheels need
    570.26 there, so an H100 on 535 keeps its driver and gets no vLLM, with the fix named; auto falls
    back to llama.cpp (where a GGUF of the model is known), built with a toolkit that driver runs."""
    facts = load_hardware(HARDWARE / "a800.yaml")
    h100 = tuple(dataclasses.replace(g, name="NVIDIA H100 80GB HBM3", compute_capability="9.0") for g in facts.gpus)
    data = {"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct", "engine": "vllm"}]}
    with pytest.raises(PlanError) as err:
        plan_host(dataclasses.replace(facts, gpus=h100), load(data))
    assert str(err.value) == (
        'llmhost_services[0].engine: the driver, kept (llmhost_driver = "keep") is 535.161.08; the oldest vLLM '
        "llmhost pins for cc 9.0, 0.14.1 (CUDA 12.8), needs >= 570.26 (CUDA 12.8's own driver: its kernels' PTX "
        'is compiled by the driver on cc >= 9.0): llmhost_driver = "upgrade" installs branch 580 (a reboot)'
    )
    auto = {"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-1.5B-Instruct"}]}  # a GGUF of it is known
    plan = plan_host(dataclasses.replace(facts, gpus=h100), load(auto))
    assert plan.services[0].engine.engine == "llamacpp" and not plan.driver.install
    assert plan.services[0].engine.cuda == "12.2"
    # a new enough driver there: kept, and the reason is the wheels' own toolkit driver, not compatibility
    h580 = tuple(dataclasses.replace(g, driver="580.95.05") for g in h100)
    ok = plan_host(dataclasses.replace(facts, gpus=h580), load(data))
    assert (
        "driver: 580.95.05 satisfies CUDA 13.0 of vllm 0.33.0 (>= 580.65.06, pip wheels: CUDA 13.0's own driver: "
        "its kernels' PTX is compiled by the driver on cc >= 9.0); not touched" in ok.reasons
    )


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
        "driver: 580.95.05 satisfies CUDA 13.0 of vllm 0.33.0 (>= 580.65.06, pip wheels: CUDA minor-version "
        "compatibility); not touched" in plan.reasons
    )
    # vLLM 0.33.0 has no bitsandbytes of its own: its plugin comes with the package
    assert plan.services[0].engine.requirements == ("vllm==0.33.0", "bitsandbytes==0.50.2", "vllm-bnb-plugin==0.0.3")


def test_v100_with_driver_470_is_kept_and_refused_or_upgraded_to_the_580_branch():
    """470 (CUDA 11.4) runs no CUDA 12 wheel: kept, it serves no vLLM and the refusal names the key;
    asked to, the plan installs branch 580 (Volta's last) for vLLM 0.14.1's CUDA 12.8."""
    facts = load_hardware(HARDWARE / "v100.yaml")
    old = dataclasses.replace(facts, gpus=tuple(dataclasses.replace(g, driver="470.256.02") for g in facts.gpus))
    data = {"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct", "engine": "vllm"}]}
    with pytest.raises(
        PlanError, match=r'0\.14\.1 \(CUDA 12\.8\), needs >= 525\.60\.13 .*"upgrade" installs branch 580'
    ):
        plan_host(old, load(data))
    plan = plan_host(old, load({**data, "llmhost_driver": "upgrade"}))
    assert plan.services[0].engine.version == "0.14.1"
    assert (plan.driver.cuda, plan.driver.minimum, plan.driver.install) == ("12.8", "525.60.13", True)
    assert "gpu Tesla V100-SXM2-32GB: Volta, CUDA up to 12.9, driver branches up to 580" in plan.reasons


def test_wsl_never_installs_a_driver_and_runs_the_vllm_windows_driver_runs():
    facts = load_hardware(HARDWARE / "wsl-laptop.yaml")  # MX450, Windows driver 556.12
    data = {"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "engine": "vllm"}]}
    wish = load(data)
    # 556.12 runs CUDA 12.x wheels (Windows' 12.0 driver 527.41 and later), not 13.0's (580.88): vLLM 0.14.1,
    # whichever llmhost_driver says (the driver is Windows')
    for policy in ("keep", "upgrade"):
        plan = plan_host(facts, load({**data, "llmhost_driver": policy}))
        assert plan.services[0].engine.version == "0.14.1" and not plan.driver.install
        assert any(
            r.startswith("vllm 0.14.1 (cu128): Windows' driver (WSL) 556.12 runs CUDA 12.8 (>= 527.41")
            for r in plan.services[0].reasons
        )
    newer = dataclasses.replace(facts, gpus=(dataclasses.replace(facts.gpus[0], driver="581.42"),))
    plan = plan_host(newer, wish)
    assert not plan.driver.install and plan.services[0].engine.version == "0.33.0"
    assert any(r.startswith("driver: Windows' (WSL: never installed here") for r in plan.reasons)
    ancient = dataclasses.replace(facts, gpus=(dataclasses.replace(facts.gpus[0], driver="512.15"),))
    with pytest.raises(PlanError, match=r"Windows' driver \(WSL\) is 512\.15; .*update the NVIDIA driver on Windows$"):
        plan_host(ancient, wish)


def test_a_cuda_newer_than_the_architecture_is_refused():
    engine = seed_plan("v100").engines[0]
    volta = load_hardware(HARDWARE / "v100.yaml")
    with pytest.raises(
        PlanError, match=r"^host: Tesla V100-SXM2-32GB \(Volta\) runs CUDA up to 12\.9; CUDA 13\.0 of vllm"
    ):
        driver(volta, [dataclasses.replace(engine, cuda="13.0")], load({}))


def test_cpu_engines_need_nodriver():
    assert seed_plan("cpu-server").driver is None
    assert driver(load_hardware(HARDWARE / "v100.yaml"), [], load({})) == (None, [])
    assert VLLM_CUDA.cuda == "13.0" and Gpu("x", 1, None).driver is None
