"""Ollama on a host: its release unpacked from the tarball, and models imported from GGUF files."""

from __future__ import annotations

import shlex
from io import StringIO

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.facts.files import File

from llmhost.facts import prefetch
from llmhost.facts.ollama import OllamaModel
from llmhost.facts.prefetch import reads
from llmhost.operations.download import check, fetch, listed
from llmhost.operations.llamacpp import BUILT


@reads(lambda directory, url, filename, **_: [(File, {"path": f"{directory}/bin/ollama"})])
@operation()
def unpacked(
    directory: str,
    url: str,
    filename: str,
    sha256: str | None = None,
    sums_url: str | None = None,
    source_key: str | None = None,
):
    """
    Unpack an Ollama release tarball (``bin/ollama``, ``lib/ollama``) into ``directory``, checked by
    sha256 first. Never Ollama's install.sh (it installs ``cuda-drivers`` where it finds no
    nvidia-smi).

    + directory: the versioned install directory (``/opt/llmhost/venvs/ollama-0.22.1-1a2b3c4d``)
    + url: the tarball (https://, or file:// for a copy shipped in the wheelhouse)
    + filename: its name (``ollama-linux-amd64.tar.zst``), as listed in the release's sha256sum.txt
    + sha256: its expected sha256; ``None``: the line for ``filename`` in ``sums_url``
    + sums_url: the release's ``sha256sum.txt`` (``<sha256>  ./<file>`` lines)
    + source_key: the data key that sets ``url``, named when it cannot be fetched (bounded time)

    A directory that has ``bin/ollama`` changes nothing.

    **Example:**

    .. code:: python

        ollama.unpacked(
            name="Ollama 0.22.1",
            directory="/opt/llmhost/venvs/ollama-0.22.1-1a2b3c4d",
            url="https://github.com/ollama/ollama/releases/download/v0.22.1/ollama-linux-amd64.tar.zst",
            filename="ollama-linux-amd64.tar.zst",
            sums_url="https://github.com/ollama/ollama/releases/download/v0.22.1/sha256sum.txt",
        )
    """
    if prefetch.get(host, File, path=f"{directory}/bin/ollama"):
        host.noop(f"{directory}/bin/ollama is unpacked")
        return
    archive, sums = f"{directory}/{filename}", f"{directory}/sha256sum.txt"
    yield StringCommand("mkdir", "-p", QuoteString(directory))
    yield StringCommand(
        "[", "-e", QuoteString(f"{directory}/{BUILT}"), "]", "||", "touch", QuoteString(f"{directory}/{BUILT}")
    )
    yield fetch(url, archive, source_key)
    if sha256:
        yield check(sha256, archive)
    else:
        yield fetch(sums_url, sums, source_key)
        yield listed(sums, archive, filename)  # the release's line for this file
    yield StringCommand("tar", "-I", "zstd", "-xf", QuoteString(archive), "-C", QuoteString(directory))
    yield StringCommand("rm", "-f", QuoteString(archive), QuoteString(sums))


@operation()
def imported(
    model: str, modelfile: str, text: str, models_dir: str, binary: str, url: str, wait: int = 120, force: bool = False
):
    """
    Import a model into a running Ollama with ``ollama create NAME -f Modelfile``; skipped when the
    model is in the store and was imported from this same Modelfile.

    + model: the model's name in Ollama (``qwen``, ``gemma:9b``)
    + modelfile: where its Modelfile is kept on the host (written once the import succeeded)
    + text: the Modelfile (``FROM /path/model.gguf`` and ``PARAMETER`` lines)
    + models_dir: the daemon's OLLAMA_MODELS (where the model's manifest lands)
    + binary: the ollama client
    + url: the daemon, as the client reaches it (``http://127.0.0.1:11434``)
    + wait: seconds to wait for the daemon to answer before importing
    + force: import even when unchanged (its GGUF's bytes changed under the same path)

    **Example:**

    .. code:: python

        ollama.imported(
            name="Import gemma:9b",
            model="gemma:9b",
            modelfile="/opt/llmhost/ollama/gemma.Modelfile",
            text="FROM /opt/llmhost/models/gemma/gemma-2-9b-it-Q5_K_M.gguf\\nPARAMETER num_ctx 4096\\n",
            models_dir="/opt/llmhost/ollama/models",
            binary="/usr/local/bin/ollama",
            url="http://127.0.0.1:11434",
        )
    """
    present = host.get_fact(OllamaModel, models_dir=models_dir, model=model, modelfile=modelfile)
    if not force and present["imported"] and present["modelfile"] == text:
        host.noop(f"{model} is imported from {modelfile}")
        return
    staged = f"{modelfile}.new"
    yield FileUploadCommand(StringIO(text), staged)
    # the daemon may still be starting (a restart of this run): the client needs it up
    yield StringCommand(
        f"for _ in $(seq {int(wait)}); do curl -fsS -o /dev/null {shlex.quote(url)} && break; sleep 1; done"
    )
    yield StringCommand(
        f"OLLAMA_HOST={url}", QuoteString(binary), "create", QuoteString(model), "-f", QuoteString(staged)
    )
    yield StringCommand("mv", QuoteString(staged), QuoteString(modelfile))
