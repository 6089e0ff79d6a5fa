"""Known models: the config.json numbers of the seed models, with their sources.

A cache of hub metadata, not a gate: the planner sizes these ids from the numbers here with no
network (the seeds plan offline), and any other hub id from the hub's own metadata, read on the
controller before any change (llmhost.hubmeta). tests/unit/test_hubmeta.py holds these entries
against the metadata of the same repositories on the test hub. A model given as a directory is
read from its own config.json (llmhost.modelconfig.read_model_dir), the same way.

Sources: each repository's config.json and file listing on huggingface.co (numbers copied into
../shared/reference/models-and-gpus.md); GGUF sizes from the GGUF repositories' file listings.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from llmhost.modelinfo import ModelInfo

GB = 10**9


@dataclass(frozen=True)
class GgufFile:
    repo: str
    filename: str
    size: int
    quant: str  # Q4_K_M, Q5_K_M, ...


def _qwen2(hidden, layers, heads, kv, inter, vocab, params, size, max_pos=32768, dtype="bfloat16", **kw):
    kw.setdefault("tied_embeddings", False)  # config.json's tie_word_embeddings: true only up to Qwen2.5-3B
    return ModelInfo(
        architecture="Qwen2ForCausalLM",
        hidden_size=hidden,
        num_layers=layers,
        num_attention_heads=heads,
        num_kv_heads=kv,
        head_dim=hidden // heads,
        max_position_embeddings=max_pos,
        torch_dtype=dtype,
        weight_bytes=size,
        intermediate_size=inter,
        vocab_size=vocab,
        params=params,
        **kw,
    )


CATALOG: dict[str, ModelInfo] = {
    "Qwen/Qwen2.5-0.5B-Instruct": _qwen2(896, 24, 14, 2, 4864, 151936, 494_000_000, 988 * 10**6, tied_embeddings=True),
    "Qwen/Qwen2.5-1.5B-Instruct": _qwen2(
        1536, 28, 12, 2, 8960, 151936, 1_540_000_000, 3_090 * 10**6, tied_embeddings=True
    ),
    "Qwen/Qwen2.5-7B-Instruct": _qwen2(3584, 28, 28, 4, 18944, 152064, 7_620_000_000, 15_230 * 10**6),
    "Qwen/Qwen2-7B-Instruct": _qwen2(3584, 28, 28, 4, 18944, 152064, 7_620_000_000, 15_200 * 10**6),
    # GPTQ 8-bit checkpoint of Qwen2-7B-Instruct, stored with fp16 scales (8.87 GB of files).
    "Qwen/Qwen2-7B-Instruct-GPTQ-Int8": _qwen2(
        3584,
        28,
        28,
        4,
        18944,
        152064,
        7_620_000_000,
        8_870 * 10**6,
        dtype="float16",
        quantization="gptq",
        bits=8,
    ),
    "Qwen/Qwen2-72B-Instruct": _qwen2(8192, 80, 64, 8, 29568, 152064, 72_710_000_000, 145_400 * 10**6),
    # Qwen1.5 is full multi-head attention: 32 KV heads (524,288 KV bytes per token in fp16).
    "Qwen/Qwen1.5-7B-Chat": _qwen2(4096, 32, 32, 32, 11008, 151936, 7_720_000_000, 15_400 * 10**6),
    "Qwen/Qwen1.5-14B-Chat": _qwen2(5120, 40, 40, 40, 13696, 152064, 14_170_000_000, 28_300 * 10**6),
    # Qwen v1 (QWenLMHeadModel, trust_remote_code): kv_channels 128, MHA, seq_length 2048, 8192 max.
    "Qwen/Qwen-14B": ModelInfo(
        architecture="QWenLMHeadModel",
        hidden_size=5120,
        num_layers=40,
        num_attention_heads=40,
        num_kv_heads=40,
        head_dim=128,
        max_position_embeddings=8192,
        torch_dtype="bfloat16",
        weight_bytes=28_340 * 10**6,
        intermediate_size=27392,
        vocab_size=152064,
        trust_remote_code=True,
        params=14_170_000_000,
        tied_embeddings=False,
    ),
    # GPTQ 4-bit, fp16 scales. File size estimated from the parameter count (the repository listing
    # was not at hand): 70.9e9 quantized weights x 0.5 B x 1.03 (group-128 scales and zeros)
    # + 2 x 152064 x 8192 x 2 B of fp16 embedding and output head = 41.5 GB.
    "Qwen/Qwen-72B-Chat-Int4": ModelInfo(
        architecture="QWenLMHeadModel",
        hidden_size=8192,
        num_layers=80,
        num_attention_heads=64,
        num_kv_heads=64,
        head_dim=128,
        max_position_embeddings=32768,
        torch_dtype="float16",
        weight_bytes=41_500 * 10**6,
        intermediate_size=49152,
        vocab_size=152064,
        quantization="gptq",
        bits=4,
        trust_remote_code=True,
        params=72_300_000_000,
        tied_embeddings=False,
    ),
    "google/gemma-2-9b-it": ModelInfo(
        architecture="Gemma2ForCausalLM",
        hidden_size=3584,
        num_layers=42,
        num_attention_heads=16,
        num_kv_heads=8,
        head_dim=256,
        max_position_embeddings=8192,
        torch_dtype="bfloat16",
        weight_bytes=18_480 * 10**6,
        intermediate_size=14336,
        vocab_size=256000,
        params=9_240_000_000,
        tied_embeddings=True,
        sliding_window=4096,  # every other layer attends to the last 4096 tokens only
        sliding_layers=21,
    ),
}

# GGUF quantizations llama.cpp / Ollama can serve where vLLM cannot (small GPUs, CPU offload).
GGUF: dict[str, tuple[GgufFile, ...]] = {
    "Qwen/Qwen2.5-1.5B-Instruct": (
        GgufFile("Qwen/Qwen2.5-1.5B-Instruct-GGUF", "qwen2.5-1.5b-instruct-q4_k_m.gguf", 1_117_320_736, "Q4_K_M"),
    ),
    "google/gemma-2-9b-it": (
        GgufFile("bartowski/gemma-2-9b-it-GGUF", "gemma-2-9b-it-Q4_K_M.gguf", 5_761_057_728, "Q4_K_M"),
        GgufFile("bartowski/gemma-2-9b-it-GGUF", "gemma-2-9b-it-Q5_K_M.gguf", 6_647_366_592, "Q5_K_M"),
    ),
}


def lookup(repo: str) -> ModelInfo | None:
    return CATALOG.get(repo)


def gguf_lookup(repo: str, filename: str) -> ModelInfo | None:
    """A GGUF file of a hub repository llmhost knows: its base model's numbers, with the file's own
    size and quantization (None for any other file: the planner then has no numbers for it)."""
    for base, files in GGUF.items():
        for g in files:
            if (g.repo, g.filename) == (repo, filename) and base in CATALOG:
                return replace(
                    CATALOG[base],
                    gguf_file=g.filename,
                    gguf_type=g.quant,
                    weight_bytes=g.size,
                    quantization=None,
                    bits=None,
                )
    return None
