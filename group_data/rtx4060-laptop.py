"""Seed 003: Ubuntu 24.04, RTX 4060 Laptop 8 GB (cc 8.9): Qwen1.5-7B-Chat in 4-bit (bitsandbytes).

The desktop holds 189 MiB of the GPU (the planner keeps that and 256 MiB more for it); beside it,
4-bit Qwen1.5-7B (full multi-head attention: 0.5 MiB of KV cache per token) has room for about
1,300 tokens at utilization 0.90, so the service asks for 1024 (the seed's chats were short).
"""

llmhost_services = [
    {"name": "qwen", "model": "Qwen/Qwen1.5-7B-Chat", "quantization": "bitsandbytes", "max_model_len": 1024},
]
llmhost_hf_endpoint = "https://hf-mirror.com"
# The seed keeps CUDA 12.9 and 12.6 side by side and switches /usr/local/cuda between them
# (deploys/cuda.py --data llmhost_cuda_default=12.6).
llmhost_cuda_toolkits = ["12.9", "12.6"]
llmhost_cuda_default = "12.9"
