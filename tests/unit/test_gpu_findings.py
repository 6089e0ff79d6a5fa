"""The GPU path as the seed hosts really are (issue 16's findings), each on a fixture that shows the
real host: the engines' Python range, WSL's nvidia-smi, NVSwitch boards, desktops, open kernel
modules, memory a desktop holds, Maxwell, and directories with a config.json and no weights."""

from __future__ import annotations

import dataclasses
import json
import subprocess

import pytest

from llmhost.facts import host_facts
from llmhost.gpus import architecture
from llmhost.hardware import load_hardware
from llmhost.modelconfig import estimate_params
from llmhost.plan import PlanError, plan_host
from llmhost.settings import load
from tests.golden import _fixture, _FixtureHost
from tests.helpers import REPO
from tests.unit.common import HARDWARE, seed_plan


def hw(seed: str, **changes):
    return dataclasses.replace(load_hardware(HARDWARE / f"{seed}.yaml"), **changes)


# --- 2. each release's Python range -----------------------------------------------------------------


def test_the_a800_seeds_python_310_gets_a_conda_env_with_312_for_vllm_033():
    kept = seed_plan("a800")  # its driver 535 kept: vLLM 0.14.1, whose range takes the host's 3.10
    assert [(e.engine, e.version, e.python, e.conda) for e in kept.engines] == [("vllm", "0.14.1", "python3", None)]
    plan = seed_plan("a800", llmhost_driver="upgrade")
    (engine,) = plan.engines
    assert (engine.engine, engine.python, engine.python_version, engine.conda) == (
        "vllm",
        "3.12",
        "3.12",
        "/opt/llmhost/miniforge/bin/conda",
    )
    assert plan.conda.installer.startswith("https://mirrors.tuna.tsinghua.edu.cn/github-release/conda-forge/miniforge/")
    assert any(
        "a conda env with Python 3.12: the host's Python 3.10.12 is outside vllm 0.33.0's Requires-Python "
        ">=3.11,<3.15" in r
        for r in plan.reasons
    )
    assert plan.python == "python3"  # the host tool still runs on the host's own Python
    # the tools venv (huggingface_hub runs on 3.10) stays a venv of the host's Python
    assert plan.tools.conda is None


def test_a_pinned_python_outside_the_range_is_refused_with_the_fix():
    with pytest.raises(PlanError) as err:
        plan_host(
            hw("a800"),
            load(
                {
                    "llmhost_services": [{"name": "q", "model": "Qwen/Qwen2-7B-Instruct"}],
                    "llmhost_python": "python3.10",
                    "llmhost_driver": "upgrade",
                }
            ),
        )
    assert str(err.value) == (
        "llmhost_python: python3.10 is Python 3.10.12, outside vllm 0.33.0's Requires-Python <3.15,>=3.11; name a "
        "Python the host has in that range, or leave llmhost_python unset to get one from conda-forge"
    )


def test_an_offline_host_with_a_python_outside_the_range_is_refused(tmp_path):
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "x-1-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(
        PlanError,
        match=r"^llmhost_python: python3 is Python 3\.10\.12, outside vllm 0\.33\.0's "
        r"Requires-Python <3\.15,>=3\.11, and an offline host cannot get one",
    ):
        plan_host(
            hw("a800"),
            load(
                {
                    "llmhost_services": [{"name": "q", "model": "Qwen/Qwen2-7B-Instruct"}],
                    "llmhost_wheelhouse": str(tmp_path / "w"),
                    "llmhost_driver": "upgrade",
                }
            ),
        )


# --- 3. WSL: nvidia-smi off the PATH -------------------------------------------------------------------


def test_wsl_gpus_are_read_with_wsls_nvidia_smi_and_the_plan_says_so():
    gpus = _fixture("NvidiaGpus", "wsl-mx450")
    assert gpus[0]["nvidia_smi"] == "/usr/lib/wsl/lib/nvidia-smi" and gpus[0]["driver_version"] == "556.12"
    plan = seed_plan("wsl-laptop")
    assert (
        "gpus: read with /usr/lib/wsl/lib/nvidia-smi (WSL's: it is not on the PATH of an SSH session)" in plan.reasons
    )


def test_the_gpu_fact_falls_back_to_wsls_nvidia_smi_for_real(tmp_path):
    """The fact's own command, with a PATH that has no nvidia-smi and a stand-in at WSL's path."""
    from llmhost.facts.nvidia import NvidiaGpus

    smi = tmp_path / "usr/lib/wsl/lib/nvidia-smi"
    smi.parent.mkdir(parents=True)
    smi.write_text("#!/bin/sh\necho '0, NVIDIA GeForce MX450, 2048, 0, 7.5, 556.12, GPU-1'\n")
    smi.chmod(0o755)
    command = NvidiaGpus().command().replace("/usr/lib/wsl/lib/nvidia-smi", str(smi))
    out = subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}, check=False
    ).stdout
    (gpu,) = NvidiaGpus().process(out.splitlines())
    assert gpu["nvidia_smi"] == str(smi) and gpu["compute_capability"] == "7.5"


# --- 4. NVSwitch boards need the fabric manager ---------------------------------------------------------


def test_an_hgx_board_gets_the_fabric_manager_of_the_drivers_branch():
    assert _fixture("NvSwitches", "hgx-a100") == ["0000:54:00.0", "0000:55:00.0"]
    plan = seed_plan("a800", llmhost_driver="upgrade")  # six NVSwitches, driver 535 -> 580
    assert plan.driver.fabric == ("nvidia-fabricmanager-580", "libnvidia-nscq-580")
    assert plan.driver.command == ("install", "--gpgpu", "nvidia:580-server-open")  # FM matches the -server driver
    assert any(
        r.startswith(
            "fabric manager: 6 NVSwitch(es) on PCI: nvidia-fabricmanager-580, libnvidia-nscq-580 "
            "installed (nvidia-fabricmanager-580, libnvidia-nscq-580 missing) and nvidia-fabricmanager "
            "running, at exactly the driver's version"
        )
        for r in plan.reasons
    )
    # the seed's own data keeps its 535: the fabric manager is 535's, not the branch an upgrade would
    # bring (nvidia-fabricmanager-580 depends on a 580 driver: apt would pull the driver up with it)
    kept = seed_plan("a800")
    assert (kept.driver.install, kept.driver.found) == (False, "535.161.08")
    assert kept.driver.fabric == ("nvidia-fabricmanager-535", "libnvidia-nscq-535")
    # a driver new enough already: the fabric manager is still planned (installed here: nothing missing)

    new = hw("a800", nvidia_packages=frozenset({"nvidia-fabricmanager-580", "libnvidia-nscq-580"}))
    new = dataclasses.replace(new, gpus=tuple(dataclasses.replace(g, driver="580.95.05") for g in new.gpus))
    ok = plan_host(new, load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2-7B-Instruct"}]}))
    assert not ok.driver.install and ok.driver.fabric and any("(installed)" in r for r in ok.reasons)
    debian = plan_host(
        dataclasses.replace(new, os_id="debian", os_version="12"),
        load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2-7B-Instruct"}]}),
    )
    assert debian.driver.fabric == ("nvidia-fabricmanager", "libnvidia-nscq") and debian.cuda_repo.distro == "debian12"


# --- 5., 6. desktops keep their desktop; open modules by architecture -----------------------------------


def test_a_display_on_the_nvidia_gpu_makes_a_desktop_even_without_its_packages():
    f = hw("rtx4060-laptop", nvidia_packages=frozenset(), nvidia_displays=1)
    data = {"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct"}], "llmhost_driver": "upgrade"}
    plan = plan_host(f, load(data))
    assert plan.driver.command == ("install", "nvidia:580-open")
    assert any(r.startswith("driver flavour: desktop (1 display(s) connected to its NVIDIA GPU") for r in plan.reasons)
    server = plan_host(hw("rtx4060-laptop", nvidia_packages=frozenset()), load(data))
    assert server.driver.command == ("install", "--gpgpu", "nvidia:580-server-open")


@pytest.mark.parametrize(
    "device, packages",
    [
        ("0x2684", ("nvidia-headless-no-dkms-580-server-open", "nvidia-utils-580-server")),  # Ada (RTX 4090)
        ("0x1db4", ("nvidia-headless-no-dkms-580-server", "nvidia-utils-580-server")),  # Volta (V100)
    ],
)
def test_before_nvidia_smi_can_read_the_gpus_their_pci_id_chooses_the_modules(device, packages):
    f = hw("v100", gpus=(), pci_gpus=1, pci_gpu_devices=(device,))
    assert (
        plan_host(f, load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct"}]})).driver.packages
        == packages
    )


# --- 7. memory a desktop (or another job) holds ----------------------------------------------------------


def test_gpu_memory_in_use_is_counted_but_never_llmhosts_own_engines():
    class Host(_FixtureHost):
        def get_fact(self, cls, **kwargs):
            if cls.__name__ == "NvidiaGpus":  # 74 GiB in use, of which llmhost's vLLM holds 72.5 GiB
                return [{**_fixture("NvidiaGpus", "a800x8")[0], "memory_used_mib": 74400}]
            if cls.__name__ == "NvidiaComputeApps":
                return _fixture("NvidiaComputeApps", "vllm")
            return super().get_fact(cls, **kwargs)

    (gpu,) = host_facts(Host()).gpus
    assert gpu.memory_used_mib == 74400 - 74210  # a re-run plans the same, whatever its engine holds


# --- 10. Maxwell ----------------------------------------------------------------------------------------


def test_maxwell_runs_cuda_12_and_driver_580_and_kepler_stops_at_470():
    assert architecture(5.2) == ("Maxwell", "12.9", "580")
    assert architecture(3.7) == ("Kepler or older", "11.8", "470")


# --- 11b. a model directory with a config.json and no weights -------------------------------------------


def test_a_config_without_weights_is_planned_with_estimated_weights(tmp_path):
    qwen15 = {
        "architectures": ["Qwen2ForCausalLM"],
        "hidden_size": 1536,
        "num_hidden_layers": 28,
        "num_attention_heads": 12,
        "num_key_value_heads": 2,
        "intermediate_size": 8960,
        "vocab_size": 151936,
        "max_position_embeddings": 32768,
        "torch_dtype": "bfloat16",
        "tie_word_embeddings": True,
    }
    # Qwen2.5-1.5B-Instruct's config.json: its model card says 1.54 B parameters
    assert abs(estimate_params(qwen15)[0] - 1_540_000_000) / 1_540_000_000 < 0.01
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text(json.dumps(qwen15))
    out = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "llmhost"),
            "plan",
            "--hardware",
            str(HARDWARE / "cpu-server.yaml"),
            "--model",
            str(tmp_path / "m"),
            "--json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    reasons = json.loads(out.stdout)["reasons"]
    assert any(
        r.startswith(
            f"model: {tmp_path / 'm'} has a config.json and no weight files: its weights (2.88 GiB) "
            "are estimated from the config for this plan (a deploy needs the weights)"
        )
        for r in reasons
    )
    # a deploy reads the same directory without estimating: refused
    from llmhost.settings import DataError

    with pytest.raises(DataError, match="has no \\*.safetensors or \\*.bin weight files"):
        load({"llmhost_services": [{"name": "m", "model": str(tmp_path / "m")}]})
