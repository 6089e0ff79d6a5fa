"""The data contract as it is written, once: group_data/all.py holds every key's default and, for the
keys whose value is a dict (each service, the gateway, the web UI), the default of each of its keys
(``__<key>_keys__``: a double-underscore name, which pyinfra does not hand to the hosts as data).
The validator (llmhost.settings), the CLI and the docs site's data keys page read them here; the file is read
once per process and every call hands out a copy, so no caller changes what the next one reads."""

from __future__ import annotations

import copy
import runpy
from functools import lru_cache
from typing import Any

from llmhost.resources import defaults_file


@lru_cache(maxsize=1)
def _written() -> dict[str, Any]:
    return runpy.run_path(str(defaults_file()))


def defaults() -> dict[str, Any]:
    """Every documented ``llmhost_*`` key and its default."""
    return copy.deepcopy({k: v for k, v in _written().items() if k.startswith("llmhost_")})


def keys_of(key: str) -> dict[str, Any]:
    """The keys of a dict-valued key (``llmhost_services``' entries, ``llmhost_gateway``,
    ``llmhost_webui``), in the documented order, and their defaults."""
    return copy.deepcopy(_written()[f"__{key}_keys__"])
