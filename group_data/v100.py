"""Seed 004: 2x V100 32 GB (cc 7.0): Qwen-72B-Chat-Int4 (GPTQ, Qwen v1) across both GPUs.

The seed also ran Qwen-14B, Qwen2-7B, llama.cpp with gemma-2-9b GGUF and Ollama on this box; serving
several engines on the same GPUs is planned together in a later llmhost version, so only the 72B
service is listed here (`llmhost plan --hardware tests/fixtures/hardware/v100.yaml --model ...`
plans the others one at a time).
"""

llmhost_services = [
    {"name": "qwen72-int4", "model": "Qwen/Qwen-72B-Chat-Int4", "tensor_parallel_size": 2},
]
llmhost_hf_endpoint = "https://hf-mirror.com"
