"""llama.cpp's llama-server with a GGUF: the file (the model's own, one made on the host, or the
smallest quant llmhost knows), the context and parallel slots, and on a GPU how many layers fit
beside the KV cache (-ngl); on the CPU, its share of the cores."""

from __future__ import annotations

from llmhost.catalog import GGUF, GgufFile
from llmhost.engines import GGUF_TYPES, LLAMACPP
from llmhost.modelinfo import ModelInfo
from llmhost.plan.inputs import HostFacts
from llmhost.plan.packing import Ledger, cpu_ids
from llmhost.plan.sizing import Sizing
from llmhost.plan.types import GiB, PlanError, gib
from llmhost.settings import ServiceWish

# llama.cpp's CUDA context and compute buffers (docs/project/engine-notes.md, measured at -c 4096).
LLAMACPP_RUNTIME_BYTES = int(0.35 * GiB)
LLAMACPP_SLOTS = 4  # llama-server parallel slots unless max_num_seqs says otherwise


def made_gguf_bytes(info: ModelInfo, quant: str) -> tuple[int, int]:
    """(weights, bytes) of a GGUF of ``quant`` made on the host from the checkpoint ``info`` describes:
    its weights (the published count, else the stored bytes over their width) at the type's bits."""
    params = info.params or int(info.weight_bytes / info.stored_dtype_bytes)
    return params, int(params * GGUF_TYPES[quant] / 8)


def gguf_file(key: str, wish: ServiceWish, engine: str) -> tuple[str, int, str, str]:
    """(file, bytes, quantization, why) of the GGUF a service serves: the model directory's own,
    else the smallest quant llmhost knows for the hub model (it fits the most)."""
    info = wish.model.info
    if wish.gguf:
        if info is None or info.gguf_file:
            raise PlanError(
                f"{key}.gguf: "
                + (
                    f"{wish.model.ref} is a GGUF already"
                    if info
                    else f"llmhost has no numbers for {wish.model.ref} to size its GGUF (give a directory with its config.json)"
                )
            )
        params, size = made_gguf_bytes(info, wish.gguf)
        name = f"{wish.model.slug}-{wish.gguf}.gguf"
        return (
            name,
            size,
            wish.gguf,
            f"model file {name} ({wish.gguf}, ~{gib(size)}: {params / 1e9:.3f} B params x {GGUF_TYPES[wish.gguf]} "
            f"bits): made on the host from the checkpoint with llama.cpp's convert_hf_to_gguf.py"
            + (" and llama-quantize" if wish.gguf not in ("F16", "BF16") else "")
            + f" (gguf {wish.gguf})",
        )
    if info is not None and info.gguf_file:
        return (
            info.gguf_file,
            info.weight_bytes,
            info.gguf_type,
            f"model file {info.gguf_file} ({info.gguf_type}, {gib(info.weight_bytes)}): the model is a GGUF",
        )
    ggufs: tuple[GgufFile, ...] = GGUF.get(wish.model.ref, ())
    if info is None or not ggufs:
        raise PlanError(
            f"{key}.model: {engine} GGUF files and llmhost knows none for {wish.model.ref} "
            f"(known: {', '.join(sorted(GGUF))}; or give a directory holding one .gguf)"
        )
    gguf = min(ggufs, key=lambda g: g.size)
    return (
        gguf.filename,
        gguf.size,
        gguf.quant,
        f"model file {gguf.filename} ({gguf.quant}, {gib(gguf.size)}) from {gguf.repo}",
    )


# the /proc/cpuinfo flag of Intel AMX's int8 tiles (Sapphire Rapids and later): ggml's AMX path runs there
AMX_FLAG = "amx_int8"


def size_llamacpp(
    key: str, wish: ServiceWish, facts: HostFacts, share: int, why_not_vllm: str | None, ledger: Ledger
) -> Sizing:
    info = wish.model.info
    reasons = []
    if why_not_vllm:
        reasons.append(f"engine llamacpp: {why_not_vllm}")
    model_file, size, quant, why = gguf_file(key, wish, "llama.cpp serves")
    reasons.append(why)
    kv_per_token = info.kv_bytes_per_token(2)
    model_max = info.max_position_embeddings
    n_ctx = wish.max_model_len or min(model_max, 8192)
    if n_ctx > model_max:
        raise PlanError(f"{key}.max_model_len: {n_ctx} exceeds the model's maximum of {model_max} tokens")
    # parallel slots (-np): llama-server batches them continuously; each gets n_ctx tokens. On a GPU,
    # fewer slots before fewer layers: a layer left on the CPU costs every request.
    slots = [wish.max_num_seqs] if wish.max_num_seqs else [LLAMACPP_SLOTS, 2, 1]
    env = {}
    if facts.gpus:
        device = ledger.order()[0]  # one GPU: the one other services left the most of
        others = ledger.taken([device])
        gpu = ledger.room(device)
        per_layer = size / info.num_layers
        for parallel in slots:
            kv = info.kv_bytes(n_ctx, 2) * parallel
            room = gpu - LLAMACPP_RUNTIME_BYTES - kv
            layers = max(0, min(info.num_layers, int(room // per_layer)))
            if layers == info.num_layers:
                break
        args = ["-c", str(n_ctx * parallel), "-np", str(parallel)]
        args += ["-ngl", str(999 if layers == info.num_layers else layers)]
        reasons.append(
            f"-ngl {'all' if layers == info.num_layers else layers}: {gib(gpu)} of {facts.gpus[device].name} "
            f"(GPU {device}{', after ' + others if others else ''}) holds {gib(LLAMACPP_RUNTIME_BYTES)} runtime + "
            f"{gib(kv)} KV for {parallel} x {n_ctx} tokens + {layers}/{info.num_layers} layers of {gib(per_layer)}"
        )
        ledger.claim([device], f"{wish.name} (llama.cpp)", int(LLAMACPP_RUNTIME_BYTES + kv + layers * per_layer))
        env["CUDA_VISIBLE_DEVICES"] = str(device)
        if facts.wsl:
            env["LD_LIBRARY_PATH"] = "/usr/lib/wsl/lib"
    else:
        parallel = slots[0]
        kv = info.kv_bytes(n_ctx, 2) * parallel
        args = ["-c", str(n_ctx * parallel), "-np", str(parallel)]
        if size + kv + LLAMACPP_RUNTIME_BYTES > share:
            raise PlanError(
                f"{key}.model: {model_file} + KV needs {gib(size + kv + LLAMACPP_RUNTIME_BYTES)}; "
                f"this service's memory share is {gib(share)}"
            )
        args += ["-ngl", "0"]
    threads = max(1, facts.cores)
    ids = cpu_ids(facts.cpu_online)
    pinned = []
    if ids and ids == list(range(ids[0], ids[-1] + 1)):  # --cpu-range takes one lo-hi range
        pinned = ["--cpu-range", f"{ids[0]}-{ids[-1]}"]
    args += ["-t", str(threads), *pinned, "--metrics", "--no-webui", "--log-prefix"]
    if AMX_FLAG in facts.cpu_flags:
        args.append("--no-repack")
        reasons.append(
            "--no-repack: this CPU has AMX (amx_int8), and llama.cpp's AMX weight buffer crashes llama-server (seen "
            "here: SIGSEGV at its first graph with a Q8_0 GGUF on a virtualized Xeon with AMX; llama.cpp #20824, "
            "Ollama #17249); the weights stay in the plain CPU buffer (the AVX repacked layouts of Q4_0/IQ4_NL go too)"
        )
    reasons.append(
        f"-c {n_ctx * parallel} -np {parallel}: {parallel} parallel slots of {n_ctx} tokens"
        + (" (pinned)" if wish.max_num_seqs else "")
        + f"; KV {kv_per_token} B/token = {gib(kv)} "
        f"(the model allows {model_max})"
    )
    reasons.append(
        f"-t {threads}{' ' + ' '.join(pinned) if pinned else ''}: one thread per core of this service's "
        f"CPUs ({facts.cpu_online})"
    )
    reasons.append(
        "--metrics: Prometheus /metrics; --no-webui: an API server only; --log-prefix: error lines "
        "marked E (the verify layer names the first as the cause when the server dies)"
    )
    return Sizing(LLAMACPP, "float16", quant, 1, None, n_ctx, parallel, env, tuple(args), model_file, tuple(reasons))
