"""sha256 manifests of model directories: what exactly a host should hold.

A manifest is JSON with sorted keys and no timestamps, so the same files always give the same
bytes. The host-side tool (llmhost/hostside/llmhost_hosttool.py) writes the same format.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

MANIFEST_VERSION = 1
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def build_manifest(directory: str | Path, source: str) -> dict:
    """Manifest of every regular file under ``directory`` (hidden files skipped)."""
    root = Path(directory)
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue
        files[rel] = {"sha256": sha256_file(path), "size": path.stat().st_size}
    return {"version": MANIFEST_VERSION, "source": source, "files": files}


def dumps(manifest: dict) -> str:
    return json.dumps(manifest, indent=1, sort_keys=True) + "\n"


def total_bytes(manifest: dict) -> int:
    return sum(f["size"] for f in manifest["files"].values())


def stale_files(manifest: dict, remote: dict) -> list[str]:
    """Files whose copy on the host may differ from ``manifest``: not recorded as this hash, not
    this size, or (when the fact hashed them: llmhost_verify=full) not this sha256."""
    recorded = (remote["manifest"] or {}).get("files", {})
    hashes = remote.get("hashes")
    return [
        rel
        for rel, entry in sorted(manifest["files"].items())
        if recorded.get(rel) != entry
        or remote["sizes"].get(rel) != entry["size"]
        or (hashes is not None and hashes.get(rel) != entry["sha256"])
    ]
