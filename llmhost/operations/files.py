"""llmhost's own directories and files, each read with one command: several directories in one
operation over one fact; a file's type, mode and sha1 in one fact (pyinfra's put reads three)."""

from __future__ import annotations

import re
from io import StringIO
from typing import IO

from pyinfra import host, logger, state
from pyinfra.api import FileUploadCommand, OperationError, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.util import get_file_io, get_file_sha1, get_template
from pyinfra.facts.files import FileContents
from pyinfra.operations.util.files import generate_color_diff

from llmhost.facts import prefetch
from llmhost.facts.files import FileState, PathStates
from llmhost.facts.prefetch import reads


@reads(lambda directories, **_: [(PathStates, {"paths": tuple(path for path, *_ in directories)})])
@operation()
def directories(directories: list[tuple[str, str, str | None, bool]]):
    """
    Make each directory, with its mode and owner, where it is missing; where it exists, set its
    mode and owner only if it is llmhost's (the plan's ownership record says so): a directory
    llmhost did not make stays as it is. One command reads them all.

    + directories: ``(path, mode, owner or None, llmhost's)``, parents before children; the
      owner's group is the owner's name (llmhost's service account). A directory of llmhost's that
      exists with another owner gets the owner on everything in it too (``chown -RP``: no symlink
      followed): what ran as root before (a tmux host's engines, until they ran as the service
      user) is the service's to write.

    **Example:**

    .. code:: python

        files.directories(
            name="llmhost's directories",
            directories=[("/opt/llmhost", "755", None, True), ("/opt/llmhost/logs", "755", "llmhost", True)],
        )
    """
    states = prefetch.get(host, PathStates, paths=tuple(path for path, *_ in directories))
    steps = []  # one command for them all: a bare host's dozen directories cost one round trip
    for path, mode, owner, ours in directories:
        now = states.get(path)
        if now and now["type"] != "directory":
            raise OperationError(f"{path} is a {now['type']}, not a directory")
        if now and not ours:
            continue  # not llmhost's: its mode and owner are someone else's
        if not now:
            steps.append(("mkdir", "-p", QuoteString(path)))
        if not now or now["mode"] != int(mode, 8):
            steps.append(("chmod", mode, QuoteString(path)))
        if owner and not now:
            steps.append(("chown", f"{owner}:{owner}", QuoteString(path)))
        elif owner and (now["user"], now["group"]) != (owner, owner):
            steps.append(("chown", "-RP", f"{owner}:{owner}", QuoteString(path)))  # -P: no symlink followed
    if not steps:
        host.noop(f"{len(directories)} directories are as planned")
        return
    yield StringCommand(*[part for i, step in enumerate(steps) for part in (("&&",) if i else ()) + step])


@reads(lambda src, dest, mode, **_: [(FileState, {"path": dest})])
@operation()
def content(src: str | IO, dest: str, mode: str):
    """
    Upload a file where its content differs and set its mode, as ``files.put`` does, reading the
    remote file with one command (``files.put`` reads three). For files in directories llmhost
    makes: the parent is not checked. Owned by the connecting user (root).

    + src: a local file's path or a file-like object
    + dest: the remote file
    + mode: its permission bits (``"600"``)

    **Example:**

    .. code:: python

        files.content(name="Install llmhost-hosttool", src="llmhost/hostside/llmhost_hosttool.py",
                      dest="/opt/llmhost/bin/llmhost-hosttool", mode="755")
    """
    remote = prefetch.get(host, FileState, path=dest)
    if remote and remote["type"] != "file":
        raise OperationError(f"{dest} is a {remote['type']}, not a file")
    if not remote or remote["sha1"] != get_file_sha1(src):
        if state.config.DIFF:
            _log_diff(src, dest, mode, bool(remote))
        yield FileUploadCommand(src, dest, remote_temp_filename=host.get_temp_filename(dest))
        yield StringCommand("chmod", mode, QuoteString(dest))
    elif remote["mode"] != int(mode, 8):
        yield StringCommand("chmod", mode, QuoteString(dest))
    else:
        host.noop(f"{dest} is as planned")


_VALUE = re.compile(r"^(\s*(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*[=:]\s*).+$")


def _masked(lines: list[str], mode: str, before: list[str] | None = None) -> list[str]:
    """A file only its owner may read (mode 600: env files with keys, the gateway's master key) is
    shown with each value as ``***``, and ``(changed)`` where it differs from the same key's in
    ``before``: a diff says which keys change, never what they hold."""
    if int(mode, 8) & 0o077:
        return lines
    old = {m.group(1): line for line in before or () if (m := _VALUE.match(line.rstrip("\n")))}
    masked = []
    for line in lines:
        m = _VALUE.match(line.rstrip("\n"))
        changed = bool(m) and before is not None and old.get(m.group(1)) not in (None, line)
        masked.append((_VALUE.sub(r"\1***", line.rstrip("\n")) + (" (changed)" if changed else "")) + "\n")
    return masked


def _log_diff(src: str | IO, dest: str, mode: str, exists: bool) -> None:
    """pyinfra's --diff for llmhost's files, as ``files.put`` shows it: the change, line by line."""
    current = [line + "\n" for line in (host.get_fact(FileContents, path=dest) or [])] if exists else []
    try:
        with get_file_io(src, "r") as f:
            desired = _masked(f.readlines(), mode, current)
    except UnicodeDecodeError:
        host.log(f"Will {'modify' if exists else 'create'} {dest} (binary)", logger.info)
        return
    finally:
        if hasattr(src, "seek"):
            src.seek(0)
    host.log(f"Will {'modify' if exists else 'create'} {dest}", logger.info)
    for line in generate_color_diff(_masked(current, mode), desired):
        logger.info("  %s", line)
    logger.info("")


@reads(lambda src, dest, mode, **_: [(FileState, {"path": dest})])
@operation()
def rendered(src: str, dest: str, mode: str, **data):
    """
    A jinja2 template rendered as ``files.template`` renders it (``host``, ``state`` and
    ``inventory`` given too) and written by ``content``.

    + src: the template's path
    + dest, mode: as ``content``
    + data: the template's variables
    """
    output = get_template(src).render({"host": host, "state": state, "inventory": state.inventory, **data})
    yield from content._inner(src=StringIO(output), dest=dest, mode=mode)
