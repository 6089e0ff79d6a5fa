"""Seed 002: Ubuntu 22.04, 8x A800 80 GB, driver 535, Python 3.10: Qwen2-72B-Instruct, TP 8,
utilization 0.7 (the seed kept 30% of each GPU free for other work). Its working driver is kept, so
the plan takes vLLM 0.14.1 (CUDA 12.8, Python 3.10 is in its range); with llmhost_driver = "upgrade"
it would take vLLM 0.33.0 (driver 580), which needs Python >= 3.11: the planner then gives its env
Python 3.12 from conda-forge. apt and pip come from the TUNA mirror, Hugging Face from hf-mirror.com
(the host is in China)."""

llmhost_services = [
    {
        "name": "qwen72",
        "model": "Qwen/Qwen2-72B-Instruct",
        "served_model_name": "Qwen2-72B-Instruct",
        "gpu_memory_utilization": 0.7,
        "host": "0.0.0.0",
    },
]
# apt and pip (and conda-forge and Miniforge's installer, where an engine gets a conda env) from
# TUNA, Hugging Face from hf-mirror.com
llmhost_mirror = "tuna"
