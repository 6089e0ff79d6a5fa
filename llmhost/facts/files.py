"""Facts about several paths at once (pyinfra's File/Directory facts read one path per command)."""

from __future__ import annotations

import shlex
import stat
from typing import TypedDict

from pyinfra.api import FactBase


class PathDict(TypedDict):
    type: str  # directory | file | link | other
    mode: int  # permission bits (0o755); 0 for a link
    user: str
    group: str


class PathStates(FactBase[dict[str, PathDict]]):
    """
    What each of ``paths`` is, in one command: its type, permission bits, owner and group
    (a symlink is ``link``, not followed). A path that does not exist is not in the result.

    .. code:: python

        {"/opt/llmhost": {"type": "directory", "mode": 0o755, "user": "root", "group": "root"}}
    """

    def command(self, paths: tuple[str, ...]) -> str:
        # one stat for them all (the raw mode in hex: its type bits need no locale); a missing path
        # prints nothing
        return f"stat --printf '%f %U %G %n\\n' -- {' '.join(shlex.quote(p) for p in paths)} 2>/dev/null; true"

    @staticmethod
    def default() -> dict[str, PathDict]:
        return {}

    def process(self, output) -> dict[str, PathDict]:
        states = {}
        for line in output:
            raw, user, group, path = line.split(" ", 3)
            mode = int(raw, 16)
            kind = (
                "link"
                if stat.S_ISLNK(mode)
                else "directory"
                if stat.S_ISDIR(mode)
                else "file"
                if stat.S_ISREG(mode)
                else "other"
            )
            states[path] = {
                "type": kind,
                "mode": 0 if kind == "link" else stat.S_IMODE(mode),
                "user": user,
                "group": group,
            }
        return states


class AccountDict(TypedDict):
    uid: int
    home: str
    shell: str
    group: str | None  # the primary group's name


class Account(FactBase[AccountDict | None]):
    """
    A user account from ``getent`` (local files, LDAP alike), with its primary group's name;
    None when there is no such user. One command where pyinfra's ``server.user`` and
    ``server.group`` read five.

    .. code:: python

        {"uid": 999, "home": "/opt/llmhost/home", "shell": "/usr/sbin/nologin", "group": "llmhost"}
    """

    def command(self, user: str) -> str:
        u = shlex.quote(user)
        return f'e=$(getent passwd {u}) && echo "$e" && getent group "$(echo "$e" | cut -d: -f4)"; true'

    @staticmethod
    def default() -> None:
        return None

    def process(self, output) -> AccountDict | None:
        if not output:
            return None
        fields = output[0].split(":")
        group = output[1].split(":")[0] if len(output) > 1 else None
        return {"uid": int(fields[2]), "home": fields[5], "shell": fields[6], "group": group}


class FileState(FactBase[dict | None]):
    """
    A file's type, permission bits and sha1 in one command (pyinfra's ``files.put`` reads the
    first two and the third with a command each); None when nothing is there. Not a regular file:
    only its type (``link``, ``other``).

    .. code:: python

        {"type": "file", "mode": 0o600, "sha1": "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"}
    """

    def command(self, path: str) -> str:
        p = shlex.quote(path)
        return (
            f'if [ -L {p} ]; then echo link; elif [ -f {p} ]; then echo "file $(stat -c %a {p}) '
            f"$(sha1sum {p} | cut -d' ' -f1)\"; elif [ -e {p} ]; then echo other; fi; true"
        )

    @staticmethod
    def default() -> None:
        return None

    def process(self, output) -> dict | None:
        parts = output[0].split() if output else []
        if not parts:
            return None
        if parts[0] == "file" and len(parts) == 3:
            return {"type": "file", "mode": int(parts[1], 8), "sha1": parts[2]}
        return {"type": parts[0]}
