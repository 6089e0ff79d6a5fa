"""sha256 manifests of model directories: what exactly a host should hold.

A manifest is JSON with sorted keys and no timestamps, so the same files always give the same
bytes. The host-side tool (llmhost/hostside/llmhost_hosttool.py) writes the same format.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

MANIFEST_VERSION = 1
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_file(name: str = "sha256.json") -> Path:
    """A cache of the controller's: ``sha256.json`` holds file hashes (a deploy hashes the
    wheelhouse, a GB, and the models it pushes on every run and for every host),
    ``modelinfo.GGUF_CACHE`` the planner's numbers of GGUF files (read once, not per run: ~80 ms of
    the controller's CPU)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "llmhost" / name


_memo: dict[str, list] = {}  # resolved path -> [size, inode, mtime_ns, ctime_ns, sha256, hashed at (ns)]
_RACY_NS = 2 * 10**9


def _now_ns() -> int:
    return time.time_ns()


def by_stat(
    name: str, memo: dict, paths: list[Path], compute: Callable[[Path], Any]
) -> dict[Path, tuple[Any, os.stat_result]]:
    """``compute(path)`` (a JSON value) of each of ``paths``, with its stat: from ``memo`` or the
    cache file ``name`` where the file keeps the size, inode, mtime and ctime (which no one sets
    by hand) it had when its value was computed, as git's index trusts them."""
    if not memo:
        with contextlib.suppress(OSError, ValueError):
            memo.update(json.loads(cache_file(name).read_text()))
    out, changed = {}, False
    for path in paths:
        st = path.stat()
        key, stamp = str(path.resolve()), [st.st_size, st.st_ino, st.st_mtime_ns, st.st_ctime_ns]
        entry = memo.get(key)
        # a file changed within the clock's granularity of its reading could keep its times:
        # such an entry ("racy", as git calls it) is computed again until it is old enough
        if (
            not isinstance(entry, list)
            or len(entry) != 6
            or entry[:4] != stamp
            or max(st.st_mtime_ns, st.st_ctime_ns) > entry[5] - _RACY_NS
        ):
            memo[key], changed = [*stamp, compute(path), _now_ns()], True
        out[path] = (memo[key][4], st)
    if changed:
        with contextlib.suppress(OSError):
            cache = cache_file(name)
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(f".{cache.name}.{os.getpid()}")
            kept = {k: v for k, v in memo.items() if os.path.exists(k)}  # files gone: forgotten
            tmp.write_text(json.dumps(kept, sort_keys=True))
            tmp.replace(cache)
    return out


def _hashes(paths: list[Path]) -> dict[Path, tuple[str, int]]:
    """Each file's (sha256, size), from one stat each and the cache where it holds."""
    return {path: (sha, st.st_size) for path, (sha, st) in by_stat("sha256.json", _memo, paths, sha256_file).items()}


def build_manifest(directory: str | Path, source: str) -> dict:
    """Manifest of every regular file under ``directory`` (hidden files skipped)."""
    root = Path(directory)
    paths = [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).as_posix().split("/"))
    ]
    hashes = _hashes(paths)
    return {
        "version": MANIFEST_VERSION,
        "source": source,
        "files": {
            path.relative_to(root).as_posix(): {"sha256": sha, "size": size} for path, (sha, size) in hashes.items()
        },
    }


_runs: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # pyinfra state -> {(directory, source): manifest}


def run_manifest(state, directory: str | Path, source: str) -> dict:
    """``build_manifest`` once per pyinfra run (``state``): a deploy pushes the same controller
    directory (the wheelhouse, a model) to every host of the inventory, and the controller's files
    are taken as they were when the run first read them."""
    made = _runs.setdefault(state, {})
    key = (str(Path(directory).resolve()), source)
    if key not in made:
        made[key] = build_manifest(directory, source)
    return made[key]


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
