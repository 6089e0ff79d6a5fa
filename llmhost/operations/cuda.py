"""Which of the CUDA toolkits installed side by side ``/usr/local/cuda`` points to."""

from __future__ import annotations

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString

from llmhost.facts.nvidia import CudaToolkits
from llmhost.operations.symlink import swap


@operation()
def default(version: str, alternatives: bool = False, installing: bool = False):
    """
    Point ``/usr/local/cuda`` at ``/usr/local/cuda-<version>``.

    + version: the toolkit (``12.6``); it must be installed
    + alternatives: the link is update-alternatives' ``cuda`` group (NVIDIA's repository packages
      make it so): switch with ``update-alternatives --set`` (registering the toolkit first, at its
      packages' priority, when a runfile install left it out), so apt and llmhost agree on it;
      otherwise the symlink is replaced atomically (``ln -sfn`` + ``mv -T``)
    + installing: the toolkit is installed earlier in the same run (by apt, from NVIDIA's
      repository), so the facts read before the run cannot show it yet

    A link that already resolves to the toolkit changes nothing.

    **Example:**

    .. code:: python

        cuda.default(name="CUDA 12.6 as /usr/local/cuda", version="12.6")
    """
    toolkit = f"/usr/local/cuda-{version}"
    cuda = host.get_fact(CudaToolkits)
    if version not in cuda["toolkits"] and not installing:
        raise ValueError(f"CUDA {version} is not installed ({', '.join(cuda['toolkits']) or 'no toolkits'})")
    if cuda["default"] == version:
        host.noop(f"/usr/local/cuda -> {toolkit}")
        return
    if alternatives:
        # NVIDIA's packages register X.Y at priority XY (cuda-12.6 -> 126); --install is a no-op
        # for a path already registered at that priority
        priority = version.replace(".", "")
        yield StringCommand(
            "update-alternatives", "--install", "/usr/local/cuda", "cuda", QuoteString(toolkit), priority
        )
        yield StringCommand("update-alternatives", "--set", "cuda", QuoteString(toolkit))
        return
    yield from swap(toolkit, "/usr/local/cuda", "/usr/local/cuda.llmhost-new")
