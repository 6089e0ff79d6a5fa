"""Secrets generated on the host, once."""

from __future__ import annotations

import shlex

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File

from llmhost.facts import prefetch
from llmhost.facts.prefetch import reads


@reads(lambda path, variable, nbytes=24, **_: [(File, {"path": path})])
@operation()
def generated(path: str, variable: str, nbytes: int = 24):
    """
    Write ``VARIABLE=<random hex>`` to ``path`` (mode 0600) unless the file already exists.

    + path: the env file to create, e.g. ``/etc/llmhost/qwen.key.env``
    + variable: the variable name, e.g. ``VLLM_API_KEY``
    + nbytes: random bytes (from /dev/urandom) in the value

    The value never passes through the controller and is kept on later runs; delete the file
    to rotate it.

    **Example:**

    .. code:: python

        secret.generated(
            name="API key of qwen",
            path="/etc/llmhost/qwen.key.env",
            variable="VLLM_API_KEY",
        )
    """
    if prefetch.get(host, File, path=path):
        host.noop(f"{path} exists (kept)")
        return
    value = f"$(head -c {int(nbytes)} /dev/urandom | od -An -tx1 | tr -d ' \\n')"
    script = f"umask 077; printf '%s=%s\\n' {shlex.quote(variable)} \"{value}\" > {shlex.quote(path)}"
    yield StringCommand("sh", "-c", QuoteString(script))
