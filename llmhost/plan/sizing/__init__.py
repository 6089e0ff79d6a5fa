"""Sizing: for one service and the host as it sees it, the engine's numbers (dtype, quantization,
parallelism, memory, context length, concurrency) and flags, each with its reason. One module per
engine; vLLM on GPUs and llama.cpp take GPU memory from the host's ledger (llmhost.plan.packing)."""

from __future__ import annotations

from dataclasses import dataclass

from llmhost.engines import EngineRelease
from llmhost.modelinfo import ModelInfo
from llmhost.plan.types import gib

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


def vllm_cache_root(root: str) -> str:
    """vLLM's cache on the host (VLLM_CACHE_ROOT: compiled graphs, model info), kept across restarts."""
    return f"{root}/cache/vllm"


def kv_words(info: ModelInfo, dtype_bytes: int) -> str:
    """How the KV cache's bytes per token were worked out, for the plan's reasons."""
    if info.kv_latent or info.sliding_layers:
        return info.kv_kind + (
            f"; the sliding layers keep at most {gib(info.kv_window_bytes(dtype_bytes))} a sequence"
            if info.sliding_layers
            else ""
        )
    return f"2 x {info.num_layers} layers x {info.num_kv_heads} kv heads x {info.head_dim} x {dtype_bytes} B"


@dataclass(frozen=True)
class Sizing:
    """The engine-specific part of a service plan, before argv and env are written."""

    release: EngineRelease
    dtype: str
    quantization: str | None
    tp: int
    util: float | None
    max_model_len: int | None
    max_num_seqs: int
    env: dict
    args: tuple[str, ...]  # engine flags after the common ones
    model_file: str | None  # GGUF file inside the model directory
    reasons: tuple[str, ...]
