"""Seed 002: Ubuntu 22.04, 8x A800 80 GB, Python 3.10: Qwen2-72B-Instruct, TP 8, utilization 0.7
(the seed kept 30% of each GPU free for other work). vLLM 0.33.0 needs Python >= 3.11: the planner
gives its env Python 3.12 from conda-forge, through the TUNA mirror (the host is in China)."""

llmhost_services = [
    {
        "name": "qwen72",
        "model": "Qwen/Qwen2-72B-Instruct",
        "served_model_name": "Qwen2-72B-Instruct",
        "gpu_memory_utilization": 0.7,
        "host": "0.0.0.0",
    },
]
# apt, pip, conda-forge (and Miniforge's installer) from TUNA, Hugging Face from hf-mirror.com
llmhost_mirror = "tuna"
