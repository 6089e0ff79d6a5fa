"""vLLM on the host's GPUs: the release for their compute capability, dtype, quantization (the
checkpoint's, as pinned, or bitsandbytes 4-bit where 16-bit does not fit), tensor parallel size,
gpu_memory_utilization and the context the KV cache holds, first fit in order of preference, on
what the services planned before it left (llmhost.plan.packing.Ledger)."""

from __future__ import annotations

import math

from llmhost.gpus import BF16_MIN_CC
from llmhost.modelinfo import ModelInfo
from llmhost.plan.inputs import HostFacts
from llmhost.plan.packing import GPU_USABLE_FRACTION, GPU_UTIL_MAX, Ledger
from llmhost.plan.releases import VllmChoice
from llmhost.plan.route import unsupported
from llmhost.plan.sizing import DTYPE_BYTES, Sizing, kv_words
from llmhost.plan.types import GiB, PlanError, gib
from llmhost.settings import ServiceWish

# Per GPU, vLLM needs room beside weights and KV for the CUDA context, NCCL buffers, CUDA graphs
# and the activation peak of its profile run; 1 GiB is the planning allowance (vLLM measures the
# real value at start-up and takes KV from what is left).
GPU_RUNTIME_BYTES = 1 * GiB
GPU_UTIL_DEFAULT = 0.90  # vLLM's own default is 0.90-0.92 depending on version
# The lowest compute capability of each quantization's kernels: get_min_capability of its config
# class in vLLM 0.14.1 and 0.33.0 (awq.py / auto_awq.py 75, fp8.py 75, gptq.py / auto_gptq.py 60,
# compressed_tensors.py 70), read from the wheels on PyPI.
QUANT_MIN_CC = {"awq": 7.5, "fp8": 7.5, "gptq": 6.0, "compressed-tensors": 7.0}
# The shortest context llmhost plans: below it a chat model is not worth serving.
MIN_CONTEXT = 2048
# bitsandbytes NF4 with double quantization: 4 bits + ~0.127 bits of block statistics per weight;
# vLLM keeps the embedding and the output head in 16 bit.
BNB4_BYTES_PER_PARAM = 4.127 / 8


def _round_len(tokens: int) -> int:
    """Context lengths are planned in multiples of 256 tokens."""
    return tokens // 256 * 256


def _tp_choices(gpus: int, info: ModelInfo) -> list[int]:
    """Tensor-parallel sizes vLLM accepts: TP divides the attention heads, and the KV heads
    divide evenly (or are replicated when TP exceeds them); TP <= the number of GPUs."""
    sizes = []
    for tp in (1, 2, 4, 8, 16):
        if tp > gpus or info.num_attention_heads % tp:
            continue
        if info.num_kv_heads % tp and tp % info.num_kv_heads:
            continue
        sizes.append(tp)
    return sizes


def _gpu_weights(info: ModelInfo, dtype_bytes: int, quantization: str | None) -> tuple[int, str]:
    if info.quantization:
        return info.weight_bytes, f"{info.quantization} {info.bits}-bit checkpoint as stored"
    params = info.params or int(info.weight_bytes / info.stored_dtype_bytes)
    if quantization == "fp8":
        return params, f"fp8: {params / 1e9:.2f} B params x 1 B"
    if quantization == "bitsandbytes":
        embed = info.vocab_size * info.hidden_size  # embedding (and the untied output head) stay 16-bit
        sixteen_bit = embed * 2  # conservative: count an output head as well
        return int((params - sixteen_bit) * BNB4_BYTES_PER_PARAM + sixteen_bit * 2), (
            f"bitsandbytes 4-bit: {(params - sixteen_bit) / 1e9:.2f} B linear weights x {BNB4_BYTES_PER_PARAM:.3f} B "
            f"+ {sixteen_bit / 1e9:.2f} B embedding/head params x 2 B"
        )
    return params * dtype_bytes, f"{params / 1e9:.2f} B params x {dtype_bytes} B"


def size_vllm_gpu(
    key: str, wish: ServiceWish, facts: HostFacts, cc: float, ledger: Ledger, pins: tuple, choice: VllmChoice
) -> Sizing:
    info = wish.model.info
    if info is None:
        raise PlanError(
            f"{key}.model: llmhost has no numbers for {wish.model.spec}: its hub metadata was not read (llmhost "
            "reads Hugging Face's; for a modelscope: id name its hf: id, or give a directory with its config.json)"
        )
    release = choice.release
    if choice.refusal:
        raise PlanError(f"{key}.engine: {choice.refusal}")
    if release is None:
        raise PlanError(f"{key}.engine: vLLM needs compute capability >= 7.0; {facts.gpus[0].name} has {cc}")
    why = unsupported(info, release, pins)
    newer = choice.upgrade_brings
    if why and newer and not unsupported(info, newer, pins):
        why += (
            f"; vllm {release.version} is the newest that runs on the kept driver {facts.gpu_driver}: "
            f'llmhost_driver = "upgrade" brings vllm {newer.version}'
        )
    if why:
        raise PlanError(f"{key}.engine: {why}")
    reasons = [
        f"engine vllm=={release.version} ({release.variant}): the GPUs have compute capability {cc}"
        + (" (Volta: vLLM's docs list cc >= 7.0 up to the 0.14 line, cc >= 7.5 later)" if cc < 7.5 else ""),
        *choice.reasons,
    ]

    # dtype: bf16 only on cc >= 8.0 (the seed's MX450 crashed with bf16); quantized kernels want fp16.
    if wish.dtype != "auto":
        if wish.dtype == "bfloat16" and cc < BF16_MIN_CC:
            raise PlanError(
                f"{key}.dtype: bfloat16 needs compute capability >= 8.0; these GPUs have {cc} (use float16)"
            )
        dtype = wish.dtype
        reasons.append(f"dtype={dtype}: pinned by the service")
    elif info.quantization in ("gptq", "awq") or wish.quantization in ("gptq", "awq"):
        dtype = "float16"
        reasons.append("dtype=float16: GPTQ/AWQ kernels compute in fp16")
    elif cc >= BF16_MIN_CC:
        dtype = "bfloat16"
        reasons.append(f"dtype=bfloat16: compute capability {cc} >= 8.0 supports bf16")
    else:
        dtype = "float16"
        reasons.append(f"dtype=float16: bf16 needs compute capability >= 8.0 and these GPUs have {cc}")
    dtype_bytes = DTYPE_BYTES[dtype]

    n = len(facts.gpus)
    per_gpu = int(min(g.memory_mib for g in facts.gpus) * 2**20 * GPU_USABLE_FRACTION)
    kv_per_token = info.kv_bytes_per_token(2)
    model_max = info.max_position_embeddings
    if wish.max_model_len is not None and wish.max_model_len > model_max:
        raise PlanError(f"{key}.max_model_len: {wish.max_model_len} exceeds the model's maximum of {model_max} tokens")
    need_len = wish.max_model_len or MIN_CONTEXT

    # Quantization candidates: the checkpoint's own, else as pinned, else none then bnb 4-bit.
    if wish.quantization and info.quantization and wish.quantization != info.quantization:
        raise PlanError(
            f"{key}.quantization: {wish.model.ref} is a {info.quantization} checkpoint, not {wish.quantization}"
        )
    if wish.quantization in ("gptq", "awq") and not info.quantization:
        raise PlanError(
            f"{key}.quantization: {wish.quantization} needs a {wish.quantization.upper()} checkpoint and "
            f"{wish.model.ref} is not one (vLLM quantizes on the fly only to bitsandbytes or fp8)"
        )
    for quant, what in ((info.quantization, "model"), (wish.quantization, "quantization")):
        if quant in QUANT_MIN_CC and cc < QUANT_MIN_CC[quant]:
            raise PlanError(
                f"{key}.{what}: "
                + (f"{wish.model.ref} is a {quant} checkpoint; " if what == "model" else "")
                + f"vLLM's {quant} kernels need compute capability >= {QUANT_MIN_CC[quant]} (its "
                f"get_min_capability); these GPUs have {cc}"
                + ("" if quant == "gptq" else " (a GPTQ checkpoint runs from 6.0, or take the unquantized one)")
            )
    if info.quantization:
        quants = [info.quantization]
    elif wish.quantization:
        quants = [wish.quantization]
    else:
        quants = [None, "bitsandbytes"]
    tps = [wish.tensor_parallel_size] if wish.tensor_parallel_size else sorted(_tp_choices(n, info), reverse=True)
    if wish.tensor_parallel_size and wish.tensor_parallel_size not in _tp_choices(n, info):
        raise PlanError(
            f"{key}.tensor_parallel_size: {wish.tensor_parallel_size} is not possible with {n} GPU(s), "
            f"{info.num_attention_heads} attention heads and {info.num_kv_heads} KV heads (possible: {_tp_choices(n, info)})"
        )
    utils = [wish.gpu_memory_utilization] if wish.gpu_memory_utilization else [GPU_UTIL_DEFAULT, GPU_UTIL_MAX]
    order = ledger.order()  # TP ranks go to the GPUs other services left the most of

    total = min(g.memory_mib for g in facts.gpus) * 2**20

    def capped(tp: int) -> list[float]:
        """The utilizations to try on ``order[:tp]``: at most what other services leave there (vLLM
        takes utilization x the GPU's whole memory, and checks at start that so much is free)."""
        cap = math.floor(min(ledger.free(g) for g in order[:tp]) / total * 100) / 100
        return list(dict.fromkeys(min(u, cap) for u in utils if min(u, cap) >= 0.05))

    # First fit in order of preference: no quantization before 4-bit, the most GPUs, the default
    # utilization before the raised one.
    best_miss = None
    for quant, tp, util in ((q, t, u) for q in quants for t in tps for u in capped(t)):
        weights, weights_why = _gpu_weights(info, dtype_bytes, quant)
        shards = info.kv_shards(tp)  # KV heads split across TP ranks (or replicated; an MLA latent is whole)
        kv_gpu = kv_per_token // shards
        budget = int(per_gpu * util) - weights // tp - GPU_RUNTIME_BYTES
        holds = info.kv_tokens(budget, 2, shards)
        if holds >= need_len:
            break
        miss = info.kv_bytes(need_len, 2) // shards - budget
        if best_miss is None or miss < best_miss[0]:
            best_miss = (miss, quant, tp, util, weights)
    else:
        others = ledger.taken(order)
        if best_miss is None:
            raise PlanError(
                f"{key}.model: {wish.model.ref} has no room on the GPUs left by the other services ({others})"
            )
        miss, quant, tp, util, weights = best_miss
        raise PlanError(
            f"{key}.model: {wish.model.ref} does not fit {n} x {facts.gpus[0].name} ({gib(per_gpu)} usable each): "
            f"at best (quantization {quant or 'none'}, TP {tp}, utilization {util}) {gib(weights // tp)} of weights "
            f"+ {gib(GPU_RUNTIME_BYTES)} runtime + {need_len} tokens of KV cache per GPU is {gib(miss)} short"
            + (f" (other services hold {others})" if others else "")
        )
    devices = order[:tp]
    others = ledger.taken(devices)
    ledger.claim(devices, f"{wish.name} (vLLM)", int(total * util))

    if quant and not info.quantization and not wish.quantization:
        reasons.append(f"quantization=bitsandbytes: unquantized {dtype} weights do not fit; 4-bit does ({weights_why})")
    elif quant:
        reasons.append(
            f"quantization={quant}: " + ("the checkpoint's own" if info.quantization else "pinned by the service")
        )
    reasons.append(f"weights {gib(weights)} ({weights_why}), {gib(weights // tp)} per GPU at TP {tp}")
    reasons.append(
        f"tensor_parallel_size={tp}: "
        + (
            "pinned by the service"
            if wish.tensor_parallel_size
            else f"the largest of {_tp_choices(n, info)} that divides {info.num_attention_heads} heads / {info.num_kv_heads} KV heads "
            f"on {n} GPU(s): more GPUs share weights and KV"
        )
    )
    reasons.append(
        f"gpu_memory_utilization={util}: "
        + (
            f"what the other services leave on GPU {','.join(map(str, devices))} ({others})"
            if others and util not in utils
            else "pinned by the service"
            if wish.gpu_memory_utilization
            else "the default"
            if util == GPU_UTIL_DEFAULT
            else f"raised from {GPU_UTIL_DEFAULT}: at {GPU_UTIL_DEFAULT} the KV cache would not hold {need_len} tokens"
        )
    )
    if wish.max_model_len is not None:
        max_model_len = wish.max_model_len
        reasons.append(f"max_model_len={max_model_len}: pinned by the service; the KV cache holds {holds} tokens")
    else:
        max_model_len = min(model_max, _round_len(holds))
        reasons.append(
            f"max_model_len={max_model_len}: KV is {kv_per_token} B/token ({kv_gpu} per GPU"
            + (f"; {kv_words(info, 2)}" if info.kv_latent or info.sliding_layers else "")
            + f"); {gib(budget)} per GPU "
            f"after {gib(weights // tp)} weights and {gib(GPU_RUNTIME_BYTES)} runtime holds {holds} tokens; "
            f"the model's maximum is {model_max}"
        )
    if wish.max_num_seqs is not None:
        max_num_seqs = wish.max_num_seqs
        reasons.append(f"max_num_seqs={max_num_seqs}: pinned by the service")
    else:
        max_num_seqs = max(1, min(256, holds // max_model_len * 4))
        reasons.append(
            f"max_num_seqs={max_num_seqs}: the KV cache holds {holds // max_model_len} full-length sequences; "
            "typical requests are a quarter of that (capped at 256)"
        )
    args = [
        "--dtype",
        dtype,
        "--max-model-len",
        str(max_model_len),
        "--max-num-seqs",
        str(max_num_seqs),
        "--tensor-parallel-size",
        str(tp),
        "--gpu-memory-utilization",
        f"{util:.2f}",
    ]
    if quant:
        args += ["--quantization", quant]
    if info.trust_remote_code:
        args.append("--trust-remote-code")
        reasons.append(f"--trust-remote-code: {info.architecture} ships its modelling code in the repository")
    if cc < 7.5:
        args.append("--enforce-eager")
        reasons.append(
            "--enforce-eager: CUDA graphs on Volta with the 0.14 line are the production-stack tutorial's trouble spot"
        )
    env = {"CUDA_VISIBLE_DEVICES": ",".join(str(i) for i in devices)}
    if others:
        reasons.append(
            f"CUDA_VISIBLE_DEVICES={env['CUDA_VISIBLE_DEVICES']}: the GPU(s) with the most memory left ({others})"
        )
    if facts.wsl:
        env["LD_LIBRARY_PATH"] = "/usr/lib/wsl/lib"
        reasons.append("LD_LIBRARY_PATH=/usr/lib/wsl/lib: WSL's libcuda comes from the Windows driver")
    return Sizing(release, dtype, quant, tp, util, max_model_len, max_num_seqs, env, tuple(args), None, tuple(reasons))
