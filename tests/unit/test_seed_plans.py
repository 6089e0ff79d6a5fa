"""The five seed hosts: hardware files + the seeds' group data -> plans, checked against sums done
by hand here (GiB = 2^30 bytes; usable GPU memory = memory.total x 0.98; 1 GiB runtime per GPU)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmhost.hardware import HardwareError, load_hardware, parse_hardware
from llmhost.plan import PlanError, plan_host
from llmhost.settings import load
from tests.helpers import REPO
from tests.unit.common import HARDWARE, seed_plan


def args_of(svc) -> dict:
    argv = list(svc.argv[3:])
    out, i = {}, 0
    while i < len(argv):
        if i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            out[argv[i]] = argv[i + 1]
            i += 2
        else:
            out[argv[i]] = True
            i += 1
    return out


def test_a800_qwen2_72b_tp8_at_the_seeds_utilization():
    plan = seed_plan("a800")
    (svc,) = plan.services
    assert plan.supervisor == "systemd"  # Ubuntu 22.04 server: systemd is PID 1 (the seed used tmux)
    # driver 535 kept: vLLM 0.14.1 (CUDA 12.8 runs on it; 0.33.0's CUDA 13.0 needs 580)
    assert (svc.engine.engine, svc.engine.version) == ("vllm", "0.14.1")
    assert svc.dtype == "bfloat16"  # A800: cc 8.0
    # 64 heads, 8 KV heads, 8 GPUs: TP 8 divides both.
    assert svc.tensor_parallel_size == 8
    assert svc.gpu_memory_utilization == 0.7  # pinned in group_data/a800.py
    # weights 72.71e9 x 2 B = 145.42e9 B = 135.43 GiB -> 16.93 GiB per GPU
    # usable 81920 MiB x 0.98 = 78.40 GiB; x 0.7 = 54.88 GiB; KV room 54.88 - 16.93 - 1 = 36.95 GiB
    # KV 2 x 80 x 8 x 128 x 2 B = 327,680 B/token, /8 = 40,960 per GPU -> ~968,000 tokens >> 32,768
    assert svc.max_model_len == 32768
    assert any("36.95 GiB per GPU" in r for r in svc.reasons)
    a = args_of(svc)
    assert a["--tensor-parallel-size"] == "8" and a["--gpu-memory-utilization"] == "0.70"
    assert "--swap-space" not in a and "--quantization" not in a
    # public bind without a key: one is generated on the host
    assert svc.key_file == "/etc/llmhost/qwen72.key.env"
    # the CPU build's compile-cache workaround stays there: on GPUs vLLM's own backend writes the AOT artifact
    # (with finalize_loading; not measured here, no GPU)
    assert "VLLM_USE_AOT_COMPILE" not in dict(svc.env) and "TORCHINDUCTOR_CACHE_DIR" not in dict(svc.env)


def test_v100_qwen72_int4_gptq_on_volta():
    (svc,) = seed_plan("v100").services
    assert (svc.engine.engine, svc.engine.version) == ("vllm", "0.14.1")  # cc 7.0: the 0.14 line
    assert svc.dtype == "float16" and svc.quantization == "gptq"
    assert svc.tensor_parallel_size == 2
    # weights 41.5e9 B / 2 = 19.32 GiB per GPU; usable 32768 MiB x 0.98 x 0.90 = 28.22 GiB
    # KV room 28.22 - 19.32 - 1 = 7.90 GiB; KV 2 x 80 x 64 x 128 x 2 = 2,621,440 B/token, 1,310,720 per GPU
    # -> 6,47x tokens, rounded down to a multiple of 256 = 6400
    assert svc.max_model_len == 6400
    a = args_of(svc)
    assert a["--trust-remote-code"] is True and a["--enforce-eager"] is True
    assert a["--quantization"] == "gptq"


def test_rtx4060_qwen15_7b_in_4bit():
    (svc,) = seed_plan("rtx4060-laptop").services
    assert svc.quantization == "bitsandbytes" and svc.dtype == "bfloat16"  # cc 8.9
    # linear params 7.72e9 - 2 x 151,936 x 4096 = 6.4753e9 x 0.515875 B = 3.340e9
    # + 1.2447e9 embedding/head params x 2 B = 2.489e9 -> 5.830e9 B = 5.43 GiB
    # usable 8188 MiB x 0.98 = 7.84 GiB: at 0.90, KV room 7.05 - 5.43 - 1 = 0.62 GiB = 1,276 tokens of
    # 524,288 B (Qwen1.5 is full MHA) < 2048; at 0.95, 7.44 - 6.43 = 1.02 GiB = 2,07x tokens -> 2048
    # The desktop holds 189 MiB; the plan keeps that and 256 MiB more: 7.84 - 0.43 = 7.41 GiB left,
    # utilization at most 0.92 of 8.0 GiB. At 0.90: 7.84 x 0.90 - 5.43 - 1 = 0.62 GiB of KV = 1,276 tokens
    # of 524,288 B: the 2048 the planner wants unpinned do not fit at any utilization (the seed data pins 1024)
    assert svc.gpu_memory_utilization == 0.9
    assert svc.max_model_len == 1024
    assert "max_model_len=1024: pinned by the service; the KV cache holds 1276 tokens" in svc.reasons


def test_wsl_mx450_goes_to_llamacpp_with_a_gguf():
    # the base model: vLLM does not fit, llama.cpp with the catalog's Q4_K_M does (the plan says which GGUF)
    facts = load_hardware(HARDWARE / "wsl-laptop.yaml")
    base = plan_host(facts, load({"llmhost_services": [{"name": "qwen", "model": "Qwen/Qwen2.5-1.5B-Instruct"}]}))
    (svc,) = base.services
    assert svc.engine.engine == "llamacpp" and svc.quantization == "Q4_K_M"
    # vLLM: fp16 3.08e9 B does not fit 2048 MiB; bnb 4-bit 1.39 GiB + 1 GiB runtime > 1.96 x 0.95 = 1.86 GiB
    # short by 1.39 + 1 + 2048 x 28,672 B (0.05 GiB) - 1.86 = 0.58 GiB
    assert any("0.58 GiB short" in r for r in svc.reasons)
    # the seed's data names that GGUF (a deploy fetches one file of the GGUF repository)
    plan = seed_plan("wsl-laptop")
    (svc,) = plan.services
    assert plan.supervisor == "tmux"  # WSL without systemd
    assert svc.engine.engine == "llamacpp" and svc.quantization == "Q4_K_M" and svc.model.file
    # GGUF 1,117,320,736 B = 1.04 GiB; KV 28,672 B x 8192 = 0.22 GiB per slot; + 0.35 runtime:
    # 4 slots: 1.04 + 0.88 + 0.35 = 2.27 > 1.86; 2 slots: 1.04 + 0.44 + 0.35 = 1.83 <= 1.86 -> all layers
    a = args_of(svc)
    assert a["-ngl"] == "999" and a["-np"] == "2" and a["-c"] == "16384"
    assert svc.argv[1] == "-m" and svc.argv[2].endswith("/qwen2.5-1.5b-instruct-q4_k_m.gguf") and "--metrics" in a
    assert svc.argv[0] == "/opt/llmhost/venvs/llamacpp-current/bin/llama-server"
    # built on the host for cc 7.5 with the CUDA 12.5 toolkit, which the plan installs from wsl-ubuntu
    # unasked: the newest the Windows driver 556.12 runs (12.5 needs >= 555.85 on Windows, 12.6 560.76)
    assert "-DCMAKE_CUDA_ARCHITECTURES=75" in svc.engine.build_flags and svc.engine.cuda == "12.5"
    assert plan.cuda_toolkits == ("12.5",) and plan.cuda_repo.distro == "wsl-ubuntu"
    assert dict(svc.env)["LD_LIBRARY_PATH"] == "/usr/lib/wsl/lib:/usr/local/cuda-12.5/lib64"


def test_cpu_server_qwen25_1_5b_on_vllm_cpu():
    plan = seed_plan("cpu-server")
    (svc,) = plan.services
    assert svc.engine.engine == "vllm-cpu" and svc.dtype == "bfloat16"
    assert "libtcmalloc-minimal4t64" in plan.system_packages  # Ubuntu 24.04 name
    assert svc.max_num_seqs == 64  # 4 x 16 cores
    # share 0.8 x 32 GiB = 25.6 GiB; weights 3.09e9 B = 2.88 GiB; room 25.6 - 2.88 - 1 = 21.72 -> 21 GiB
    # want 28,672 B x 32,768 x 64 = 56 GiB -> 21 GiB; holds 21 GiB / 28,672 = 786,432 tokens
    assert dict(svc.env)["VLLM_CPU_KVCACHE_SPACE"] == "21"
    assert svc.max_model_len == 32768


def _hw(**over):
    base = {"os": {"id": "ubuntu", "version": "22.04"}, "cpu": {"cores": 8, "flags": ["avx2"]}, "memory_gib": 64}
    return parse_hardware({**base, **over})


def test_bf16_pin_on_turing_is_refused():
    facts = _hw(gpus=[{"name": "Tesla T4", "memory_mib": 15360, "compute_capability": "7.5"}])
    s = load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct", "dtype": "bfloat16"}]})
    with pytest.raises(
        PlanError, match=r"^llmhost_services\[0\]\.dtype: bfloat16 needs compute capability >= 8.0; these GPUs have 7.5"
    ):
        plan_host(facts, s)


def test_72b_on_a_4_gib_gpu_is_refused_with_the_shortfall():
    facts = _hw(gpus=[{"name": "NVIDIA T400 4GB", "memory_mib": 4096, "compute_capability": "7.5"}])
    s = load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2-72B-Instruct", "engine": "vllm"}]})
    with pytest.raises(PlanError) as err:
        plan_host(facts, s)
    msg = str(err.value)
    assert msg.startswith("llmhost_services[0].model: Qwen/Qwen2-72B-Instruct does not fit 1 x NVIDIA T400 4GB")
    # best: bnb 4-bit, TP 1, util 0.95. GiB short is printed: weights alone are > 30 GiB.
    assert "GiB short" in msg and "\n" not in msg


def test_tp_that_does_not_divide_the_heads_is_refused():
    facts = _hw(gpus=[{"name": "NVIDIA A100-SXM4-80GB", "memory_mib": 81920, "count": 8}])
    s = load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct", "tensor_parallel_size": 8}]})
    with pytest.raises(PlanError, match=r"tensor_parallel_size: 8 is not possible with 8 GPU\(s\), 28 attention heads"):
        plan_host(facts, s)
    # auto picks 4: the largest of 1, 2, 4 that divides 28 heads and 4 KV heads
    (svc,) = plan_host(facts, load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct"}]})).services
    assert svc.tensor_parallel_size == 4


def test_old_driver_without_compute_cap_uses_the_name_table():
    facts = _hw(gpus=[{"name": "Tesla V100-SXM2-32GB", "memory_mib": 32510, "count": 2}])
    (svc,) = plan_host(facts, load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2-7B-Instruct"}]})).services
    assert svc.engine.version == "0.14.1" and svc.dtype == "float16"


@pytest.mark.parametrize(
    "data, line",
    [
        ({"os": {"id": "ubuntu"}, "cpu": {"cores": 4}, "memory_gib": 8}, "os.version: is required"),
        (
            {"os": {"id": "ubuntu", "version": "24.04"}, "cpu": {"cores": "4"}, "memory_gib": 8},
            "cpu.cores: expected int, got '4'",
        ),
        (
            {"os": {"id": "ubuntu", "version": "24.04"}, "cpu": {"cores": 4}, "memory_gib": 8, "gpu": []},
            "gpu: unknown field",
        ),
        (
            {
                "os": {"id": "ubuntu", "version": "24.04"},
                "cpu": {"cores": 4},
                "memory_gib": 8,
                "gpus": [{"name": "X", "memory_mib": "8G"}],
            },
            "gpus[0].memory_mib: expected int, got '8G'",
        ),
    ],
)
def test_malformed_hardware_is_one_line(data, line):
    with pytest.raises(HardwareError) as err:
        parse_hardware(data)
    assert str(err.value).startswith(line)


def llmhost(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).with_name("llmhost")), *args], capture_output=True, text=True, cwd=REPO, check=False
    )


def test_cli_json_has_the_documented_fields():
    out = llmhost("plan", "--hardware", str(HARDWARE / "a800.yaml"), "--model", "Qwen/Qwen2-72B-Instruct", "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    for key in (
        "engine",
        "engine_version",
        "dtype",
        "quantization",
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "gpu_memory_utilization",
        "max_model_len",
        "max_num_seqs",
        "supervisor",
        "argv",
        "env",
        "reasons",
    ):
        assert key in plan
    assert plan["quantization"] is None and plan["tensor_parallel_size"] == 8 and plan["supervisor"] == "systemd"


def test_cli_refusal_and_malformed_file_are_one_line_without_traceback(tmp_path):
    small = tmp_path / "small.json"
    small.write_text(
        json.dumps(
            {
                "os": {"id": "ubuntu", "version": "24.04"},
                "cpu": {"cores": 4, "flags": ["avx2"]},
                "memory_gib": 16,
                "gpus": [{"name": "X", "memory_mib": 4096, "compute_capability": "8.6"}],
            }
        )
    )
    out = llmhost("plan", "--hardware", str(small), "--model", "Qwen/Qwen2-72B-Instruct")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and "does not fit" in out.stderr and "Traceback" not in out.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("os: [unclosed\n")
    out = llmhost("plan", "--hardware", str(bad), "--model", "Qwen/Qwen2-72B-Instruct")
    assert out.returncode == 2 and out.stderr.startswith("llmhost plan: ") and out.stderr.count("\n") == 1


REMOVED_VLLM_FLAGS = (
    "--swap-space",
    "--disable-frontend-multiprocessing",
    "--disable-log-requests",
    "--device",
    "--num-scheduler-steps",
    "--use-v2-block-manager",
)


@pytest.mark.parametrize("seed", ["wsl-laptop", "cpu-server", "a800", "rtx4060-laptop", "v100"])
def test_no_seed_plan_uses_a_removed_flag_and_every_choice_has_a_reason(seed):
    plan = seed_plan(seed)
    assert plan.services, seed
    for svc in plan.services:
        assert not set(svc.argv) & set(REMOVED_VLLM_FLAGS)
        assert "VLLM_USE_V1" not in dict(svc.env)
        if svc.engine.build:  # llama-server, built from source
            assert svc.argv[0] == f"{svc.engine.link}/bin/llama-server" and svc.argv[1] == "-m"
        else:
            assert svc.argv[1:3] == ("-m", svc.argv[2]) and svc.argv[0] == f"{svc.engine.link}/bin/python"
        text = " ".join(svc.reasons)
        for decision in ("engine", "max_model_len" if svc.engine.engine != "llamacpp" else "-np"):
            assert decision in text
        assert len(svc.reasons) >= 4


def test_quantization_pins_that_cannot_work_are_refused():
    a100 = _hw(gpus=[{"name": "NVIDIA A100-SXM4-80GB", "memory_mib": 81920}])
    v100 = _hw(gpus=[{"name": "Tesla V100-PCIE-16GB", "memory_mib": 16384}])
    cases = [
        (
            a100,
            {"model": "Qwen/Qwen2.5-7B-Instruct", "quantization": "gptq"},
            "quantization: gptq needs a GPTQ checkpoint",
        ),
        (a100, {"model": "Qwen/Qwen2-7B-Instruct-GPTQ-Int8", "quantization": "awq"}, "is a gptq checkpoint, not awq"),
        (
            v100,
            {"model": "Qwen/Qwen2.5-7B-Instruct", "quantization": "fp8"},
            "fp8 kernels need compute capability >= 7.5",
        ),
    ]
    for facts, service, message in cases:
        with pytest.raises(PlanError, match=message):
            plan_host(facts, load({"llmhost_services": [{"name": "q", **service}]}))
    # fp8 on an A100: 7.62e9 params x 1 B = 7.10 GiB
    (svc,) = plan_host(
        a100, load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-7B-Instruct", "quantization": "fp8"}]})
    ).services
    assert svc.quantization == "fp8" and any("7.10 GiB (fp8" in r for r in svc.reasons)
