"""Metadata-only copies of the hub repositories users serve today, for the test hub (tests/hub.py).

Each repository under tests/fixtures/hub/<org>--<name>/ holds its real config.json (where each came
from: tests/fixtures/hub/SOURCES.md). What the hub would also list is made here from that config:
safetensors shards whose headers name every tensor of the checkpoint's layout, with its dtype and
shape (the objects hold the headers alone; the LFS pointers declare each shard's full size, as the
hub's listing does), and model.safetensors.index.json with its total_size. A GGUF repository
gets its file (a GGUF magic only, the pointer declaring the real size) and its README card naming
the base model. huggingface_hub then reads them through the hub's own protocol: the tree with sizes,
config.json, and the headers by range request. No weights exist anywhere.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from tests.hub import Hub

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "hub"
SHARD_BYTES = 5 * 10**9  # the hub's writers shard at ~5 GB
DTYPE = {"bfloat16": "BF16", "float16": "F16", "float32": "F32"}
BYTES = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4, "F8_E4M3": 1}
# (repository, file) of the GGUF repositories: the size of the real file (SOURCES.md)
GGUF_FILES = {"bartowski/Qwen2.5-7B-Instruct-GGUF": {"Qwen2.5-7B-Instruct-Q4_K_M.gguf": 4_683_074_240}}


def repos() -> list[str]:
    """Every repository of the fixtures, as org/name."""
    return sorted(p.name.replace("--", "/", 1) for p in FIXTURES.iterdir() if p.is_dir())


def _text(config: dict) -> dict:
    from llmhost.modelconfig import with_defaults

    full = with_defaults(config)
    return full.get("text_config") if isinstance(full.get("text_config"), dict) else full


def tensors(config: dict) -> dict[str, tuple[str, list[int]]]:
    """name -> (dtype, shape) of every tensor of the checkpoint ``config`` describes, in the Llama
    layout transformers writes (MoE experts one by one; DeepSeek's MLA projections; a multimodal
    model's vision tower as its layers' linear weights); quantized: AWQ's packed int32 weights,
    zeros and fp16 scales, or fp8 weights with fp32 block scales."""
    c = _text(config)
    dtype = DTYPE[str(config.get("torch_dtype") or c.get("torch_dtype") or "bfloat16")]
    quant = config.get("quantization_config") or {}
    hidden, layers, heads = c["hidden_size"], c["num_hidden_layers"], c["num_attention_heads"]
    kv = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or hidden // heads
    vocab = c["vocab_size"]
    out: dict[str, tuple[str, list[int]]] = {}

    def linear(name: str, rows: int, cols: int) -> None:
        if quant.get("quant_method") == "awq":
            group = quant["group_size"]
            out[f"{name}.qweight"] = ("I32", [cols, rows // 8])
            out[f"{name}.qzeros"] = ("I32", [cols // group, rows // 8])
            out[f"{name}.scales"] = ("F16", [cols // group, rows])
        elif quant.get("quant_method") == "fp8":
            block = quant["weight_block_size"]
            out[f"{name}.weight"] = ("F8_E4M3", [rows, cols])
            out[f"{name}.weight_scale_inv"] = ("F32", [math.ceil(rows / block[0]), math.ceil(cols / block[1])])
        else:
            out[f"{name}.weight"] = (dtype, [rows, cols])

    def mlp(prefix: str, inter: int) -> None:
        linear(f"{prefix}.gate_proj", inter, hidden)
        linear(f"{prefix}.up_proj", inter, hidden)
        linear(f"{prefix}.down_proj", hidden, inter)

    experts = c.get("num_experts") or c.get("num_local_experts") or c.get("n_routed_experts") or 0
    moe_inter = c.get("moe_intermediate_size") or c.get("intermediate_size")
    out["model.embed_tokens.weight"] = (dtype, [vocab, hidden])
    for i in range(layers):
        p = f"model.layers.{i}"
        out[f"{p}.input_layernorm.weight"] = (dtype, [hidden])
        out[f"{p}.post_attention_layernorm.weight"] = (dtype, [hidden])
        if c.get("kv_lora_rank"):
            nope, rope, v_dim, rank = c["qk_nope_head_dim"], c["qk_rope_head_dim"], c["v_head_dim"], c["kv_lora_rank"]
            linear(f"{p}.self_attn.q_proj", heads * (nope + rope), hidden)
            linear(f"{p}.self_attn.kv_a_proj_with_mqa", rank + rope, hidden)
            out[f"{p}.self_attn.kv_a_layernorm.weight"] = (dtype, [rank])
            linear(f"{p}.self_attn.kv_b_proj", heads * (nope + v_dim), rank)
            linear(f"{p}.self_attn.o_proj", hidden, heads * v_dim)
        else:
            linear(f"{p}.self_attn.q_proj", heads * head_dim, hidden)
            linear(f"{p}.self_attn.k_proj", kv * head_dim, hidden)
            linear(f"{p}.self_attn.v_proj", kv * head_dim, hidden)
            linear(f"{p}.self_attn.o_proj", hidden, heads * head_dim)
        dense = experts <= 1 or i < (c.get("first_k_dense_replace") or 0) or i in (c.get("mlp_only_layers") or ())
        if dense:
            mlp(f"{p}.mlp", c["intermediate_size"])
            continue
        out[f"{p}.mlp.gate.weight"] = (dtype, [experts, hidden])
        for e in range(experts):
            mlp(f"{p}.mlp.experts.{e}", moe_inter)
        if c.get("n_shared_experts"):
            mlp(f"{p}.mlp.shared_experts", moe_inter * c["n_shared_experts"])
    out["model.norm.weight"] = (dtype, [hidden])
    if not c.get("tie_word_embeddings", config.get("tie_word_embeddings", False)):
        out["lm_head.weight"] = (dtype, [vocab, hidden])
    vision = config.get("vision_config")
    if isinstance(vision, dict):
        width, inter = vision["hidden_size"], vision["intermediate_size"]
        for i in range(vision["num_hidden_layers"]):
            p = f"vision_tower.vision_model.encoder.layers.{i}"
            for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
                out[f"{p}.self_attn.{proj}.weight"] = (dtype, [width, width])
            out[f"{p}.mlp.fc1.weight"] = (dtype, [inter, width])
            out[f"{p}.mlp.fc2.weight"] = (dtype, [width, inter])
    return out


def _nbytes(dtype: str, shape: list[int]) -> int:
    return math.prod(shape) * BYTES[dtype]


def shards(config: dict) -> tuple[dict[str, bytes], dict[str, int]]:
    """(path -> bytes, path -> declared size) of the safetensors shards (headers only) and the
    index of a checkpoint, sharded at SHARD_BYTES like the hub's writers."""
    groups: list[dict[str, tuple[str, list[int]]]] = [{}]
    size = 0
    for name, spec in tensors(config).items():
        n = _nbytes(*spec)
        if size and size + n > SHARD_BYTES:
            groups.append({})
            size = 0
        groups[-1][name] = spec
        size += n
    files, declared, weight_map, total = {}, {}, {}, 0
    for index, group in enumerate(groups, 1):
        path = "model.safetensors" if len(groups) == 1 else f"model-{index:05d}-of-{len(groups):05d}.safetensors"
        header, offset = {}, 0
        for name, (dtype, shape) in group.items():
            n = _nbytes(dtype, shape)
            header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + n]}
            offset += n
            weight_map[name] = path
        raw = json.dumps(header, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)  # the format pads the header to 8 bytes
        files[path] = struct.pack("<Q", len(raw)) + raw
        declared[path] = len(files[path]) + offset
        total += offset
    if len(groups) > 1:
        index = {"metadata": {"total_size": total}, "weight_map": weight_map}
        files["model.safetensors.index.json"] = json.dumps(index, indent=2, sort_keys=True).encode()
    return files, declared


def publish_all(hub: Hub) -> dict[str, str]:
    """Publish every fixture repository on ``hub``; org/name -> its commit."""
    commits = {}
    for repo in repos():
        org, name = repo.split("/")
        directory = FIXTURES / f"{org}--{name}"
        files = {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}
        declared: dict[str, int] = {}
        if repo in GGUF_FILES:
            for file, size in GGUF_FILES[repo].items():
                files[file] = b"GGUF"  # the magic only: the pointer declares the real size
                declared[file] = size
        else:
            weights, declared = shards(json.loads(files["config.json"]))
            files.update(weights)
        commits[repo] = hub.publish(name, files, org=org, declared=declared)
    return commits
