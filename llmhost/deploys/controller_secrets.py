"""Secrets llmhost generates on the controller, once (llmhost_secrets_dir/<host>/<name>, 0600): the
gateway's master key, the web UI's admin password and session secret. The same on every run and
every rebuild of the host."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from llmhost.settings import MASTER_KEY, WEBUI_PASSWORD, DataError, Settings


def controller_secret(settings: Settings, host_name: str, name: str, make, valid: re.Pattern, what: str) -> str:
    """A secret generated once on the controller (llmhost_secrets_dir/<host>/<name>, 0600) by
    ``make()``: the same on every run and rebuild; ``valid``/``what``: what a good one is."""
    path = Path(settings.secrets_dir) / re.sub(r"[^A-Za-z0-9._@-]+", "--", host_name) / name
    try:
        if not path.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(path, "x", opener=lambda p, flags: os.open(p, flags, 0o600)) as f:
                f.write(f"{make()}\n")
        value = path.read_text().strip()
    except OSError as e:
        raise DataError("llmhost_secrets_dir", f"cannot keep the {name.replace('-', ' ')} in {path}: {e.strerror}")
    if not valid.fullmatch(value):
        raise DataError("llmhost_secrets_dir", f"{path} does not hold {what}; delete it to have one generated")
    return value


def master_key(settings: Settings, host_name: str) -> str:
    """The gateway's master key: the data's, else the one generated on the controller, once
    (llmhost_secrets_dir/<host>/gateway-master-key, 0600): the same on every run and rebuild."""
    if settings.gateway.master_key:
        return settings.gateway.master_key
    return controller_secret(
        settings,
        host_name,
        "gateway-master-key",
        lambda: f"sk-{secrets.token_hex(32)}",
        MASTER_KEY,
        'a master key ("sk-" and 16+ characters)',
    )


def webui_secrets(settings: Settings, host_name: str) -> tuple[str, str]:
    """The web UI's admin password (the data's, else generated on the controller once) and its
    session secret (generated there once: sign-ins survive a rebuild)."""
    password = settings.webui.admin_password or controller_secret(
        settings,
        host_name,
        "webui-admin-password",
        lambda: secrets.token_urlsafe(18),
        WEBUI_PASSWORD,
        "a password (8+ printable characters)",
    )
    secret = controller_secret(
        settings,
        host_name,
        "webui-secret-key",
        lambda: secrets.token_hex(32),
        re.compile(r"[0-9a-f]{64}"),
        "a session secret (64 hex digits)",
    )
    return password, secret
