"""llmhost_gateway and llmhost_webui: the gateway and the web page in front of the services, checked
key by key (GatewayWish, WebuiWish)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmhost.contract import keys_of
from llmhost.settings.services import _SERVED
from llmhost.settings.values import (
    TOKEN_CHARS,
    DataError,
    _bind,
    _bool,
    _describe,
    _int,
    _opt_str,
    _opt_token,
    _str,
    _str_list,
    loopback,
    unknown_key,
)


@dataclass(frozen=True)
class GatewayWish:
    """llmhost_gateway: a LiteLLM proxy on this host in front of the services of the inventory."""

    host: str
    port: int
    hosts: tuple[str, ...] | None  # inventory host names (None: every host of the inventory)
    aliases: tuple[tuple[str, str], ...]  # alias -> served_model_name
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...]  # served_model_name -> fallbacks, in order
    num_retries: int
    timeout: int
    cooldown_time: int
    allowed_fails: int
    master_key: str | None = field(repr=False)  # None: generated on the controller
    admin_pages: bool = False  # LiteLLM's admin UI and API docs served


# the keys of llmhost_gateway and their defaults, as group_data/all.py documents them
GATEWAY_DEFAULTS = keys_of("llmhost_gateway")
# LiteLLM refuses to start with these (its master_key_boot_check blocklist: the docs' example key)
WEAK_MASTER_KEYS = ("sk-1234",)
# what llmhost takes as a gateway master key (given in the data, or read back from the controller)
MASTER_KEY = re.compile(rf"sk-[{TOKEN_CHARS}]{{16,}}=*")


@dataclass(frozen=True)
class WebuiWish:
    """llmhost_webui: Open WebUI on this host, in front of its gateway or the inventory's services."""

    host: str
    port: int
    hosts: tuple[str, ...] | None  # without a gateway: the hosts whose services it lists (None: all)
    title: str  # WEBUI_NAME
    default_model: str | None  # None: planned (the first model it lists)
    admin_email: str
    admin_name: str
    admin_password: str | None = field(repr=False)  # None: generated on the controller
    env: tuple[tuple[str, str], ...]  # more of Open WebUI's own settings (environment variables)


# the keys of llmhost_webui and their defaults, as group_data/all.py documents them
WEBUI_DEFAULTS = keys_of("llmhost_webui")
# an e-mail address as Open WebUI's sign-in form takes it (<input type=email>)
_EMAIL = re.compile(r"^[\w.+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
# what llmhost takes as a web UI admin password (given in the data, or read back from the controller)
# (no quotes, backslash or "$": an env file's value is read the same by systemd and the tmux launcher;
# 72 at most: bcrypt's limit, which Open WebUI hashes with: bcrypt 5.0, its pin, raises on longer ones)
WEBUI_PASSWORD = re.compile(r"[!#%&(-\[\]-~]{8,72}")


def _hosts(key: str, value: Any) -> tuple[str, ...] | None:
    """Inventory host names (a gateway's or a web UI's ``hosts``); None: every host."""
    if value is None:
        return None
    hosts = _str_list(key, value, _str)
    if not hosts:
        raise DataError(key, "expected at least one inventory host (null: every host)")
    return hosts


def _with_defaults(key: str, value: Any, defaults: dict, what: str) -> dict:
    """A dict-valued key's value: only its documented keys, each missing one at its default."""
    if not isinstance(value, Mapping):
        raise DataError(key, f"expected a dict (or null: no {what}), got {_describe(value)}")
    unknown = sorted(set(value) - set(defaults))
    if unknown:
        raise unknown_key(key, unknown[0], defaults, f"{what} key")
    return {**defaults, **value}


def _gateway(key: str, value: Any) -> GatewayWish | None:
    if value is None:
        return None
    value = _with_defaults(key, value, GATEWAY_DEFAULTS, "gateway")
    hosts = _hosts(f"{key}.hosts", value["hosts"])
    aliases = value["aliases"] or {}
    if not isinstance(aliases, Mapping):
        raise DataError(f"{key}.aliases", f"expected a dict of alias -> served_model_name, got {_describe(aliases)}")
    for alias, target in aliases.items():
        if not isinstance(alias, str) or not _SERVED.fullmatch(alias):
            raise DataError(f"{key}.aliases", f"unexpected characters in the alias {alias!r}")
        _str(f"{key}.aliases.{alias}", target)
    fallbacks = value["fallbacks"] or {}
    if not isinstance(fallbacks, Mapping):
        raise DataError(
            f"{key}.fallbacks",
            f"expected a dict of served_model_name -> list of served_model_names, got {_describe(fallbacks)}",
        )
    clean_fallbacks = []
    for group, targets in fallbacks.items():
        targets = _str_list(f"{key}.fallbacks.{group}", targets, _str)
        if not targets:
            raise DataError(f"{key}.fallbacks.{group}", "expected at least one served_model_name to fall back to")
        if group in targets:
            raise DataError(f"{key}.fallbacks.{group}", "a model group cannot fall back to itself")
        clean_fallbacks.append((_str(f"{key}.fallbacks", group), targets))
    master_key = _opt_token(f"{key}.master_key", value["master_key"])
    if master_key is not None:
        if master_key.strip() in WEAK_MASTER_KEYS:
            raise DataError(
                f"{key}.master_key",
                "a publicly known key (LiteLLM refuses to start with it); leave it out to have one generated",
            )
        if not MASTER_KEY.fullmatch(master_key):
            raise DataError(
                f"{key}.master_key",
                'expected "sk-" and at least 16 more characters; leave it out to have one generated',
            )
    return GatewayWish(
        host=_bind(f"{key}.host", value["host"]),
        port=_int(f"{key}.port", value["port"], 1, 65535),
        hosts=hosts,
        aliases=tuple(sorted(aliases.items())),
        fallbacks=tuple(sorted(clean_fallbacks)),
        num_retries=_int(f"{key}.num_retries", value["num_retries"], 0, 10),
        timeout=_int(f"{key}.timeout", value["timeout"], 1, 86400),
        cooldown_time=_int(f"{key}.cooldown_time", value["cooldown_time"], 0, 86400),
        allowed_fails=_int(f"{key}.allowed_fails", value["allowed_fails"], 0, 1000),
        master_key=master_key,
        admin_pages=_bool(f"{key}.admin_pages", value["admin_pages"]),
    )


def _webui(key: str, value: Any, managed: tuple[str, ...]) -> WebuiWish | None:
    """``managed``: the environment variables llmhost sets itself (llmhost.plan.webui), which
    ``env`` may not."""
    if value is None:
        return None
    value = _with_defaults(key, value, WEBUI_DEFAULTS, "web UI")
    hosts = _hosts(f"{key}.hosts", value["hosts"])
    email = _str(f"{key}.admin_email", value["admin_email"])
    if not _EMAIL.fullmatch(email):
        raise DataError(f"{key}.admin_email", f"expected an e-mail address (admin@example.com), got {email!r}")
    password = _opt_str(f"{key}.admin_password", value["admin_password"])
    if password is not None and not WEBUI_PASSWORD.fullmatch(password):
        raise DataError(
            f"{key}.admin_password",
            "expected 8 or more printable ASCII characters (72 at most: "
            'bcrypt\'s limit) without spaces, quotes, backslashes or "$"; leave it '
            "out to have one generated",
        )
    default_model = _opt_str(f"{key}.default_model", value["default_model"])
    if default_model is not None and not _SERVED.fullmatch(default_model):
        raise DataError(f"{key}.default_model", f"unexpected characters in {default_model!r}")
    env = value["env"] or {}
    if not isinstance(env, Mapping):
        raise DataError(f"{key}.env", f"expected a dict of Open WebUI setting -> value, got {_describe(env)}")
    clean_env = []
    for name, setting in env.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise DataError(f"{key}.env", f"{name!r} is not an environment variable name (UPPER_CASE)")
        if name in managed:
            raise DataError(
                f"{key}.env.{name}",
                "set by llmhost itself (from llmhost_webui and the plan); "
                "see group_data/all.py for the key that sets it",
            )
        if isinstance(setting, bool):
            setting = "true" if setting else "false"
        elif isinstance(setting, int):
            setting = str(setting)
        if not isinstance(setting, str) or "\n" in setting:
            raise DataError(
                f"{key}.env.{name}", f"expected a one-line string, number or true/false, got {_describe(setting)}"
            )
        clean_env.append((name, setting))
    host = _bind(f"{key}.host", value["host"])
    if not loopback(host) and "CORS_ALLOW_ORIGIN" not in dict(clean_env):
        raise DataError(
            f"{key}.host",
            f"{host}: a web UI beyond loopback answers the origins it is reached at, and only those (else any "
            "site a signed-in user visits may call its API): name them in llmhost_webui.env.CORS_ALLOW_ORIGIN "
            '(e.g. "https://chat.example.com;http://10.0.0.5:8080")',
        )
    return WebuiWish(
        host=host,
        port=_int(f"{key}.port", value["port"], 1, 65535),
        hosts=hosts,
        title=_str(f"{key}.title", value["title"]),
        default_model=default_model,
        admin_email=email,
        admin_name=_str(f"{key}.admin_name", value["admin_name"]),
        admin_password=password,
        env=tuple(sorted(clean_env)),
    )
