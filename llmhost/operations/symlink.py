"""A symlink replaced atomically, shared by the operations that switch one (venv links, /usr/local/cuda)."""

from __future__ import annotations

from pyinfra.api import StringCommand
from pyinfra.api.command import QuoteString


def swap(target: str, link: str, tmp: str) -> list[StringCommand]:
    """Commands that point ``link`` at ``target``: a new link made at ``tmp``, renamed over ``link``
    (``mv -T``: one rename, so nothing ever sees the link missing)."""
    return [
        StringCommand("ln", "-sfn", QuoteString(target), QuoteString(tmp)),
        StringCommand("mv", "-Tf", QuoteString(tmp), QuoteString(link)),
    ]
