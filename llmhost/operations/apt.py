"""apt sources switched to a mirror and back, with the distribution's original kept aside."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.exceptions import OperationError
from pyinfra.facts.files import File
from pyinfra.operations import files

from llmhost.facts import prefetch
from llmhost.facts.prefetch import reads


@reads(lambda path, backup, src=None, **_: [(File, {"path": backup})])
@operation()
def sources(path: str, backup: str, src: str | None = None, **template_vars):
    """
    Point an apt sources file at a mirror (``src``: its template), or back at the distribution.

    + path: the sources file (``/etc/apt/sources.list`` or a deb822 ``.sources`` file)
    + backup: where the distribution's original is kept while the mirror is in use
    + src: template of the mirrored file; ``None`` restores the original from ``backup``
    + template_vars: the template's variables

    The original is copied aside once, before the first change, and never overwritten after; a
    rendered file that already matches changes nothing.

    **Example:**

    .. code:: python

        apt.sources(
            name="apt sources from TUNA",
            path="/etc/apt/sources.list.d/ubuntu.sources",
            backup="/etc/apt/sources.list.d/ubuntu.sources.llmhost-orig",
            src="templates/apt-sources.deb822.j2",
            uri="https://mirrors.tuna.tsinghua.edu.cn/ubuntu", ...
        )
    """
    has_backup = bool(prefetch.get(host, File, path=backup))
    if src is None:
        if not has_backup:
            host.noop(f"{path} is the distribution's own")
            return
        yield StringCommand("mv", "-f", QuoteString(backup), QuoteString(path))
        return
    if not has_backup:
        if not host.get_fact(File, path=path):
            raise OperationError(f"{path} does not exist: nothing to back up before switching to a mirror")
        yield StringCommand("cp", "-p", QuoteString(path), QuoteString(backup))
    yield from files.template._inner(src=src, dest=path, mode="644", **template_vars)
