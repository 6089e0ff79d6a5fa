"""tmux facts."""

from __future__ import annotations

from pyinfra.api import FactBase


class TmuxSessions(FactBase[dict[str, int]]):
    """
    Running tmux sessions of the connecting user and the PID of each session's first pane.

    .. code:: python

        {"llmhost-tiny": 41235}
    """

    def requires_command(self) -> str:
        return "tmux"

    def command(self) -> str:
        return "tmux list-panes -a -F '#{session_name} #{pane_pid}' 2>/dev/null || true"

    @staticmethod
    def default() -> dict[str, int]:
        return {}

    def process(self, output) -> dict[str, int]:
        sessions: dict[str, int] = {}
        for line in output:
            name, _, pid = line.strip().rpartition(" ")
            if name and pid.isdigit():
                sessions.setdefault(name, int(pid))
        return sessions
