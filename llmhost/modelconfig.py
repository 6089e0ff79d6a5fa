"""A model's config.json as the planner reads it (no weights loaded): transformers' defaults for
what a config leaves to its class, Llama/Qwen-style and ChatGLM/Qwen v1 keys, MoE (Qwen-MoE,
Mixtral, DeepSeek), MLA, sliding windows, rope-scaled lengths, a multimodal model's language model,
parameter counts; and a model directory's numbers (config.json and weights, or one GGUF)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

from llmhost.modelinfo import ModelInfo, ModelInfoError, read_gguf


def _weight_bytes(directory: Path) -> int:
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))
    return sum(f.stat().st_size for f in files)


# vLLM's _get_and_verify_max_len reads the model's length from the first of these the config has
# (the smallest where several are), then applies rope scaling: the factor multiplies it except for
# su/longrope/llama3 (whose max_position_embeddings already is the scaled length); yarn multiplies
# original_max_position_embeddings.
_LENGTH_KEYS = (
    "max_position_embeddings",
    "n_positions",
    "max_seq_len",
    "seq_length",
    "model_max_length",
    "max_sequence_length",
    "max_seq_length",
    "seq_len",
)


def _max_length(config: dict) -> int:
    lengths = [int(config[k]) for k in _LENGTH_KEYS if isinstance(config.get(k), (int, float)) and config[k] > 0]
    length = min(lengths) if lengths else 2048
    rope = config.get("rope_scaling")
    if isinstance(rope, dict) and "gemma3" not in str(config.get("model_type")):  # Gemma 3's length is scaled
        kind = rope.get("rope_type", rope.get("type"))
        if kind not in ("su", "longrope", "llama3", "default", "mrope") and "mrope_section" not in rope:
            factor = rope.get("factor")
            if isinstance(factor, (int, float)) and factor > 1:
                if kind == "yarn" and isinstance(rope.get("original_max_position_embeddings"), int):
                    length = rope["original_max_position_embeddings"]
                length = int(length * factor)
    return length


def with_defaults(config: dict) -> dict:
    """``config`` as the engines read it: transformers' config class of its model_type fills what the
    file leaves to the class's defaults (Gemma 3's sparse text_config: heads, head_dim, vocabulary,
    the sliding/full layer pattern), the file's own keys kept. A model with its own code
    (auto_map) or a model_type transformers does not know: the file alone."""
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or config.get("auto_map") or not _sparse(config):
        return config
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no "PyTorch was not found" on the controller
    from transformers import CONFIG_MAPPING, AutoConfig

    if model_type not in CONFIG_MAPPING:
        return config
    try:
        full = AutoConfig.for_model(**config).to_dict()
    except (TypeError, ValueError, KeyError, AttributeError):  # a config its class refuses: the file alone
        return config
    merged = {**full, **config}
    for key, value in full.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            merged[key] = {**value, **config[key]}
    return merged


_CORE_KEYS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "vocab_size")


def _sparse(config: dict) -> bool:
    """Whether a config leaves to its class what the planner reads (importing transformers costs ~1 s
    of a run's CPU: only then): a multimodal config, a core shape key left out, or a sliding window
    whose layer pattern is the class's (Gemma)."""
    if any(isinstance(config.get(k), dict) for k in ("text_config", "llm_config", "language_config")):
        return True
    if any(config.get(k) is None for k in _CORE_KEYS + ("max_position_embeddings",)):
        return True
    return bool(config.get("sliding_window")) and "layer_types" not in config and "gemma" in config["model_type"]


def _text_config(config: dict) -> dict:
    """A multimodal config's language model (text_config, or llm_config), with the top's architectures."""
    for key in ("text_config", "llm_config", "language_config"):
        inner = config.get(key)
        if isinstance(inner, dict) and ("hidden_size" in inner or "num_hidden_layers" in inner):
            merged = {**inner, "architectures": config.get("architectures") or inner.get("architectures")}
            for k in ("torch_dtype", "dtype", "quantization_config", "tie_word_embeddings"):
                if k in config and k not in inner:
                    merged[k] = config[k]
            return merged
    return config


def _first(config: dict, *keys: str, default=None):
    for key in keys:
        if config.get(key) is not None:
            return config[key]
    return default


def _moe(config: dict) -> tuple[int, int, int, int, list[bool]]:
    """(routed experts, active per token, one expert's intermediate size, shared experts' total
    intermediate size, which layers are MoE) from the config keys of Qwen2/3-MoE, Mixtral and
    DeepSeek-V2/V3-style models (and GLM-4-MoE, which takes DeepSeek's)."""
    layers = int(_first(config, "num_hidden_layers", "num_layers", "n_layer", default=0))
    experts = int(_first(config, "num_experts", "num_local_experts", "n_routed_experts", default=0) or 0)
    if experts <= 1:
        return 0, 0, 0, 0, [False] * layers
    active = int(_first(config, "num_experts_per_tok", "num_experts_per_token", "moe_topk", default=2))
    inter = int(_first(config, "moe_intermediate_size", "intermediate_size", default=0))
    shared = int(config.get("shared_expert_intermediate_size") or 0) or int(config.get("n_shared_experts") or 0) * inter
    if "first_k_dense_replace" in config or "n_routed_experts" in config:  # DeepSeek
        first, freq = int(config.get("first_k_dense_replace") or 0), int(config.get("moe_layer_freq") or 1)
        sparse = [i >= first and i % freq == 0 for i in range(layers)]
    else:  # Qwen-MoE (decoder_sparse_step, mlp_only_layers); Mixtral: every layer
        step, dense = int(config.get("decoder_sparse_step") or 1), set(config.get("mlp_only_layers") or ())
        sparse = [i not in dense and (i + 1) % step == 0 for i in range(layers)]
    return experts, active, inter, shared, sparse


def _sliding(config: dict, layers: int) -> tuple[int | None, int]:
    """(window, how many layers slide) as vLLM reads them: layer_types where the config has it
    (Gemma 3, newer Qwen), else the config's interleave pattern; Qwen2's sliding_window counts only
    with use_sliding_window (off in Qwen's configs)."""
    window = config.get("sliding_window")
    if not isinstance(window, int) or window <= 0 or config.get("use_sliding_window") is False:
        return None, 0
    types = config.get("layer_types")
    if isinstance(types, list) and types:
        return window, sum(1 for t in types if t == "sliding_attention")
    pattern = config.get("sliding_window_pattern")
    if isinstance(pattern, int) and pattern > 1:  # Gemma 3: every pattern-th layer is global
        return window, layers - layers // pattern
    if str(config.get("model_type", "")).startswith("gemma2") or "Gemma2" in str(config.get("architectures")):
        return window, layers // 2  # Gemma 2: every other layer
    if window >= _max_length(config):
        return None, 0
    return window, layers  # Mistral 7B v0.1: every layer


def parse_config(config: dict, weight_bytes: int) -> ModelInfo:
    """The planner's numbers from a config.json: Llama/Qwen-style models, Qwen v1 and ChatGLM's own
    keys, MoE (Qwen-MoE, Mixtral, DeepSeek), MLA, sliding windows, rope scaling, and the language
    model of a multimodal config (text_config)."""
    top = config = with_defaults(config)
    config = _text_config(config)
    try:
        architecture = (top.get("architectures") or [config.get("model_type", "unknown")])[0]
        hidden = int(_first(config, "hidden_size", "n_embd", "d_model"))
        heads = int(_first(config, "num_attention_heads", "n_head", "num_heads"))
        layers = int(_first(config, "num_hidden_layers", "num_layers", "n_layer"))
        kv = _first(config, "num_key_value_heads", "multi_query_group_num", "n_head_kv")
        kv_heads = int(heads if kv is None or config.get("multi_query_attention") is False else kv)
        head_dim = int(config.get("head_dim") or config.get("kv_channels") or hidden // heads)
    except (KeyError, TypeError, ValueError) as e:
        raise ModelInfoError(f"config.json lacks a usable field ({e})")
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    if dtype == "auto" or config.get("fp16") is True:  # Qwen v1 configs say fp16/bf16 booleans
        dtype = "float16"
    elif config.get("bf16") is True:
        dtype = "bfloat16"
    quant = config.get("quantization_config") or top.get("quantization_config") or {}
    method = quant.get("quant_method")
    bits = quant.get("bits") or quant.get("w_bit") or {"fp8": 8}.get(method)
    if method == "compressed-tensors":
        groups = quant.get("config_groups") or {}
        weights = next((g.get("weights") for g in groups.values() if isinstance(g, dict) and g.get("weights")), {})
        bits = (weights or {}).get("num_bits")
    if method == "bitsandbytes":
        bits = 4 if quant.get("load_in_4bit") else 8 if quant.get("load_in_8bit") else None
    experts, active, _, _, _ = _moe(config)
    window, sliding = _sliding(config, layers)
    latent = 0
    if config.get("kv_lora_rank"):
        latent = int(config["kv_lora_rank"]) + int(config.get("qk_rope_head_dim") or 0)
    tie = config.get("tie_word_embeddings", top.get("tie_word_embeddings"))
    return ModelInfo(
        architecture,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        _max_length(config),
        dtype,
        weight_bytes,
        intermediate_size=int(_first(config, "intermediate_size", "ffn_hidden_size", "n_inner", default=0) or 0),
        vocab_size=int(_first(config, "vocab_size", "padded_vocab_size", default=0) or 0),
        quantization=method,
        bits=int(bits) if isinstance(bits, (int, float)) else None,
        trust_remote_code=bool(top.get("auto_map")),
        tied_embeddings=tie if isinstance(tie, bool) else None,
        experts=experts,
        experts_active=active if experts else 0,
        kv_latent=latent,
        sliding_window=window,
        sliding_layers=sliding,
    )


def _attention_params(config: dict, info: ModelInfo) -> int:
    hidden, heads = info.hidden_size, info.num_attention_heads
    if config.get("kv_lora_rank"):  # MLA: low-rank q (q_lora_rank) and a compressed KV latent
        nope, rope = int(config.get("qk_nope_head_dim") or 0), int(config.get("qk_rope_head_dim") or 0)
        v_dim, rank, q_rank = (
            int(config.get("v_head_dim") or nope),
            int(config["kv_lora_rank"]),
            config.get("q_lora_rank"),
        )
        q = hidden * int(q_rank) + int(q_rank) * heads * (nope + rope) if q_rank else hidden * heads * (nope + rope)
        return q + hidden * (rank + rope) + rank * heads * (nope + v_dim) + heads * v_dim * hidden
    return 2 * hidden * heads * info.head_dim + 2 * hidden * info.num_kv_heads * info.head_dim


def estimate_params(config: dict) -> tuple[int, int]:
    """(all, active) parameters of a decoder-only transformer from its config.json: embeddings (and an
    untied output head), each layer's attention (GQA or MLA) and gated MLP (3 x hidden x
    intermediate), or its experts (routed, shared, and the router) where the layer is MoE; a token
    reads only its experts_active routed experts. Norms and biases are left out (a fraction of a
    percent); a multimodal model's vision tower too (its language model is counted)."""
    info = parse_config(config, 0)
    config = _text_config(with_defaults(config))
    hidden, vocab = info.hidden_size, info.vocab_size
    attention = _attention_params(config, info)
    dense = 3 * hidden * info.intermediate_size
    experts, active, expert_inter, shared, sparse = _moe(config)
    per_expert = 3 * hidden * expert_inter
    tied = info.tied_embeddings if info.tied_embeddings is not None else False
    total = read = vocab * hidden * (1 if tied else 2)
    for moe in sparse or [False] * info.num_layers:
        if moe:
            routed = experts * per_expert + 3 * hidden * shared + hidden * experts
            total += attention + routed
            read += attention + routed - (experts - active) * per_expert
        else:
            total += attention + dense
            read += attention + dense
    return total, read


def with_params(info: ModelInfo, config: dict, counted: int | None = None) -> ModelInfo:
    """``info`` with its parameters: ``counted`` (the checkpoint's own count, from its safetensors
    headers) where given and unquantized, else estimated from the config; and a MoE model's active
    ones (the inactive experts' share taken off the total)."""
    total, read = estimate_params(config)
    params = counted or total
    active = None
    if info.experts:
        active = params - (total - read)
    return replace(info, params=params, active_params=active)


def read_model_dir(directory: str | Path, estimate: bool = False) -> ModelInfo:
    """A model directory's numbers; ``estimate``: a directory with a config.json and no weight files
    (enough for a plan, not for a deploy) gets them worked out from the config."""
    directory = Path(directory)
    config_path = directory / "config.json"
    ggufs = sorted(directory.glob("*.gguf"))
    if not config_path.is_file() and len(ggufs) == 1:
        return read_gguf(ggufs[0])
    if not config_path.is_file():
        raise ModelInfoError("has no config.json" + (f" and {len(ggufs)} GGUF files (one is served)" if ggufs else ""))
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelInfoError(f"config.json is not valid JSON ({e})")
    weights = _weight_bytes(directory)
    if weights == 0 and estimate:
        info = with_params(parse_config(config, 0), config)
        bits = info.bits
        size = int(info.params * bits / 8 * 1.03) if bits else info.params * info.stored_dtype_bytes  # + ~3% scales
        return replace(info, weight_bytes=size, estimated=True)
    if weights == 0:
        raise ModelInfoError("has no *.safetensors or *.bin weight files")
    info = parse_config(config, weights)
    return with_params(info, config, None if info.quantization else weights // info.stored_dtype_bytes)
