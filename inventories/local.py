"""This machine, over pyinfra's @local connector: the embedded default of `make serve`.

The tiny demo model is made by `llmhost tiny-model build/models/tiny-qwen2` (the Makefile does it).
Wheels come from /opt/wheels (where pip finds torch==2.13.0+cpu on these machines) and PyPI; no
PyTorch index is reachable here, so none is configured.
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
            "llmhost_pip_find_links": ["/opt/wheels"],
            "llmhost_torch_index_url": None,
        },
    ),
]
