"""Seed 000: Windows 10 + WSL2 Ubuntu 24.04 with a GeForce MX450 (2 GB, cc 7.5), in China.

The seed served Qwen2.5-1.5B-Instruct with vLLM and --dtype half (vLLM refused bf16 on cc 7.5:
"Bfloat16 is only supported on GPUs with compute capability of at least 8.0"), its fp16 weights
loaded to the edge of the 2 GB. llmhost plans within the card instead (`llmhost plan --hardware
tests/fixtures/hardware/wsl-laptop.yaml --model Qwen/Qwen2.5-1.5B-Instruct` says what vLLM lacks
and plans llama.cpp with the Q4_K_M GGUF): the service names that GGUF.
"""

llmhost_services = [
    {
        "name": "qwen",
        "model": "hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf",
        "served_model_name": "qwen2.5-1.5b-instruct",
    },
]
llmhost_hf_endpoint = "https://hf-mirror.com"
llmhost_pip_index_url = "https://pypi.tuna.tsinghua.edu.cn/simple"
# llama.cpp's CUDA backend is compiled on the host: the planner installs the newest toolkit the
# Windows driver runs (556.12: CUDA 12.5) from NVIDIA's wsl-ubuntu repository, which has no driver.
