"""Place model weights on a host and keep them matching a sha256 manifest."""

from __future__ import annotations

import json
import posixpath
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.api.exceptions import OperationError

from llmhost.facts import prefetch
from llmhost.facts.model import ModelDir
from llmhost.facts.prefetch import reads
from llmhost.manifest import dumps, stale_files, total_bytes


def _how(full: bool) -> str:
    return "sha256 of every file" if full else "manifest and sizes"


@reads(
    lambda src, dest, manifest, manifest_path, full=False, **_: [
        (ModelDir, {"path": dest, "manifest": manifest_path, "hashes": full})
    ]
)
@operation()
def pushed(src: str, dest: str, manifest: dict, manifest_path: str, full: bool = False):
    """
    Push a model directory from the controller, file by file, so that ``dest`` holds exactly the
    files of ``manifest`` and ``manifest_path`` holds the manifest.

    + src: model directory on the controller
    + dest: model directory on the host
    + manifest: the manifest of ``src`` (``llmhost.manifest.build_manifest``)
    + manifest_path: where the manifest is stored on the host (beside ``dest``)
    + full: re-hash every file on the host instead of trusting the stored manifest and sizes

    The check is cheap: the stored manifest and the file sizes on the host (``full``: every
    file's sha256). Only files that disagree are sent; files not in the manifest are removed.

    **Example:**

    .. code:: python

        model.pushed(
            name="Push the tiny model",
            src="build/models/tiny-qwen2",
            dest="/opt/llmhost/models/tiny-qwen2",
            manifest=build_manifest("build/models/tiny-qwen2", "controller:tiny-qwen2"),
            manifest_path="/opt/llmhost/models/tiny-qwen2.manifest.json",
        )
    """
    remote = prefetch.get(host, ModelDir, path=dest, manifest=manifest_path, hashes=full)
    stale = stale_files(manifest, remote)
    extra = sorted(set(remote["sizes"]) - set(manifest["files"]))
    if not stale and not extra and remote["manifest"] == manifest:
        host.noop(
            f"{dest} matches its manifest ({len(manifest['files'])} files, {total_bytes(manifest)} bytes; {_how(full)})"
        )
        return

    # What the manifest check read decides it all: one command removes the extra files, one makes
    # the directories, then each stale file is one upload (no per-file facts: a wheelhouse of 200
    # wheels took a minute that way), and their modes are set together.
    for chunk in _chunks([posixpath.join(dest, rel) for rel in extra]):
        yield StringCommand("rm", "-f", *map(QuoteString, chunk))
    targets = [posixpath.join(dest, rel) for rel in stale]
    dirs = sorted({posixpath.dirname(t) for t in targets} | {posixpath.dirname(manifest_path)})
    yield StringCommand("mkdir", "-p", *map(QuoteString, dirs))
    for rel, target in zip(stale, targets):
        yield FileUploadCommand(str(Path(src) / rel), target, remote_temp_filename=host.get_temp_filename(target))
    yield FileUploadCommand(
        StringIO(dumps(manifest)), manifest_path, remote_temp_filename=host.get_temp_filename(manifest_path)
    )
    for chunk in _chunks(targets + [manifest_path]):
        yield StringCommand("chmod", "644", *map(QuoteString, chunk))


def _chunks(paths: list[str], size: int = 256) -> list[list[str]]:
    """``paths`` in groups small enough for one command line each."""
    return [paths[i : i + size] for i in range(0, len(paths), size)]


@reads(
    lambda *, dest, manifest_path, full=False, **_: [
        (ModelDir, {"path": dest, "manifest": manifest_path, "hashes": full})
    ]
)
@operation()
def fetched(
    source: str,
    repo: str,
    spec: str,
    dest: str,
    manifest_path: str,
    python: str,
    tool: str,
    revision: str | None = None,
    locked: dict | None = None,
    endpoint: str | None = None,
    token_file: str | None = None,
    endpoint_key: str | None = None,
    full: bool = False,
    file: str | None = None,
):
    """
    Download a hub model on the host (huggingface_hub or modelscope; resumable), check every file
    against the hub's hashes (or the lock's) and keep its manifest beside it.

    + source: ``hf`` or ``modelscope``
    + repo: hub repository id, e.g. ``Qwen/Qwen2.5-0.5B-Instruct``
    + file: fetch only this file of the repository (one GGUF among its quantizations)
    + spec: the model as llmhost names it (``hf:Qwen/Qwen2.5-0.5B-Instruct``): the manifest's source
    + dest: model directory on the host
    + manifest_path: where the manifest is stored on the host
    + python: a Python with the hub clients (the model-tools venv's)
    + tool: path of llmhost's host-side tool on the host
    + revision: branch, tag or commit; default the repository's default branch
    + locked: the lock entry (``revision`` + ``files``): that commit is fetched and its hashes checked
    + endpoint: the hub endpoint (e.g. https://hf-mirror.com)
    + endpoint_key: the data key that sets it: the host probes the endpoint first (bounded time) and
      an unreachable one fails naming the key
    + token_file: a 0600 file on the host holding ``HF_TOKEN=<token>`` (gated or private
      repositories): the tool reads it, so the token is never on a command line
    + full: re-hash every file on the host instead of trusting the stored manifest and sizes

    With a lock entry, nothing is fetched when the stored manifest is the lock's and every file
    has its recorded size (``full``: its recorded sha256); otherwise only the files that disagree
    are fetched again, and files that are not the model's are removed. Without one, the hub is asked
    which commit the revision names, and what is already there is kept where its hash is the hub's
    (the model layer then writes the lock entry, so that happens on the first run only, or after
    the entry was deleted to move the model to the revision's newest commit).

    **Example:**

    .. code:: python

        model.fetched(
            name="Fetch Qwen2.5-0.5B",
            source="hf",
            repo="Qwen/Qwen2.5-0.5B-Instruct",
            spec="hf:Qwen/Qwen2.5-0.5B-Instruct",
            dest="/opt/llmhost/models/Qwen--Qwen2.5-0.5B-Instruct",
            manifest_path="/opt/llmhost/models/Qwen--Qwen2.5-0.5B-Instruct.manifest.json",
            python="/opt/llmhost/venvs/model-tools-1/bin/python",
            tool="/opt/llmhost/bin/llmhost-hosttool",
        )
    """
    remote = prefetch.get(host, ModelDir, path=dest, manifest=manifest_path, hashes=full)
    stored = remote["manifest"]
    only: list[str] = []
    if locked is not None:
        stale = stale_files(locked, remote)
        extra = sorted(set(remote["sizes"]) - set(locked["files"]))
        if not stale and not extra and stored == locked:
            host.noop(
                f"{dest} matches its lock ({spec} at {locked['revision'][:12]}, {len(locked['files'])} files, "
                f"{total_bytes(locked)} bytes; {_how(full)})"
            )
            return
        if stored and stored.get("revision") == locked["revision"]:
            only = stale  # the same commit: fetch just the files that disagree
    args = [
        python,
        tool,
        "fetch",
        "--source",
        source,
        "--repo",
        repo,
        "--spec",
        spec,
        "--dest",
        dest,
        "--manifest",
        manifest_path,
    ]
    if endpoint:
        args += ["--endpoint", endpoint]
    if endpoint_key:
        args += ["--endpoint-key", endpoint_key]
    if locked:
        args += ["--expect", json.dumps({"revision": locked["revision"], "files": locked["files"]}, sort_keys=True)]
    elif revision:
        args += ["--revision", revision]
    if file:
        args += ["--file", file]
    for rel in only:
        args += ["--only", rel]
    if token_file:
        args += ["--token-file", token_file]
    yield StringCommand(*(QuoteString(a) for a in args))


@reads(
    lambda path, spec, manifest_path, python, tool, full=False, **_: [
        (ModelDir, {"path": path, "manifest": manifest_path, "hashes": full})
    ]
)
@operation()
def on_host(path: str, spec: str, manifest_path: str, python: str, tool: str, full: bool = False):
    """
    A model directory that is already on the host (llmhost never writes into it): record its
    sha256 manifest on first sight, and fail when a file changed since then.

    + path: the model directory on the host
    + spec: the model as llmhost names it (``host:/data/models/qwen``): the manifest's source
    + manifest_path: where llmhost keeps the manifest (not inside ``path``)
    + python: a Python 3 on the host
    + tool: path of llmhost's host-side tool on the host
    + full: re-hash every file instead of trusting the manifest and sizes

    To accept a deliberate change to the directory, delete the manifest; the next run records the
    directory as it is.

    **Example:**

    .. code:: python

        model.on_host(
            name="Model /data/models/qwen",
            path="/data/models/qwen",
            spec="host:/data/models/qwen",
            manifest_path="/opt/llmhost/models/host--data--models--qwen.manifest.json",
            python="/usr/bin/python3",
            tool="/opt/llmhost/bin/llmhost-hosttool",
        )
    """
    remote = prefetch.get(host, ModelDir, path=path, manifest=manifest_path, hashes=full)
    stored = remote["manifest"]
    if stored is None or stored.get("source") != spec:
        if not remote["sizes"]:
            raise OperationError(f"{spec}: {path} holds no files on this host")
        yield StringCommand(
            *(
                QuoteString(a)
                for a in (python, tool, "manifest", "--dir", path, "--manifest", manifest_path, "--source", spec)
            )
        )
        return
    stale = stale_files(stored, remote)
    extra = sorted(set(remote["sizes"]) - set(stored["files"]))
    if stale or extra:
        raise OperationError(
            f"{spec}: files changed since llmhost recorded the directory: {', '.join(stale + extra)} "
            f"(delete {manifest_path} to accept the directory as it is now)"
        )
    host.noop(f"{path} matches its manifest ({len(stored['files'])} files, {total_bytes(stored)} bytes; {_how(full)})")
