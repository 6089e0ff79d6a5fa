"""What llmhost reads of Prometheus on a host (llmhost_monitoring): that it scrapes every target,
and the live load of the services it watches."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase


def _tool(python: str, tool: str, url: str, *more: str) -> str:
    return " ".join(shlex.quote(a) for a in (python, "-I", tool, "prometheus", "--url", url, *more))


def _json(output, default: dict) -> dict:
    try:
        value = json.loads("\n".join(output) or "null")
    except ValueError:
        return {**default, "error": "llmhost-hosttool prometheus gave no JSON: " + " ".join(output)[:200]}
    return value if isinstance(value, dict) else default


class PrometheusCheck(FactBase[dict]):
    """
    Waits (up to ``timeout`` seconds) until Prometheus at ``url`` is ready, has loaded ``rules``
    alert rules, sends alerts to ``alertmanagers`` Alertmanagers and scrapes ``targets`` targets,
    every one of them up, and (``grafana``) Grafana's /api/health answers 200; else the error names each
    target down and why (Prometheus's last scrape error: a refused key reads 401).

    .. code:: python

        {"ok": True, "targets": 5, "rules": 11}
    """

    def command(
        self,
        python: str,
        tool: str,
        url: str,
        rules: int,
        targets: int,
        timeout: int,
        alertmanagers: int = 0,
        grafana: str | None = None,
    ) -> str:
        more = ("--check", "--rules", str(rules), "--targets", str(targets), "--timeout", str(timeout))
        more += ("--alertmanagers", str(alertmanagers), *(("--grafana", grafana) if grafana else ()))
        return _tool(python, tool, url, *more) + " || true"

    @staticmethod
    def default() -> dict:
        return {"ok": False, "error": "no answer from llmhost-hosttool prometheus"}

    def process(self, output) -> dict:
        return _json(output, self.default())


class PrometheusLoad(FactBase[dict]):
    """
    Each of ``queries`` ((name, PromQL), ...) at ``url`` now, by "host/service", and the alerts
    firing (``error``: Prometheus did not answer).

    .. code:: python

        {"load": {"gpu1/qwen": {"running": 2.0, "waiting": 0.0, "tokens_per_second": 41.3}},
         "alerts": ["LlmhostKvCacheFull gpu1/qwen"], "error": None}
    """

    def command(self, python: str, tool: str, url: str, queries: tuple[tuple[str, str], ...]) -> str:
        more = [part for name, query in queries for part in ("--query", f"{name}={query}")]
        return _tool(python, tool, url, *more) + " || true"

    @staticmethod
    def default() -> dict:
        return {"load": {}, "alerts": [], "error": "no answer from llmhost-hosttool prometheus"}

    def process(self, output) -> dict:
        return _json(output, self.default())


class KeyringFingerprints(FactBase[list[str]]):
    """
    The fingerprints of the primary keys in an OpenPGP keyring file (armored or not), as gpg reads
    them (none: no file, not a keyring, or no gpg).

    .. code:: python

        ["B53AE77BADB630A683046005963FA27710458545"]
    """

    def command(self, path: str) -> str:
        return (
            f"gpg --show-keys --with-colons {shlex.quote(path)} 2>/dev/null "
            '| awk -F: \'$1=="pub"{p=1;next} p&&$1=="fpr"{print $10;p=0}\' || true'
        )

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output) -> list[str]:
        return [line.strip() for line in output if line.strip()]
