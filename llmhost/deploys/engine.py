"""Layer: one versioned venv per planned engine release, with its pinned packages, behind a
``<engine>-current`` link that moves only to a venv that imports its engine."""

from __future__ import annotations

import posixpath

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import pip

from llmhost.operations import conda, llamacpp, ollama
from llmhost.operations import files as llmfiles
from llmhost.operations import venv as venvs
from llmhost.operations.pip import requirements
from llmhost.plan import EnginePlan, HostPlan
from llmhost.render import pip_conf_vars
from llmhost.resources import template


def venv(engine: EnginePlan, tool: str, prune_now: bool = True) -> OperationMeta:
    """A venv with its pip.conf and pinned requirements (engines, and the model-tools venv), then
    its link switched to it (and, with ``prune_now``, the oldest venvs pruned). Returns the switch
    (it restarts services). ``tool``: llmhost's host-side tool, which probes the indexes before pip."""
    label = f"{engine.engine} {engine.version}"
    if engine.build:
        return _built(engine, label, prune_now)
    if engine.archive:
        return _unpacked(engine, label, prune_now)
    if engine.conda:
        conda.env(
            name=f"conda env for {label} (Python {engine.python})",
            conda=engine.conda,
            path=engine.venv,
            python=engine.python,
        )
    else:
        pip.venv(name=f"Venv for {label}", path=engine.venv, python=engine.python)
    llmfiles.rendered(  # in the venv (or conda env) the operation above made
        name=f"pip.conf of {label}",
        src=template("pip.conf.j2"),
        dest=f"{engine.venv}/pip.conf",
        mode="644",
        **pip_conf_vars(engine),
    )
    # After installing: pip pulls torchvision & co. in as dependencies; they must go again.
    requirements(
        name=f"Install {label}" + (f" without {', '.join(engine.remove)}" if engine.remove else ""),
        pip=engine.pip_bin,
        present=list(engine.requirements),
        absent=list(engine.remove),
        reach=[list(r) for r in engine.reach],
        tool=tool,
    )
    # A failed install above, or an import that fails in the switch, ends the run before the link
    # moves: the services keep running the venv they run now.
    return _switched(engine, prune_now)


def _built(engine: EnginePlan, label: str, prune_now: bool) -> OperationMeta:
    """A source-built engine (llama.cpp): built into its versioned directory, then the link."""
    b = engine.build
    llamacpp.built(
        name=f"Build {b.binary} of {label} ({engine.build_flags[-1]})",
        directory=engine.venv,
        url=engine.source_url,
        filename=b.filename,
        sha256=b.sha256,
        subdir=b.subdir,
        flags=list(engine.build_flags),
        targets=list(b.targets),
        jobs=engine.build_jobs,
        tools=list(b.tools),
        source_key=dict(engine.reach).get(engine.source_url),
    )
    return _switched(engine, prune_now)


def _unpacked(engine: EnginePlan, label: str, prune_now: bool) -> OperationMeta:
    """An engine from a release archive (Ollama): unpacked into its versioned directory, then the link."""
    a = engine.archive
    ollama.unpacked(
        name=f"Unpack {label} from {a.filename}",
        directory=engine.venv,
        url=a.url,
        filename=a.filename,
        sha256=a.sha256,
        sums_url=a.sums_url,
        source_key=dict(engine.reach).get(a.url),
    )
    return _switched(engine, prune_now)


def _switched(engine: EnginePlan, prune_now: bool) -> OperationMeta:
    """An engine's link, moved once its check passes (its Python imports the engine; a built or
    unpacked binary runs ``--version``), and, with ``prune_now``, its oldest venvs pruned."""
    proof = (
        f"{engine.binary} --version" if engine.binary else f"imports {engine.module}"
    ) + " before it replaces a link"
    switch = venvs.current(
        name=f"{posixpath.basename(engine.link)} -> {posixpath.basename(engine.venv)} ({proof})",
        link=engine.link,
        venv=engine.venv,
        check=list(engine.check),
    )
    if prune_now:
        prune(engine)
    return switch


def prune(engine: EnginePlan) -> None:
    venvs.pruned(
        name=f"Prune old {engine.engine} venvs (keep {engine.keep})",
        directory=posixpath.dirname(engine.venv),
        engine=engine.engine,
        keep=engine.keep,
        current=posixpath.basename(engine.venv),
    )


@deploy("llmhost engine layer")
def apply(plan: HostPlan) -> dict[str, OperationMeta]:
    """Returns each engine's link switch, keyed by venv (for restarts). Old venvs are pruned by
    ``pruned``, after the services restarted onto the new ones."""
    return {engine.venv: venv(engine, plan.tool, prune_now=False) for engine in plan.engines}


@deploy("llmhost engine layer")
def pruned(plan: HostPlan) -> None:
    """Old engine venvs go once the services run on the planned ones (never under a running engine)."""
    for engine in plan.engines:
        prune(engine)
