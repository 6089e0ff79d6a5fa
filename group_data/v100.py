"""Seed 004: 2x V100 32 GB (cc 7.0): Qwen-72B-Chat-Int4 (GPTQ, Qwen v1) across both GPUs.

The seed also ran Qwen-14B, Qwen2-7B, llama.cpp with gemma-2-9b GGUF and Ollama (30 parallel
requests, 6 loaded models) on this box. Several engines on the same GPUs are packed by the planner
(tests/unit/test_ollama.py: the 72B beside llama.cpp's gemma and an Ollama model fits at
gpu_memory_utilization 0.78; the seed's 30-parallel Ollama gemma beside them is refused with each
service's share). Only the 72B is listed here, so that the seed's plan stays the one the seed
describes; the gemma GGUF would be a hub model of its own (hf:<repo>/<file>.gguf, fetched alone and
checked like any hub model).
"""

llmhost_services = [
    {"name": "qwen72-int4", "model": "Qwen/Qwen-72B-Chat-Int4", "tensor_parallel_size": 2},
]
llmhost_hf_endpoint = "https://hf-mirror.com"
