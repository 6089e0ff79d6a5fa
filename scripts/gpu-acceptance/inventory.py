"""The GPU machine itself, over @local: what `scripts/gpu-acceptance/run.sh` plans, builds and serves.

The tiny model's GGUF on the GPU through llama.cpp (the engine that builds where the machine has no
index to install vLLM from). Planned from the machine's live facts like any host.
"""

local = [
    (
        "@local",
        {
            "llmhost_services": [
                {
                    "name": "tiny-gguf",
                    "model": "./build/models/tiny-qwen2-gguf",
                    "port": 8001,
                    "served_model_name": "tiny-gguf",
                },
            ],
            "llmhost_supervisor": "tmux",
        },
    ),
]
