"""A service's model as the data names it: a hub id ("hf:", "modelscope:", with a revision or one
file), a directory on the controller or on the host; and the lock that pins a hub model."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llmhost import catalog
from llmhost.modelconfig import read_model_dir
from llmhost.modelinfo import ModelInfo, ModelInfoError
from llmhost.settings.values import DataError, _str

HUB_SOURCES = ("hf", "modelscope")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
# a branch, tag or commit as git and the hubs name them (refs/pr/1 too): no spaces, no "..", no ~^:?*[\\
_REVISION = re.compile(r"(?!.*\.\.)[A-Za-z0-9][\w./-]{0,255}")
_GGUF_PATH = re.compile(r"^(?!\.\.?(/|$))[\w.-]+(/(?!\.\.?(/|$))[\w.-]+)*$")  # no . or .. parts


@dataclass(frozen=True)
class ModelSource:
    """Where a service's weights come from."""

    # Recorded as the manifest's source: the value as written for directories (stable across
    # checkouts), the canonical "hf:org/name[@rev]" / "modelscope:org/name[@rev]" for hub ids.
    spec: str
    kind: str  # "hf" | "modelscope" (fetched on the host) | "controller" (pushed) | "host" (already there)
    ref: str  # repo id, absolute directory on the controller, or absolute directory on the host
    revision: str | None
    slug: str  # directory name under <root>/models on the host
    info: ModelInfo | None  # config numbers: from the directory, or the catalog for known hub ids
    locked: dict | None = None  # hub models: the lock entry (resolved revision + file hashes), if any
    lock_file: str | None = None  # hub models: where the lock entry lives on the controller
    file: str | None = None  # hub models: the one file fetched from the repository (a GGUF), else all


def _hub_parts(ref: str) -> tuple[str, str, str]:
    """(org/name, file in it or "", revision or "") of a hub reference ``org/name[/file.gguf][@rev]``."""
    path, _, revision = ref.partition("@")
    org, _, rest = path.partition("/")
    name, _, file = rest.partition("/")
    return f"{org}/{name}", file, revision


def _hub(key: str, kind: str, ref: str, value: str) -> ModelSource:
    repo, file, revision = _hub_parts(ref)
    path = f"{repo}/{file}" if file else repo
    if file and (not file.endswith(".gguf") or not _GGUF_PATH.fullmatch(file)):
        raise DataError(
            key, f"a hub id names the repository, or one .gguf file in it ({kind}:org/name/file.gguf), got {value!r}"
        )
    bad_revision = (revision or ref.endswith("@")) and not _REVISION.fullmatch(revision)
    if not _REPO.fullmatch(repo) or bad_revision:
        raise DataError(key, f"expected a hub id like {kind}:Qwen/Qwen2.5-1.5B-Instruct[@revision], got {value!r}")
    spec = f"{kind}:{path}" + (f"@{revision}" if revision else "")
    info = catalog.gguf_lookup(repo, file) if file else catalog.lookup(repo)
    slug = repo.replace("/", "--") + (f"--{file.removesuffix('.gguf').replace('/', '--')}" if file else "")
    return ModelSource(
        spec, kind, repo, revision or None, slug if kind == "hf" else f"{kind}--{slug}", info, file=file or None
    )


def parse_model(key: str, value: Any, base: Path, estimate: bool = False) -> ModelSource:
    """Parse a service's ``model`` value (see group_data/all.py for the accepted forms)."""
    given = _str(key, value)
    value = given.strip()
    if value != given and value.startswith(("host:", "controller:", ".", "/", "~")):
        # a hub id's stray space is no part of it; a directory's name may end in one
        raise DataError(key, f"{given!r} begins or ends with whitespace: write the directory exactly")
    for kind in HUB_SOURCES:
        if value.startswith(f"{kind}:"):
            return _hub(key, kind, value.removeprefix(f"{kind}:"), value)
    if value.startswith("host:"):
        raw = value.removeprefix("host:")
        if not raw.startswith("/") or "/../" in f"{raw}/" or len(raw.rstrip("/")) < 2:
            raise DataError(key, f"host: takes an absolute directory on the host, got {value!r}")
        path = raw.rstrip("/")
        return ModelSource(value, "host", path, None, "host--" + path.strip("/").replace("/", "--"), None)
    repo, file, _ = _hub_parts(value)
    if _REPO.fullmatch(repo) and (not file or file.endswith(".gguf")) and not value.startswith((".", "/", "~")):
        return _hub(key, "hf", value, value)
    if value.startswith(("controller:", ".", "/", "~")):
        raw = value.removeprefix("controller:")
        path = Path(raw).expanduser()
        path = path if path.is_absolute() else (base / path)
        path = path.resolve()
        if not path.is_dir():
            raise DataError(
                key,
                f"model directory {raw} does not exist on the controller ({path})"
                + (f"; create the demo model with: llmhost tiny-model {raw}" if "tiny" in raw else ""),
            )
        try:
            info = read_model_dir(path, estimate)
        except ModelInfoError as e:
            raise DataError(key, f"model directory {raw}: {e}")
        return ModelSource(value, "controller", str(path), None, path.name, info)
    raise DataError(
        key,
        f"expected a hub id (org/name, hf:org/name[@rev], modelscope:org/name[@rev]), a directory on the "
        f"controller (./dir, /dir, controller:dir) or on the host (host:/dir), got {value!r}",
    )


def lock_file_name(spec: str) -> str:
    """The lock entry's file name for a hub model spec (one JSON file per model)."""
    return re.sub(r"[^A-Za-z0-9._@-]+", "--", spec) + ".json"


def _locked(source: ModelSource, lock_dir: Path) -> ModelSource:
    """Attach the controller's lock entry (if any) to a hub model."""
    path = lock_dir / lock_file_name(source.spec)
    entry = None
    if path.exists():
        try:
            entry = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise DataError(
                "llmhost_model_lock_dir", f"{path}: not a readable lock entry ({e}); delete it to re-resolve"
            )
        files = entry.get("files") if isinstance(entry, dict) else None
        if (
            entry.get("source") != source.spec
            or not isinstance(entry.get("revision"), str)
            or not isinstance(files, dict)
            or not all(isinstance(f, dict) and {"sha256", "size"} <= set(f) for f in files.values())
        ):
            raise DataError(
                "llmhost_model_lock_dir",
                f"{path}: not the lock entry of {source.spec} (needs source, revision and files with sha256 and "
                f"size); delete it to re-resolve",
            )
    return replace(source, locked=entry, lock_file=str(path))
