"""The GPU machine itself, over @local: the planner's choices for real models on its live facts
(plan only: the machine reaches no hub and no index, so nothing of these is fetched or installed)."""

local = [
    (
        "@local",
        {
            "llmhost_services": [
                {"name": "qwen7", "model": "Qwen/Qwen2.5-7B-Instruct", "port": 8000, "gpu_memory_utilization": 0.45},
                {"name": "qwen7-gptq8", "model": "Qwen/Qwen2-7B-Instruct-GPTQ-Int8", "port": 8002},
            ],
            "llmhost_supervisor": "tmux",
        },
    ),
]
