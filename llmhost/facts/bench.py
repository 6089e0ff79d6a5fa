"""What `llmhost bench` reads of a host."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase


class MemoryBandwidth(FactBase[dict | None]):
    """
    The host's memory read bandwidth as ``llmhost-bench probe`` measured it, cached at ``path``
    (None: never probed, or the cache cannot be read).

    .. code:: python

        {"read_gbs": 66.1, "cpus": 2, "cpu": "AMD EPYC", "bytes": 2147483648,
         "method": "torch 2.13.0+cpu: sum of a 2.00 GiB bfloat16 tensor on 2 threads, best of 5 after a warm-up",
         "probed_at": "2026-11-26T00:10:00Z"}
    """

    def command(self, path: str) -> str:
        return f"cat {shlex.quote(path)} 2>/dev/null || true"

    @staticmethod
    def default() -> None:
        return None

    def process(self, output) -> dict | None:
        try:
            value = json.loads("\n".join(output) or "null")
        except ValueError:
            return None
        if not isinstance(value, dict) or not isinstance(value.get("read_gbs"), (int, float)):
            return None
        return value
