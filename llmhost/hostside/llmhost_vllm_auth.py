"""The API key on every route of a vLLM API server (installed by llmhost as <root>/lib/llmhost_vllm_auth.py).

vLLM's own ``--api-key`` (``VLLM_API_KEY``) guards only the paths under /v1, /v2, /inference and
/cohere (vllm/entrypoints/serve/middleware/authenticate.py); /tokenize, /detokenize, /pooling,
/classify, /score, /rerank, /invocations and /metrics answer anyone who reaches the port. llmhost
hands this class to vLLM's ``--middleware`` (vLLM adds a class given there with
``app.add_middleware``) whenever a service has a key, so every route but /health (the supervisors'
and the gateway's readiness probe) needs ``Authorization: Bearer <key>``.

The keys are vLLM's own: ``VLLM_API_KEY`` from the service's 0600 env file (``;`` would not split
it: one key, as vLLM reads it). Standard library only: it is imported inside vLLM's venv, whatever
that venv holds. A request is refused before it reaches vLLM; CORS preflights (OPTIONS) pass, as
vLLM's own middleware lets them, since a preflight carries no request body and gets no model output.
"""

from __future__ import annotations

import hashlib
import hmac
import os

OPEN = frozenset({"/health"})  # answered without the key: readiness, no model output
UNAUTHORIZED = b'{"error": "Unauthorized"}'


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode("utf-8")).digest()


class KeyOnEveryRoute:
    """Pure ASGI middleware: 401 for any HTTP or websocket request but /health without the key."""

    def __init__(self, app, key: str | None = None) -> None:
        self.app = app
        key = os.environ.get("VLLM_API_KEY", "") if key is None else key
        if not key:  # llmhost adds the middleware only with a key: no key is a broken install, not an open door
            raise RuntimeError("llmhost_vllm_auth: VLLM_API_KEY is empty; refusing to serve without a key")
        self.key = _digest(key)

    def allowed(self, scope) -> bool:
        for name, value in scope.get("headers") or ():
            if name.lower() == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return scheme.lower() == "bearer" and hmac.compare_digest(_digest(token), self.key)
        return False

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket") or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        path = scope["path"].removeprefix(scope.get("root_path", "")) or "/"
        if path in OPEN or self.allowed(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # close before accepting: the handshake is refused (HTTP 403)
            return await send({"type": "websocket.close", "code": 1008})
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(UNAUTHORIZED)).encode())]
        await send({"type": "http.response.start", "status": 401, "headers": headers})
        await send({"type": "http.response.body", "body": UNAUTHORIZED})
