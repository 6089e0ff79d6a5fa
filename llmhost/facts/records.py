"""llmhost's records on a host: what it created there (the services, their files, its directories),
so that it stops, removes or changes the mode and owner of nothing else."""

from __future__ import annotations

from pyinfra.api import FactBase


class OwnedDirectories(FactBase):
    """
    The directories llmhost's record says it made on the host (``<llmhost_root>/owned-directories.json``).
    None where that record is missing and ``owned`` (llmhost's record of its services, owned.json) is
    there: a host llmhost provisioned before it kept the record, whose directories it made. Empty
    where there is neither (a new host) or the record cannot be read.

    .. code:: python

        ["/etc/llmhost", "/opt/llmhost", "/opt/llmhost/bin", "/opt/llmhost/logs"]
    """

    def command(self, path: str, owned: str) -> str:
        import shlex

        return f"cat {shlex.quote(path)} 2>/dev/null || {{ test -e {shlex.quote(owned)} && echo legacy; }} || true"

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output) -> list[str] | None:
        import json

        text = "\n".join(output).strip()
        if text == "legacy":
            return None
        try:
            record = json.loads(text or "{}")
        except ValueError:
            return []
        made = record.get("directories") if isinstance(record, dict) else None
        return sorted(d for d in made if isinstance(d, str)) if isinstance(made, list) else []


class OwnedRecord(FactBase[dict]):
    """
    llmhost's record of what it created on the host (``<llmhost_root>/owned.json``): each
    supervised process (systemd unit or tmux session) and the files written for it. Empty when
    there is no record (a new host, or one provisioned before llmhost kept it) or it cannot be read.

    .. code:: python

        {"llmhost-tiny": {"supervisor": "systemd",
                          "files": ["/etc/systemd/system/llmhost-tiny.service", "/etc/llmhost/tiny.env"]}}
    """

    def command(self, path: str) -> str:
        import shlex

        return f"cat {shlex.quote(path)} 2>/dev/null || true"

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output) -> dict:
        import json

        try:
            record = json.loads("\n".join(output) or "{}")
        except ValueError:
            return {}
        units = record.get("units") if isinstance(record, dict) else None
        if not isinstance(units, dict):
            return {}
        return {
            unit: {
                "supervisor": entry["supervisor"],
                "files": [f for f in entry.get("files", []) if isinstance(f, str)],
            }
            for unit, entry in units.items()
            # "files": files alone, no process (the hub token's file; that llmhost installed Prometheus)
            if isinstance(entry, dict) and entry.get("supervisor") in ("systemd", "tmux", "files")
        }
