"""Seed 000: Windows 10 + WSL2 Ubuntu 24.04 with a GeForce MX450 (2 GB, cc 7.5), in China.

The seed served Qwen2.5-1.5B-Instruct with vLLM and --dtype half (bf16 crashed on cc 7.5). Its fp16
weights (3.1 GB) do not fit 2 GB; the planner picks llama.cpp with the Q4_K_M GGUF instead.
"""

llmhost_services = [
    {"name": "qwen", "model": "Qwen/Qwen2.5-1.5B-Instruct", "served_model_name": "qwen2.5-1.5b-instruct"},
]
llmhost_hf_endpoint = "https://hf-mirror.com"
llmhost_pip_index_url = "https://pypi.tuna.tsinghua.edu.cn/simple"
# llama.cpp's CUDA backend is compiled on the host: a toolkit from the wsl-ubuntu repository (no
# driver in it). 12.4: the seed's Windows driver 556.12 runs CUDA up to 12.5.
llmhost_cuda_toolkits = ["12.4"]
