"""Seed 001: Ubuntu 24.04, 16 cores, no GPU: Qwen2.5-1.5B-Instruct on the CPU build of vLLM."""

llmhost_services = [
    {"name": "qwen", "model": "Qwen/Qwen2.5-1.5B-Instruct", "served_model_name": "Qwen2.5-1.5B-Instruct"},
]
llmhost_hf_endpoint = "https://hf-mirror.com"
llmhost_pip_index_url = "https://pypi.tuna.tsinghua.edu.cn/simple"
