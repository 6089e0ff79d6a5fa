"""Seed 002: Ubuntu 22.04, 8x A800 80 GB, Python 3.10: Qwen2-72B-Instruct, TP 8, utilization 0.7
(the seed kept 30% of each GPU free for other work)."""

llmhost_services = [
    {"name": "qwen72", "model": "Qwen/Qwen2-72B-Instruct", "served_model_name": "Qwen2-72B-Instruct",
     "gpu_memory_utilization": 0.7, "host": "0.0.0.0"},
]
llmhost_python = "python3.10"
llmhost_hf_endpoint = "https://hf-mirror.com"
llmhost_pip_index_url = "https://pypi.tuna.tsinghua.edu.cn/simple"
