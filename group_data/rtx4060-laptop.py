"""Seed 003: Ubuntu 24.04, RTX 4060 Laptop 8 GB (cc 8.9): Qwen1.5-7B-Chat in 4-bit (bitsandbytes)."""

llmhost_services = [
    {"name": "qwen", "model": "Qwen/Qwen1.5-7B-Chat", "quantization": "bitsandbytes"},
]
llmhost_hf_endpoint = "https://hf-mirror.com"
# The seed keeps CUDA 12.9 and 12.6 side by side and switches /usr/local/cuda between them
# (deploys/cuda.py --data llmhost_cuda_default=12.6).
llmhost_cuda_toolkits = ["12.9", "12.6"]
llmhost_cuda_default = "12.9"
