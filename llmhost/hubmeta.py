"""A hub model's metadata, read on the controller before any host is touched: with huggingface_hub,
against the endpoint and with the token the host will fetch with. What is read: the revision's
commit and file list with sizes, config.json (a GGUF repository's, or its card's base_model's), and
the safetensors headers (dtype and parameter counts, by HTTP range: no weights downloaded).

What a plan used is kept beside the model's lock on the controller (``<lock>.meta.json``): a
locked model plans from it with no network, and a rebuild plans the same. A missing repository,
revision or file, a gated repository without a token, a repository without weights an engine loads,
an endpoint that does not answer: one line naming the data key (did-you-mean where one is close).
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import replace
from pathlib import Path

from llmhost.modelconfig import parse_config, with_params
from llmhost.modelinfo import ModelInfo, ModelInfoError

HF_DEFAULT = "https://huggingface.co"
META_VERSION = 1  # a new number whenever what is kept changes: older files are read again from the hub

# safetensors dtypes -> bytes per element (the format's own list)
DTYPE_BYTES = {
    "F64": 8,
    "I64": 8,
    "U64": 8,
    "F32": 4,
    "I32": 4,
    "U32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "U16": 2,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "F8_E8M0": 1,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F4": 0.5,
    "F6_E2M3": 0.75,
    "F6_E3M2": 0.75,
}
# A GGUF file's quantization, as the community names files (llama.cpp's file types)
_GGUF_TYPE = re.compile(
    r"[-_.](I?Q[1-8](?:_[0-9KSMLXN]+)*|IQ[1-4]_[A-Z]+|BF16|F16|F32|MXFP4(?:_MOE)?|TQ[12]_0)(?:[-_.]|$)", re.IGNORECASE
)


class HubError(ValueError):
    """What a hub said of a model, in one line (the caller names the data key)."""


def meta_file(lock_file: str) -> Path:
    """Where the metadata a plan used is kept: beside the model's lock entry."""
    return Path(lock_file).with_suffix(".meta.json")


def gguf_type(filename: str) -> str | None:
    match = _GGUF_TYPE.search(Path(filename).name.removesuffix(".gguf") + ".")
    return match.group(1).upper() if match else None


def _weights(paths) -> list[str]:
    """The weight files of a repository's listing: its safetensors, else its PyTorch pickles."""
    return [p for p in paths if p.endswith(".safetensors")] or [p for p in paths if p.endswith((".bin", ".pt"))]


def _client(endpoint: str | None, token: str | None):
    from huggingface_hub import HfApi

    # token=False: never a token saved on the controller; the host fetches with the data's alone
    return HfApi(endpoint=(endpoint or HF_DEFAULT).rstrip("/"), token=token or False)


def _close(repo: str, candidates: list[str]) -> str:
    near = difflib.get_close_matches(repo.lower(), [c.lower() for c in candidates], n=1, cutoff=0.9)
    if not near:
        return ""
    match = next((c for c in candidates if c.lower() == near[0].lower()), near[0])
    return f"; did you mean {match}?"


def _candidates(api, repo: str, known: list[str]) -> list[str]:
    """Ids a typo of ``repo`` may mean: the catalog's and the lock's, and the hub's search by its
    author (where the hub has that API: huggingface.co and hf-mirror do)."""
    from huggingface_hub.errors import HTTPError

    try:
        org, name = repo.split("/")
        stem = re.split(r"[-_.]", name)[0]  # Qwen2.5-0.5B-Instrcut: the org's repositories named Qwen2*
        found = [m.id for m in api.list_models(author=org, search=stem, limit=500)]
    except (HTTPError, ValueError, OSError):  # a hub without the search API (olah answers HTML): the known ids
        found = []
    return list(known) + found


def read(repo: str, revision: str | None, file: str | None, endpoint: str | None, token: str | None, known=()) -> dict:
    """The metadata of ``repo`` at ``revision`` (its default branch where None); ``file``: the one
    GGUF file a service serves. HubError (one line) where the hub has no such thing or cannot be
    read."""
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        NotASafetensorsRepoError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
        SafetensorsParsingError,
    )
    from huggingface_hub.errors import HTTPError as TransportError  # the HTTP client's own (no answer)
    from huggingface_hub.utils import disable_progress_bars

    disable_progress_bars()  # one line per model, never a bar of the headers it parsed
    api = _client(endpoint, token)
    where = endpoint or HF_DEFAULT
    try:
        try:
            info = api.model_info(repo, revision=revision or "main")
        except GatedRepoError:
            raise  # a RepositoryNotFoundError too: said below
        except (RepositoryNotFoundError, RevisionNotFoundError):
            if revision:
                try:  # the repository is there and the revision is not (some servers answer 404/401 alike)
                    api.model_info(repo, revision="main")
                except RepositoryNotFoundError:
                    pass
                else:
                    raise HubError(f"{repo} has no revision {revision!r} on {where}") from None
            raise HubError(
                f"{repo} is not a model repository on {where}"
                + (_close(repo, _candidates(api, repo, list(known))) or " (private? set llmhost_hf_token)")
            ) from None
        commit = info.sha or revision
        tree = {
            entry.path: int(entry.size or 0)
            for entry in api.list_repo_tree(repo, revision=commit, recursive=True)
            if getattr(entry, "size", None) is not None
        }
        meta = {"version": META_VERSION, "repo": repo, "revision": commit, "files": dict(sorted(tree.items()))}
        ggufs = sorted(p for p in tree if p.endswith(".gguf"))
        weights = _weights(tree)
        if file:
            if file not in tree:
                near = difflib.get_close_matches(file, ggufs, n=1, cutoff=0.6)
                raise HubError(
                    f"{repo}@{commit[:12]} has no file {file}"
                    + (f"; did you mean {near[0]}?" if near else f" (its GGUF files: {', '.join(ggufs) or 'none'})")
                )
        elif not weights:
            if ggufs:
                raise HubError(
                    f"{repo} holds GGUF files only: name one, e.g. hf:{repo}/{ggufs[0]} (of {len(ggufs)} files)"
                )
            raise HubError(f"{repo}@{commit[:12]} has no weights an engine loads (no *.safetensors, *.bin or *.gguf)")
        if "config.json" in tree:
            meta["config"] = _json(api, repo, "config.json", commit)
        elif file:
            base = _base_model(info)
            if not base:
                raise HubError(
                    f"{repo} has no config.json and its card names no base_model: llmhost cannot size {file}"
                )
            base_info = api.model_info(base, revision="main")
            meta["base_model"] = base
            meta["base_revision"] = base_info.sha
            meta["config"] = _json(api, base, "config.json", base_info.sha)
        else:
            raise HubError(f"{repo}@{commit[:12]} has no config.json")
        if not file and any(p.endswith(".safetensors") for p in tree):
            try:
                counts = api.get_safetensors_metadata(repo, revision=commit).parameter_count
                meta["tensors"] = dict(sorted(counts.items()))
            except (NotASafetensorsRepoError, SafetensorsParsingError):
                pass  # sized by its files' bytes
        return meta
    except GatedRepoError:
        raise HubError(
            f"{repo} is gated: accept its terms on {where}/{repo} and set llmhost_hf_token to a token of that account"
        ) from None
    except EntryNotFoundError as e:
        raise HubError(f"{repo}: {str(e).splitlines()[0]}") from None
    except HfHubHTTPError as e:
        raise HubError(f"{where} answered {str(e).splitlines()[0]} for {repo}") from None
    except (TransportError, OSError) as e:
        raise HubError(
            f"{where} cannot be reached from the controller to read {repo}'s metadata "
            f"({type(e).__name__}); set llmhost_hf_endpoint to a reachable mirror"
        ) from None


def _base_model(info) -> str | None:
    base = getattr(info.card_data, "base_model", None) if info.card_data else None
    if isinstance(base, list):
        base = base[0] if len(base) == 1 else None
    return base if isinstance(base, str) and "/" in base else None


def _json(api, repo: str, path: str, revision: str) -> dict:
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session, hf_raise_for_status

    url = f"{api.endpoint}/{repo}/resolve/{revision}/{path}"
    response = get_session().get(url, headers=build_hf_headers(token=api.token), timeout=constants.HF_HUB_ETAG_TIMEOUT)
    hf_raise_for_status(response)
    try:
        value = response.json()
    except ValueError as e:
        raise HubError(f"{repo}/{path} is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise HubError(f"{repo}/{path} is not a JSON object")
    return value


def model_info(meta: dict, file: str | None) -> ModelInfo:
    """The planner's numbers from a repository's metadata: the checkpoint's real bytes (its
    safetensors headers' dtype counts, else its weight files' sizes; a GGUF: its file), parameters
    (the headers' count where unquantized, else worked out from the config), MoE, MLA, windows."""
    config = meta["config"]
    files = meta["files"]
    if file:
        size = files[file]
        info = with_params(parse_config(config, size), config)
        kind = gguf_type(file) or "unknown"
        return replace(info, gguf_file=Path(file).name, gguf_type=kind, quantization=None, bits=None)
    tensors = meta.get("tensors")
    if tensors:
        size = int(sum(count * DTYPE_BYTES.get(dtype, 2) for dtype, count in tensors.items()))
        counted = sum(tensors.values())
    else:
        size, counted = sum(files[p] for p in _weights(files)), None
    info = parse_config(config, size)
    stored = next((d for d in ("BF16", "F16", "F32") if d in (tensors or {})), None)
    if stored and not info.quantization:
        info = replace(info, torch_dtype={"BF16": "bfloat16", "F16": "float16", "F32": "float32"}[stored])
    return with_params(info, config, None if info.quantization else counted)


def cached(path: Path, revision: str | None) -> dict | None:
    """The metadata kept at ``path`` for ``revision`` (a commit), else None."""
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if isinstance(meta, dict) and meta.get("version") == META_VERSION and revision and meta.get("revision") == revision:
        return meta
    return None


def keep(path: Path, meta: dict) -> None:
    """Write ``meta`` beside the lock (sorted, no time: the same metadata is the same bytes)."""
    text = json.dumps(meta, indent=1, sort_keys=True) + "\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text)
        tmp.replace(path)


_memo: dict[tuple, dict] = {}  # one read per model a run, whatever the number of hosts naming it


def _known(lock_dir: Path | None) -> list[str]:
    from llmhost import catalog

    ids = list(catalog.CATALOG) + [g.repo for files in catalog.GGUF.values() for g in files]
    for path in sorted(lock_dir.glob("hf--*.json")) if lock_dir and lock_dir.is_dir() else ():
        if not path.name.endswith(".meta.json"):  # a lock entry: hf--org--name[@rev].json
            ids.append(path.name.removeprefix("hf--").removesuffix(".json").split("@")[0].replace("--", "/", 1))
    return list(dict.fromkeys(ids))


def attach(settings, write: bool = False):
    """``settings`` with each Hugging Face model's numbers from its metadata: what the lock's
    metadata file says of the locked commit (no network), else the catalog's (a cache, no network),
    else the hub's, read now (kept beside the lock when ``write``: a deploy). DataError naming the
    service's model key where the hub has no such model or cannot be read."""
    from llmhost.plan import endpoints
    from llmhost.settings import DataError

    endpoint = endpoints(settings)["hf"]
    services = []
    for index, wish in enumerate(settings.services):
        source = wish.model
        if source.kind != "hf":
            services.append(wish)
            continue
        revision = source.locked["revision"] if source.locked else source.revision
        path = meta_file(source.lock_file) if source.lock_file else None
        meta = cached(path, revision) if path and source.locked else None
        if meta is None and source.info is not None:
            services.append(wish)  # the catalog's numbers
            continue
        if meta is None:
            memo = (endpoint, bool(settings.hf_token), source.ref, revision, source.file)
            try:
                meta = _memo.get(memo) or read(
                    source.ref,
                    revision,
                    source.file,
                    endpoint,
                    settings.hf_token,
                    _known(path.parent if path else None),
                )
            except HubError as e:
                raise DataError(f"llmhost_services[{index}].model", str(e)) from None
            _memo[memo] = meta
        try:
            info = model_info(meta, source.file)
        except (ModelInfoError, KeyError) as e:
            raise DataError(f"llmhost_services[{index}].model", f"{source.spec}: config.json: {e}") from None
        if write and path:
            keep(path, meta)
        services.append(replace(wish, model=replace(source, info=info)))
    return replace(settings, services=tuple(services))


__all__ = ["HubError", "ModelInfoError", "attach", "cached", "keep", "meta_file", "model_info", "read"]
