"""Sizing: for one service and the host as it sees it, the engine's numbers (dtype, quantization,
parallelism, memory, context length, concurrency) and flags, each with its reason. One module per
engine; vLLM on GPUs and llama.cpp take GPU memory from the host's ledger (llmhost.plan.packing)."""

from __future__ import annotations

from dataclasses import dataclass

from llmhost.engines import EngineRelease

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}


def vllm_cache_root(root: str) -> str:
    """vLLM's cache on the host (VLLM_CACHE_ROOT: compiled graphs, model info), kept across restarts."""
    return f"{root}/cache/vllm"


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
