"""The GPU machine itself, over @local: a wish that cannot fit: the planner must refuse it with numbers
(plan only: the machine reaches no hub and no index, so nothing of these is fetched or installed)."""

local = [
    (
        "@local",
        {
            "llmhost_services": [
                {"name": "qwen72", "model": "Qwen/Qwen2-72B-Instruct", "port": 8000},
            ],
            "llmhost_supervisor": "tmux",
        },
    ),
]
