"""The data contract's small checkers: each takes a key and a value and returns the clean value or
raises :class:`DataError` naming the key, in one line."""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Callable, Mapping
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from pyinfra.api.exceptions import DeployError

from llmhost.distros import MIRROR_TARGETS, TUNA

SUPERVISORS = ("auto", "systemd", "tmux")
VERIFY_LEVELS = ("sizes", "full")
ENV_MANAGERS = ("venv", "conda")
DRIVER_POLICIES = ("keep", "upgrade")
PINNABLE_ENVS = ("vllm-cpu", "vllm", "llamacpp", "model-tools")  # engine names of llmhost/engines.py
_KEEP_ALIVE = re.compile(r"^-?(\d+|(\d+(\.\d+)?(ms|s|m|h))+)$")  # Go durations, or seconds
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-rc\d+)?$")


class DataError(DeployError):
    """A user data value is wrong. ``str(err)`` is one line: ``<key>: <problem>``."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key


def _words(name: str) -> str:
    """A key as its words: lower case, ``-`` as ``_``, a (misspelt) ``llmhost_`` prefix dropped."""
    name = name.lower().replace("-", "_")
    prefix, _, rest = name.partition("_")
    return rest if rest and difflib.SequenceMatcher(None, prefix, "llmhost").ratio() >= 0.75 else name


def closest(name: str, known) -> str | None:
    """The documented key ``name`` most likely meant, if one is close."""
    by_words = {_words(k): k for k in known}
    words = _words(name)
    close = difflib.get_close_matches(words, list(by_words), n=1, cutoff=0.7)
    close = close or sorted((w for w in by_words if words.startswith(w + "_")), key=len)[-1:]  # root_dir
    return by_words[close[0]] if close else None


def unknown_key(key: str, name: str, known, what: str) -> DataError:
    """The error for ``name``, a key of ``key`` (of the data itself where ``key`` is empty) that is not
    one of ``known``: with the documented key it most likely meant, when one is close."""
    meant = closest(name, known)
    hint = f"; did you mean {meant}?" if meant else ""
    if not key:
        return DataError(name, f"unknown {what}{hint} (documented keys are in group_data/all.py)")
    return DataError(f"{key}.{name}", f"unknown {what}{hint} (known: {', '.join(known)})")


def looks_like_ours(name: str) -> bool:
    """Whether a data key not documented was meant for llmhost: it names llmhost or starts with a
    misspelt ``llmhost_`` (``lmhost_mirror``, ``llmhots_root``, ``LLMHOST-ROOT``). Other keys
    (pyinfra's ``ssh_user``, ``_sudo``; another deploy's ``mirror``) are not ours to judge."""
    words = name.lower().replace("-", "_")
    return "llmhost" in words or _words(name) != words


# --- small checkers: each returns the clean value or raises DataError(key, ...) ---------------


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _int(key: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(key, f"expected an integer {lo}..{hi}, got {_describe(value)}")
    if not lo <= value <= hi:
        raise DataError(key, f"expected an integer {lo}..{hi}, got {value}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DataError(key, f"expected true or false, got {_describe(value)}")
    return value


def _opt_fraction(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.05 <= value <= 0.99:
        raise DataError(key, f"expected a number 0.05..0.99, got {_describe(value)}")
    return float(value)


def _opt_int(key: str, value: Any, lo: int, hi: int) -> int | None:
    return None if value is None else _int(key, value, lo, hi)


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(key, f"expected a non-empty string, got {_describe(value)}")
    return value


def _opt_str(key: str, value: Any) -> str | None:
    return None if value is None else _str(key, value)


# One charset for every key and token of the data (api_key, llmhost_gateway.master_key,
# llmhost_hf_token): RFC 6750's b64token, what an "Authorization: Bearer" header carries. Each place
# a key lands reads it alike: systemd's EnvironmentFile (nothing to unquote, unescape or expand: no
# quote, backslash, space or $), bash, YAML, JSON, and LiteLLM's and vLLM's ";"-joined key lists.
TOKEN_CHARS = "A-Za-z0-9._~+/-"
TOKEN = re.compile(rf"[{TOKEN_CHARS}]+=*")


def _token(key: str, value: Any) -> str:
    value = _str(key, value)
    if len(value) > 1024 or not TOKEN.fullmatch(value):
        bad = next((i for i, c in enumerate(value, 1) if not re.fullmatch(rf"[={TOKEN_CHARS}]", c)), None)
        where = f"character {bad} is not one of them" if bad else "it is over 1024 characters or = is not at its end"
        raise DataError(
            key, f"expected the characters of an HTTP bearer token: A-Z a-z 0-9 - . _ ~ + / (then = padding); {where}"
        )
    return value


def _opt_token(key: str, value: Any) -> str | None:
    return None if value is None else _token(key, value)


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DataError(key, f"expected one of {' | '.join(choices)}, got {_describe(value)}")
    return value


def _url(key: str, value: Any) -> str:
    value = _str(key, value)
    if not re.fullmatch(r"(https?|file)://\S+", value):
        raise DataError(key, f"expected an http(s):// or file:// URL, got {value!r}")
    return value.rstrip("/")


def _secure_url(key: str, value: Any) -> str:
    """A URL of what llmhost runs or trusts as root (an installer, a tarball, the repository its
    signing keyring comes from): https:// or file://, never plain http://, which anyone on the way
    could answer instead."""
    value = _url(key, value)
    if value.startswith("http://"):
        raise DataError(
            key,
            f"{value}: plain http:// is refused for what llmhost runs or trusts as root (anyone on the way could "
            "answer instead); use https://, or copy it to the host and give a file:// URL",
        )
    return value


_HOSTNAME = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
)


def _opt_address(key: str, value: Any) -> str | None:
    """An IP address or a DNS name (RFC 1123) other hosts reach this one at (it lands in URLs)."""
    if value is None:
        return None
    value = _str(key, value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not _HOSTNAME.fullmatch(value):
            raise DataError(key, f"expected an IP address or a host name, got {value!r}") from None
    return value


def _str_list(key: str, value: Any, item: Callable[[str, Any], str]) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise DataError(key, f"expected a list, got {_describe(value)}")
    return tuple(item(f"{key}[{i}]", v) for i, v in enumerate(value))


_IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}")  # Linux: IFNAMSIZ 16 with the NUL


def _interface(key: str, value: Any) -> str | None:
    if value is None:
        return None
    value = _str(key, value)
    if not _IFNAME.fullmatch(value):
        raise DataError(key, f"expected a network interface name (eth1, ens5f0, ib0), got {value!r}")
    return value


def _abs_path(key: str, value: Any) -> str:
    value = _str(key, value)
    if not value.startswith("/"):
        raise DataError(key, f"expected an absolute path on the host, got {value!r}")
    return value.rstrip("/") or "/"


def _pip_path(key: str, value: Any) -> str:
    """A find-links directory: pip splits a multi-valued option of pip.conf on whitespace."""
    value = _abs_path(key, value)
    if re.search(r"\s", value):
        raise DataError(key, f"{value!r}: pip reads whitespace in pip.conf as the end of a path; name one without")
    return value


# The system's own directories: llmhost makes its root and env dir its own (mode, owner), so a typo
# naming one of these (or a path that walks back up with ..) would change the system's.
SYSTEM_DIRS = frozenset(
    [
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/srv",
        "/sys",
        "/tmp",
        "/usr",
        "/usr/bin",
        "/usr/lib",
        "/usr/local",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/share",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/tmp",
    ]
)


def _own_dir(key: str, value: Any) -> str:
    """A directory llmhost makes its own: absolute, no . or .. parts, not a system directory."""
    value = _abs_path(key, value)
    if any(part in (".", "..") for part in value.split("/")):
        raise DataError(key, f"expected a path without . or .. parts, got {value!r}")
    if value in SYSTEM_DIRS:
        raise DataError(
            key, f"{value} is a system directory; llmhost sets the mode and owner of its own (e.g. /opt/llmhost)"
        )
    if not re.fullmatch(r"[\w./+@-]+", value):
        raise DataError(
            key, f"expected letters, digits and . _ - + @ / only (it lands in shells and units), got {value!r}"
        )
    return value


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def no_control_characters(key: str, value: Any) -> None:
    """Refuse a control character anywhere in a data value (lists and mappings walked, each item
    named): values land in unit files, env files, pip.conf and shells, where a line break starts a
    new setting or command."""
    if isinstance(value, str):
        found = _CONTROL.search(value)
        if found:
            raise DataError(
                key,
                f"a control character ({found.group()!r}) at position {found.start()}: values land in unit files, "
                "env files and shells, where it would start a new line or setting",
            )
    elif isinstance(value, Mapping):
        for k, v in value.items():
            no_control_characters(key, k)
            no_control_characters(f"{key}.{k}", v)
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            no_control_characters(f"{key}[{i}]", v)


def _python(key: str, value: Any) -> str:
    """An interpreter name or path; a bare version ("3.10") means python3.10 on the PATH."""
    value = _str(key, value).strip()
    if re.fullmatch(r"3\.\d{1,2}", value):
        return f"python{value}"
    if not re.fullmatch(r"[\w./+-]+", value):
        raise DataError(
            key, f"expected an interpreter (python3.10, /usr/bin/python3.11) or a version (3.10), got {value!r}"
        )
    return value


def _cuda_version(key: str, value: Any) -> str | None:
    if value is None:
        return None
    value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}\.\d{1,2}", value):
        raise DataError(key, f"expected a CUDA toolkit version like 12.6, got {_describe(value)}")
    return value


def _sha256(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value.lower()):
        raise DataError(key, f"expected a sha256 (64 hex digits), got {_describe(value)}")
    return value.lower()


def _engine_pins(key: str, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise DataError(key, f"expected a dict of environment name -> list of requirements, got {_describe(value)}")
    pins = []
    for env, reqs in sorted(value.items()):
        if env not in PINNABLE_ENVS:
            raise DataError(f"{key}.{env}", f"not an environment llmhost installs (one of {' | '.join(PINNABLE_ENVS)})")
        if not isinstance(reqs, (list, tuple)) or not reqs:
            raise DataError(f"{key}.{env}", f"expected a non-empty list of requirements, got {_describe(reqs)}")
        clean = []
        for i, req in enumerate(reqs):
            try:
                parsed = Requirement(_str(f"{key}.{env}[{i}]", req))
            except InvalidRequirement as e:
                raise DataError(f"{key}.{env}[{i}]", f"not a pip requirement: {str(e).splitlines()[0]}") from None
            if parsed.url or parsed.marker:
                raise DataError(
                    f"{key}.{env}[{i}]", f"expected a name with a version (transformers==4.57.1), got {req!r}"
                )
            clean.append(str(parsed))
        pins.append((env, tuple(clean)))
    return tuple(pins)


def _mirror(key: str, value: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    if value == "none":
        return "none", ()
    if value == "tuna":
        return "tuna", tuple(sorted(TUNA.items()))
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(MIRROR_TARGETS))
        if unknown:
            raise DataError(f"{key}.{unknown[0]}", f"unknown mirror target (known: {', '.join(MIRROR_TARGETS)})")
        return "custom", tuple(sorted((k, _url(f"{key}.{k}", v)) for k, v in value.items()))
    raise DataError(
        key, f"expected none, tuna or a dict of base URLs ({', '.join(MIRROR_TARGETS)}), got {_describe(value)}"
    )


def loopback(address: str) -> bool:
    """A bind address only its own host reaches (the data's host keys, already checked by _bind)."""
    return ipaddress.ip_address(address).is_loopback


def _bind(key: str, value: Any) -> str:
    value = _str(key, value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise DataError(key, f"expected an IP address to bind (e.g. 127.0.0.1), got {value!r}")
    return value


def _version(key: str, value: Any) -> str:
    text = _str(key, value).removeprefix("v")
    if not _VERSION.fullmatch(text):
        raise DataError(key, f'expected a release version like "0.22.1", got {value!r}')
    return text


def _keep_alive(key: str, value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _str(key, value)
    if not _KEEP_ALIVE.fullmatch(text):
        raise DataError(key, f'expected a duration ("5m", "1h30m"), seconds, or -1 (forever), got {text!r}')
    return text
