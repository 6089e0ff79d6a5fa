"""Directories made and kept as planned, several in one operation (one fact read for them all)."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import OperationError, StringCommand, operation
from pyinfra.api.command import QuoteString

from llmhost.facts.files import PathStates


@operation()
def directories(directories: list[tuple[str, str, str | None]]):
    """
    Make each directory, with its mode and owner, where it is missing or differs; what a
    ``files.directory`` per path does, with one command to read them all.

    + directories: ``(path, mode, owner or None)``, parents before children; the owner's group
      is the owner's name (llmhost's service account)

    **Example:**

    .. code:: python

        files.directories(
            name="llmhost's directories",
            directories=[("/opt/llmhost", "755", None), ("/opt/llmhost/logs", "755", "llmhost")],
        )
    """
    states = host.get_fact(PathStates, paths=tuple(path for path, _, _ in directories))
    changed = []
    for path, mode, owner in directories:
        state = states.get(path)
        if state and state["type"] != "directory":
            raise OperationError(f"{path} is a {state['type']}, not a directory")
        if not state:
            yield StringCommand("mkdir", "-p", QuoteString(path))
        if not state or state["mode"] != int(mode, 8):
            yield StringCommand("chmod", mode, QuoteString(path))
        if owner and (not state or (state["user"], state["group"]) != (owner, owner)):
            yield StringCommand("chown", f"{owner}:{owner}", QuoteString(path))
        if not state or state["mode"] != int(mode, 8) or (owner and (state["user"], state["group"]) != (owner, owner)):
            changed.append(path)
    if not changed:
        host.noop(f"{len(directories)} directories are as planned")
