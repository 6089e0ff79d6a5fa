"""Sizing: for one service and the host as it sees it, the engine's numbers (dtype, quantization,
parallelism, memory, context length, concurrency) and flags, each with its reason. One module per
engine; vLLM on GPUs and llama.cpp take GPU memory from the host's ledger (llmhost.plan.packing)."""

DTYPE_BYTES = {"bfloat16": 2, "float16": 2, "float32": 4}
