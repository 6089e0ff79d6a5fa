"""The data contract: turn a host's pyinfra data into validated, typed wishes.

Names and defaults come from ``group_data/all.py`` (the one place they are documented). Every
problem becomes a :class:`DataError` whose message is one line starting with the key, raised
before any operation is queued, so a bad value never reaches a host.
"""

from __future__ import annotations

import ipaddress
import json
import re
import runpy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from pyinfra.api.exceptions import DeployError

from llmhost import catalog
from llmhost.distros import MIRROR_TARGETS, TUNA
from llmhost.engines import GGUF_TYPES, WEBUI_MANAGED_ENV
from llmhost.modelinfo import ModelInfo, ModelInfoError, read_model_dir
from llmhost.resources import defaults_file

ENGINES = ("auto", "vllm", "vllm-cpu", "llamacpp", "ollama")
SUPERVISORS = ("auto", "systemd", "tmux")
DTYPES = ("auto", "bfloat16", "float16", "float32")
WORKLOADS = ("throughput", "latency")
SERVICE_KEYS = (
    "name",
    "model",
    "engine",
    "host",
    "port",
    "served_model_name",
    "max_model_len",
    "max_num_seqs",
    "dtype",
    "quantization",
    "tensor_parallel_size",
    "gpu_memory_utilization",
    "api_key",
    "gguf",
    "workload",
    "nodes",
    "master_port",
)
QUANTIZATIONS = ("bitsandbytes", "gptq", "awq", "fp8")
VERIFY_LEVELS = ("sizes", "full")
HUB_SOURCES = ("hf", "modelscope")
ENV_MANAGERS = ("venv", "conda")
PINNABLE_ENVS = ("vllm-cpu", "vllm", "llamacpp", "model-tools")  # engine names of llmhost/engines.py
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_REPO = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_GGUF_PATH = re.compile(r"^(?!\.\.?(/|$))[\w.-]+(/(?!\.\.?(/|$))[\w.-]+)*$")  # no . or .. parts
_SERVED = re.compile(r"^[\w.:/-]{1,128}$")
_OLLAMA_NAME = re.compile(
    r"^[a-z0-9][a-z0-9._-]{0,79}(:[a-z0-9._-]{1,80})?$"
)  # name[:tag], as `ollama create` takes it
_KEEP_ALIVE = re.compile(r"^-?(\d+|(\d+(\.\d+)?(ms|s|m|h))+)$")  # Go durations, or seconds
_VERSION = re.compile(r"^\d+\.\d+\.\d+(-rc\d+)?$")


class DataError(DeployError):
    """A user data value is wrong. ``str(err)`` is one line: ``<key>: <problem>``."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key


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


@dataclass(frozen=True)
class ServiceWish:
    name: str
    model: ModelSource
    engine: str
    host: str
    port: int
    served_model_name: str
    max_model_len: int | None
    max_num_seqs: int | None
    dtype: str
    api_key: str | None = field(repr=False)
    quantization: str | None = None
    tensor_parallel_size: int | None = None
    gpu_memory_utilization: float | None = None
    gguf: str | None = None  # convert the HF checkpoint to a GGUF of this llama-quantize type on the host
    workload: str = "throughput"  # what engine auto optimises on a CPU host: many streams, or one
    # one vLLM across these inventory hosts (the first is the head: the API server); () = this host alone
    nodes: tuple[str, ...] = ()
    master_port: int = 29501  # the head's rendezvous port (torch.distributed), with nodes

    @property
    def bind_public(self) -> bool:
        return not ipaddress.ip_address(self.host).is_loopback


@dataclass(frozen=True)
class GatewayWish:
    """llmhost_gateway: a LiteLLM proxy on this host in front of the services of the inventory."""

    host: str = "127.0.0.1"
    port: int = 4000
    hosts: tuple[str, ...] | None = None  # inventory host names (None: every host of the inventory)
    aliases: tuple[tuple[str, str], ...] = ()  # alias -> served_model_name
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # served_model_name -> fallbacks, in order
    num_retries: int = 2
    timeout: int = 600
    cooldown_time: int = 30
    allowed_fails: int = 1
    master_key: str | None = field(default=None, repr=False)  # None: generated on the controller


GATEWAY_KEYS = (
    "host",
    "port",
    "hosts",
    "aliases",
    "fallbacks",
    "num_retries",
    "timeout",
    "cooldown_time",
    "allowed_fails",
    "master_key",
)
# LiteLLM refuses to start with these (its master_key_boot_check blocklist: the docs' example key)
WEAK_MASTER_KEYS = ("sk-1234",)
# what llmhost takes as a gateway master key (given in the data, or read back from the controller)
MASTER_KEY = re.compile(r"sk-[\x21-\x7e]{16,}")


@dataclass(frozen=True)
class WebuiWish:
    """llmhost_webui: Open WebUI on this host, in front of its gateway or the inventory's services."""

    host: str = "127.0.0.1"
    port: int = 8080
    hosts: tuple[str, ...] | None = None  # without a gateway: the hosts whose services it lists (None: all)
    title: str = "llmhost"  # WEBUI_NAME
    default_model: str | None = None  # None: planned (the first model it lists)
    admin_email: str = "admin@llmhost.local"
    admin_name: str = "Admin"
    admin_password: str | None = field(default=None, repr=False)  # None: generated on the controller
    env: tuple[tuple[str, str], ...] = ()  # more of Open WebUI's own settings (environment variables)


WEBUI_KEYS = ("host", "port", "hosts", "title", "default_model", "admin_email", "admin_name", "admin_password", "env")
# an e-mail address as Open WebUI's sign-in form takes it (<input type=email>)
_EMAIL = re.compile(r"^[\w.+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")
# what llmhost takes as a web UI admin password (given in the data, or read back from the controller)
# (no quotes, backslash or "$": an env file's value is read the same by systemd and the tmux launcher;
# 72 at most: bcrypt's limit, which Open WebUI hashes with: bcrypt 5.0, its pin, raises on longer ones)
WEBUI_PASSWORD = re.compile(r"[!#%&(-\[\]-~]{8,72}")


@dataclass(frozen=True)
class Settings:
    services: tuple[ServiceWish, ...]
    root: str
    env_dir: str
    supervisor: str
    health_timeout: int
    pip_index_url: str | None
    pip_extra_index_urls: tuple[str, ...]
    pip_find_links: tuple[str, ...]
    pip_no_index: bool
    torch_index_url: str | None  # "auto", a URL, or None
    python: str
    hf_endpoint: str | None
    hf_token: str | None = field(repr=False)
    modelscope_endpoint: str | None = None
    verify: str = "sizes"
    wheelhouse: str | None = None  # a directory of wheels on the controller, shipped to the host
    mirror_name: str = "none"  # none | tuna | custom
    mirror: tuple[tuple[str, str], ...] = ()  # target (debian, ubuntu, pip, hf, modelscope) -> base URL
    engine_pins: tuple[tuple[str, tuple[str, ...]], ...] = ()  # env name -> extra/replacing requirement pins
    keep_envs: int = 2  # versioned envs kept per engine (the current one included)
    env_manager: str = "venv"  # venv | conda
    conda_installer_url: str | None = None  # None: Miniforge from the mirror (or GitHub)
    conda_installer_sha256: str | None = None  # None: the .sha256 published beside the installer
    cuda_default: str | None = None  # the toolkit /usr/local/cuda points to ("12.6"); None: left alone
    cuda_toolkits: tuple[str, ...] = ()  # toolkits installed side by side from NVIDIA's repository
    cuda_repo_url: str = "https://developer.download.nvidia.com/compute/cuda/repos"
    allow_reboot: bool = False  # reboot the host when a driver install needs it
    ollama_version: str = "0.22.1"
    ollama_url: str | None = None  # None: the GitHub release (or the wheelhouse's copy)
    ollama_sha256: str | None = None  # None: the release's sha256sum.txt
    ollama_keep_alive: str = "5m"
    ollama_max_loaded_models: int | None = None  # None: planned
    python_pinned: bool = False  # llmhost_python set to other than its default (the planner may not pick another)
    gateway: GatewayWish | None = None  # llmhost_gateway
    webui: WebuiWish | None = None  # llmhost_webui
    address: str | None = None  # llmhost_address: where other hosts reach this one
    cluster_interface: str | None = None  # llmhost_cluster_interface: the NIC a multi-node service's traffic takes
    secrets_dir: str = "secrets"  # llmhost_secrets_dir, resolved on the controller

    def pins(self, env: str) -> tuple[str, ...]:
        return dict(self.engine_pins).get(env, ())


@lru_cache(maxsize=1)
def defaults() -> dict[str, Any]:
    """The documented keys and their defaults, read from group_data/all.py."""
    namespace = runpy.run_path(str(defaults_file()))
    return {k: v for k, v in namespace.items() if k.startswith("llmhost_")}


# --- small checkers: each returns the clean value or raises DataError(key, ...) ---------------


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _int(key: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise DataError(key, f"expected an integer {lo}..{hi}, got {_describe(value)}")
    if not lo <= value <= hi:
        raise DataError(key, f"expected an integer {lo}..{hi}, got {value}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DataError(key, f"expected true or false, got {_describe(value)}")
    return value


def _opt_fraction(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.05 <= value <= 0.99:
        raise DataError(key, f"expected a number 0.05..0.99, got {_describe(value)}")
    return float(value)


def _opt_int(key: str, value: Any, lo: int, hi: int) -> int | None:
    return None if value is None else _int(key, value, lo, hi)


def _str(key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DataError(key, f"expected a non-empty string, got {_describe(value)}")
    return value


def _opt_str(key: str, value: Any) -> str | None:
    return None if value is None else _str(key, value)


def _choice(key: str, value: Any, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise DataError(key, f"expected one of {' | '.join(choices)}, got {_describe(value)}")
    return value


def _url(key: str, value: Any) -> str:
    value = _str(key, value)
    if not re.match(r"^(https?|file)://\S+$", value):
        raise DataError(key, f"expected an http(s):// or file:// URL, got {value!r}")
    return value.rstrip("/")


def _str_list(key: str, value: Any, item: Callable[[str, Any], str]) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)):
        raise DataError(key, f"expected a list, got {_describe(value)}")
    return tuple(item(f"{key}[{i}]", v) for i, v in enumerate(value))


_IFNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]{0,14}")  # Linux: IFNAMSIZ 16 with the NUL


def _interface(key: str, value: Any) -> str | None:
    if value is None:
        return None
    value = _str(key, value)
    if not _IFNAME.fullmatch(value):
        raise DataError(key, f"expected a network interface name (eth1, ens5f0, ib0), got {value!r}")
    return value


def _abs_path(key: str, value: Any) -> str:
    value = _str(key, value)
    if not value.startswith("/"):
        raise DataError(key, f"expected an absolute path on the host, got {value!r}")
    return value.rstrip("/") or "/"


def _python(key: str, value: Any) -> str:
    """An interpreter name or path; a bare version ("3.10") means python3.10 on the PATH."""
    value = _str(key, value).strip()
    if re.fullmatch(r"3\.\d{1,2}", value):
        return f"python{value}"
    if not re.fullmatch(r"[\w./+-]+", value):
        raise DataError(
            key, f"expected an interpreter (python3.10, /usr/bin/python3.11) or a version (3.10), got {value!r}"
        )
    return value


def _cuda_version(key: str, value: Any) -> str | None:
    if value is None:
        return None
    value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    if not isinstance(value, str) or not re.fullmatch(r"\d{2}\.\d{1,2}", value):
        raise DataError(key, f"expected a CUDA toolkit version like 12.6, got {_describe(value)}")
    return value


def _sha256(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{64}", value.lower()):
        raise DataError(key, f"expected a sha256 (64 hex digits), got {_describe(value)}")
    return value.lower()


def _engine_pins(key: str, value: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if not isinstance(value, Mapping):
        raise DataError(key, f"expected a dict of environment name -> list of requirements, got {_describe(value)}")
    pins = []
    for env, reqs in sorted(value.items()):
        if env not in PINNABLE_ENVS:
            raise DataError(f"{key}.{env}", f"not an environment llmhost installs (one of {' | '.join(PINNABLE_ENVS)})")
        if not isinstance(reqs, (list, tuple)) or not reqs:
            raise DataError(f"{key}.{env}", f"expected a non-empty list of requirements, got {_describe(reqs)}")
        clean = []
        for i, req in enumerate(reqs):
            try:
                parsed = Requirement(_str(f"{key}.{env}[{i}]", req))
            except InvalidRequirement as e:
                raise DataError(f"{key}.{env}[{i}]", f"not a pip requirement: {str(e).splitlines()[0]}") from None
            if parsed.url or parsed.marker:
                raise DataError(
                    f"{key}.{env}[{i}]", f"expected a name with a version (transformers==4.57.1), got {req!r}"
                )
            clean.append(str(parsed))
        pins.append((env, tuple(clean)))
    return tuple(pins)


def _mirror(key: str, value: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    if value == "none":
        return "none", ()
    if value == "tuna":
        return "tuna", tuple(sorted(TUNA.items()))
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(MIRROR_TARGETS))
        if unknown:
            raise DataError(f"{key}.{unknown[0]}", f"unknown mirror target (known: {', '.join(MIRROR_TARGETS)})")
        return "custom", tuple(sorted((k, _url(f"{key}.{k}", v)) for k, v in value.items()))
    raise DataError(
        key, f"expected none, tuna or a dict of base URLs ({', '.join(MIRROR_TARGETS)}), got {_describe(value)}"
    )


def _bind(key: str, value: Any) -> str:
    value = _str(key, value)
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise DataError(key, f"expected an IP address to bind (e.g. 127.0.0.1), got {value!r}")
    return value


def _hub_parts(ref: str) -> tuple[str, str, str]:
    """(org/name, file in it or "", revision or "") of a hub reference ``org/name[/file.gguf][@rev]``."""
    path, _, revision = ref.partition("@")
    org, _, rest = path.partition("/")
    name, _, file = rest.partition("/")
    return f"{org}/{name}", file, revision


def _hub(key: str, kind: str, ref: str, value: str) -> ModelSource:
    repo, file, revision = _hub_parts(ref)
    path = f"{repo}/{file}" if file else repo
    if file and (not file.endswith(".gguf") or not _GGUF_PATH.match(file)):
        raise DataError(
            key, f"a hub id names the repository, or one .gguf file in it ({kind}:org/name/file.gguf), got {value!r}"
        )
    if not _REPO.match(repo) or "@" in revision or (ref.endswith("@") and not revision):
        raise DataError(key, f"expected a hub id like {kind}:Qwen/Qwen2.5-1.5B-Instruct[@revision], got {value!r}")
    spec = f"{kind}:{path}" + (f"@{revision}" if revision else "")
    info = catalog.gguf_lookup(repo, file) if file else catalog.lookup(repo)
    slug = repo.replace("/", "--") + (f"--{file.removesuffix('.gguf').replace('/', '--')}" if file else "")
    return ModelSource(
        spec, kind, repo, revision or None, slug if kind == "hf" else f"{kind}--{slug}", info, file=file or None
    )


def parse_model(key: str, value: Any, base: Path, estimate: bool = False) -> ModelSource:
    """Parse a service's ``model`` value (see group_data/all.py for the accepted forms)."""
    value = _str(key, value).strip()
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
    if _REPO.match(repo) and (not file or file.endswith(".gguf")) and not value.startswith((".", "/", "~")):
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


def _service(index: int, raw: Any, base: Path, estimate: bool = False) -> ServiceWish:
    key = f"llmhost_services[{index}]"
    if not isinstance(raw, Mapping):
        raise DataError(key, f"expected a dict with at least name and model, got {_describe(raw)}")
    unknown = sorted(set(raw) - set(SERVICE_KEYS))
    if unknown:
        raise DataError(f"{key}.{unknown[0]}", f"unknown service key (known: {', '.join(SERVICE_KEYS)})")
    for required in ("name", "model"):
        if required not in raw:
            raise DataError(f"{key}.{required}", "is required")
    name = _str(f"{key}.name", raw["name"])
    if not _NAME.match(name):
        raise DataError(f"{key}.name", f"expected [a-z0-9-] (max 41 chars), got {name!r}")
    served = _str(f"{key}.served_model_name", raw.get("served_model_name", name))
    if not _SERVED.match(served):
        raise DataError(f"{key}.served_model_name", f"unexpected characters in {served!r}")
    return ServiceWish(
        name=name,
        model=parse_model(f"{key}.model", raw["model"], base, estimate),
        engine=_choice(f"{key}.engine", raw.get("engine", "auto"), ENGINES),
        host=_bind(f"{key}.host", raw.get("host", "127.0.0.1")),
        port=_int(f"{key}.port", raw.get("port", 8000), 1, 65535),
        served_model_name=served,
        max_model_len=_opt_int(f"{key}.max_model_len", raw.get("max_model_len"), 16, 10_000_000),
        max_num_seqs=_opt_int(f"{key}.max_num_seqs", raw.get("max_num_seqs"), 1, 4096),
        dtype=_choice(f"{key}.dtype", raw.get("dtype", "auto"), DTYPES),
        api_key=_opt_str(f"{key}.api_key", raw.get("api_key")),
        quantization=(
            None
            if raw.get("quantization") is None
            else _choice(f"{key}.quantization", raw["quantization"], QUANTIZATIONS)
        ),
        tensor_parallel_size=_opt_int(f"{key}.tensor_parallel_size", raw.get("tensor_parallel_size"), 1, 64),
        gpu_memory_utilization=_opt_fraction(f"{key}.gpu_memory_utilization", raw.get("gpu_memory_utilization")),
        gguf=_gguf(key, raw),
        workload=_choice(f"{key}.workload", raw.get("workload", "throughput"), WORKLOADS),
        nodes=_nodes(key, raw),
        master_port=_int(f"{key}.master_port", raw.get("master_port", 29501), 1024, 65535),
    )


def _nodes(key: str, raw: Mapping) -> tuple[str, ...]:
    """A service across several hosts: their inventory names, the head first (vLLM only)."""
    if raw.get("nodes") is None:
        return ()
    nodes = _str_list(f"{key}.nodes", raw["nodes"], _str)
    if len(nodes) < 2:
        raise DataError(f"{key}.nodes", f"expected two or more inventory hosts (the head first), got {list(nodes)}")
    twice = next((n for i, n in enumerate(nodes) if n in nodes[:i]), None)
    if twice:
        raise DataError(f"{key}.nodes", f"{twice!r} is listed twice")
    engine = raw.get("engine", "auto")
    if engine not in ("auto", "vllm", "vllm-cpu"):
        raise DataError(
            f"{key}.nodes", f"a service across hosts runs vLLM (engine auto, vllm or vllm-cpu), not {engine}"
        )
    if raw.get("gguf") is not None:
        raise DataError(f"{key}.nodes", "a service across hosts runs vLLM, which serves the checkpoint, not a GGUF")
    return nodes


def _gguf(key: str, raw: Mapping) -> str | None:
    if raw.get("gguf") is None:
        return None
    kind = _choice(f"{key}.gguf", str(raw["gguf"]).upper(), tuple(GGUF_TYPES))
    engine = raw.get("engine", "auto")
    if engine not in ("auto", "llamacpp", "ollama"):
        raise DataError(
            f"{key}.gguf",
            f"a GGUF is served by llama.cpp or Ollama, not engine {engine} (use auto, llamacpp or ollama)",
        )
    return kind


def _services(key: str, value: Any, base: Path, lock_dir: Path, estimate: bool = False) -> tuple[ServiceWish, ...]:
    if not isinstance(value, (list, tuple)):
        raise DataError(key, f"expected a list of service dicts, got {_describe(value)}")
    services = tuple(_service(i, raw, base, estimate) for i, raw in enumerate(value))
    services = tuple(
        replace(svc, model=_locked(svc.model, lock_dir)) if svc.model.kind in HUB_SOURCES else svc for svc in services
    )
    seen_names: dict[str, int] = {}
    seen_ports: dict[int, int] = {}
    ollama: int | None = None  # the first ollama service: the others share its daemon's address
    for i, svc in enumerate(services):
        if svc.name in seen_names:
            raise DataError(f"{key}[{i}].name", f"{svc.name!r} is already used by {key}[{seen_names[svc.name]}]")
        if svc.engine == "ollama":
            if svc.api_key:
                raise DataError(
                    f"{key}[{i}].api_key",
                    "Ollama has no API key; leave it out (bind 127.0.0.1, or put a proxy in front)",
                )
            if not _OLLAMA_NAME.match(svc.served_model_name):
                raise DataError(
                    f"{key}[{i}].served_model_name",
                    f"{svc.served_model_name!r} is not an Ollama model name (lowercase name[:tag])",
                )
            if ollama is not None:
                first = services[ollama]
                if (svc.host, svc.port) != (first.host, first.port):
                    raise DataError(
                        f"{key}[{i}].port",
                        f"ollama services share one daemon: {svc.host}:{svc.port} differs from {key}[{ollama}]'s "
                        f"{first.host}:{first.port}",
                    )
                seen_names[svc.name] = i
                continue
            ollama = i
        if svc.port in seen_ports:
            raise DataError(f"{key}[{i}].port", f"{svc.port} is already used by {key}[{seen_ports[svc.port]}]")
        seen_names[svc.name] = i
        seen_ports[svc.port] = i
    return services


def _hosts(key: str, value: Any) -> tuple[str, ...] | None:
    """Inventory host names (a gateway's or a web UI's ``hosts``); None: every host."""
    if value is None:
        return None
    hosts = _str_list(key, value, _str)
    if not hosts:
        raise DataError(key, "expected at least one inventory host (null: every host)")
    return hosts


def _gateway(key: str, value: Any) -> GatewayWish | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataError(key, f"expected a dict (or null: no gateway), got {_describe(value)}")
    unknown = sorted(set(value) - set(GATEWAY_KEYS))
    if unknown:
        raise DataError(f"{key}.{unknown[0]}", f"unknown gateway key (known: {', '.join(GATEWAY_KEYS)})")
    hosts = _hosts(f"{key}.hosts", value.get("hosts"))
    aliases = value.get("aliases") or {}
    if not isinstance(aliases, Mapping):
        raise DataError(f"{key}.aliases", f"expected a dict of alias -> served_model_name, got {_describe(aliases)}")
    for alias, target in aliases.items():
        if not isinstance(alias, str) or not _SERVED.match(alias):
            raise DataError(f"{key}.aliases", f"unexpected characters in the alias {alias!r}")
        _str(f"{key}.aliases.{alias}", target)
    fallbacks = value.get("fallbacks") or {}
    if not isinstance(fallbacks, Mapping):
        raise DataError(
            f"{key}.fallbacks",
            f"expected a dict of served_model_name -> list of served_model_names, got {_describe(fallbacks)}",
        )
    clean_fallbacks = []
    for group, targets in fallbacks.items():
        targets = _str_list(f"{key}.fallbacks.{group}", targets, _str)
        if not targets:
            raise DataError(f"{key}.fallbacks.{group}", "expected at least one served_model_name to fall back to")
        if group in targets:
            raise DataError(f"{key}.fallbacks.{group}", "a model group cannot fall back to itself")
        clean_fallbacks.append((_str(f"{key}.fallbacks", group), targets))
    master_key = _opt_str(f"{key}.master_key", value.get("master_key"))
    if master_key is not None:
        if master_key.strip() in WEAK_MASTER_KEYS:
            raise DataError(
                f"{key}.master_key",
                "a publicly known key (LiteLLM refuses to start with it); leave it out to have one generated",
            )
        if not MASTER_KEY.fullmatch(master_key):
            raise DataError(
                f"{key}.master_key",
                'expected "sk-" and at least 16 more printable characters (no '
                "spaces); leave it out to have one generated",
            )
    return GatewayWish(
        host=_bind(f"{key}.host", value.get("host", "127.0.0.1")),
        port=_int(f"{key}.port", value.get("port", 4000), 1, 65535),
        hosts=hosts,
        aliases=tuple(sorted(aliases.items())),
        fallbacks=tuple(sorted(clean_fallbacks)),
        num_retries=_int(f"{key}.num_retries", value.get("num_retries", 2), 0, 10),
        timeout=_int(f"{key}.timeout", value.get("timeout", 600), 1, 86400),
        cooldown_time=_int(f"{key}.cooldown_time", value.get("cooldown_time", 30), 0, 86400),
        allowed_fails=_int(f"{key}.allowed_fails", value.get("allowed_fails", 1), 0, 1000),
        master_key=master_key,
    )


def _webui(key: str, value: Any, managed: tuple[str, ...]) -> WebuiWish | None:
    """``managed``: the environment variables llmhost sets itself (llmhost.plan.webui), which
    ``env`` may not."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DataError(key, f"expected a dict (or null: no web UI), got {_describe(value)}")
    unknown = sorted(set(value) - set(WEBUI_KEYS))
    if unknown:
        raise DataError(f"{key}.{unknown[0]}", f"unknown web UI key (known: {', '.join(WEBUI_KEYS)})")
    hosts = _hosts(f"{key}.hosts", value.get("hosts"))
    email = _str(f"{key}.admin_email", value.get("admin_email", "admin@llmhost.local"))
    if not _EMAIL.match(email):
        raise DataError(f"{key}.admin_email", f"expected an e-mail address (admin@example.com), got {email!r}")
    password = _opt_str(f"{key}.admin_password", value.get("admin_password"))
    if password is not None and not WEBUI_PASSWORD.fullmatch(password):
        raise DataError(
            f"{key}.admin_password",
            "expected 8 or more printable ASCII characters (72 at most: "
            'bcrypt\'s limit) without spaces, quotes, backslashes or "$"; leave it '
            "out to have one generated",
        )
    default_model = _opt_str(f"{key}.default_model", value.get("default_model"))
    if default_model is not None and not _SERVED.match(default_model):
        raise DataError(f"{key}.default_model", f"unexpected characters in {default_model!r}")
    env = value.get("env") or {}
    if not isinstance(env, Mapping):
        raise DataError(f"{key}.env", f"expected a dict of Open WebUI setting -> value, got {_describe(env)}")
    clean_env = []
    for name, setting in env.items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Z][A-Z0-9_]*", name):
            raise DataError(f"{key}.env", f"{name!r} is not an environment variable name (UPPER_CASE)")
        if name in managed:
            raise DataError(
                f"{key}.env.{name}",
                "set by llmhost itself (from llmhost_webui and the plan); "
                "see group_data/all.py for the key that sets it",
            )
        if isinstance(setting, bool):
            setting = "true" if setting else "false"
        elif isinstance(setting, int):
            setting = str(setting)
        if not isinstance(setting, str) or "\n" in setting:
            raise DataError(
                f"{key}.env.{name}", f"expected a one-line string, number or true/false, got {_describe(setting)}"
            )
        clean_env.append((name, setting))
    return WebuiWish(
        host=_bind(f"{key}.host", value.get("host", "127.0.0.1")),
        port=_int(f"{key}.port", value.get("port", 8080), 1, 65535),
        hosts=hosts,
        title=_str(f"{key}.title", value.get("title", "llmhost")),
        default_model=default_model,
        admin_email=email,
        admin_name=_str(f"{key}.admin_name", value.get("admin_name", "Admin")),
        admin_password=password,
        env=tuple(sorted(clean_env)),
    )


def _version(key: str, value: Any) -> str:
    text = _str(key, value).removeprefix("v")
    if not _VERSION.match(text):
        raise DataError(key, f'expected a release version like "0.22.1", got {value!r}')
    return text


def _keep_alive(key: str, value: Any) -> str:
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else _str(key, value)
    if not _KEEP_ALIVE.match(text):
        raise DataError(key, f'expected a duration ("5m", "1h30m"), seconds, or -1 (forever), got {text!r}')
    return text


def load(data: Mapping[str, Any], base: Path | None = None, estimate_weights: bool = False) -> Settings:
    """Validate ``data`` (a host's merged pyinfra data) against the contract.

    ``base`` resolves relative model directories (default: the current directory, which is where
    pyinfra is run from). ``estimate_weights``: a model directory with a config.json and no weight
    files is sized from the config (`llmhost plan --hardware`: a plan only; a deploy needs them).
    """
    known = defaults()
    unknown = sorted(k for k in data if k.startswith("llmhost_") and k not in known)
    if unknown:
        raise DataError(unknown[0], "unknown key (documented keys are in group_data/all.py)")
    merged = {**known, **{k: v for k, v in data.items() if k in known}}
    base = base or Path.cwd()

    lock_dir = Path(_str("llmhost_model_lock_dir", merged["llmhost_model_lock_dir"])).expanduser()
    lock_dir = lock_dir if lock_dir.is_absolute() else base / lock_dir
    if lock_dir.exists() and not lock_dir.is_dir():
        raise DataError("llmhost_model_lock_dir", f"{lock_dir} exists and is not a directory")

    mirror_name, mirror = _mirror("llmhost_mirror", merged["llmhost_mirror"])
    wheelhouse = merged["llmhost_wheelhouse"]
    if wheelhouse is not None:
        path = Path(_str("llmhost_wheelhouse", wheelhouse)).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.is_dir() or not any(path.glob("*.whl")):
            raise DataError(
                "llmhost_wheelhouse",
                f"{wheelhouse} is not a directory of wheels on the controller ({path}); make one with: "
                f"llmhost wheelhouse {wheelhouse} --hub",
            )
        wheelhouse = str(path)
    gateway = _gateway("llmhost_gateway", merged["llmhost_gateway"])
    secrets_dir = Path(_str("llmhost_secrets_dir", merged["llmhost_secrets_dir"])).expanduser()
    secrets_dir = secrets_dir if secrets_dir.is_absolute() else base / secrets_dir
    services = _services("llmhost_services", merged["llmhost_services"], base, lock_dir, estimate_weights)
    if gateway and any(s.port == gateway.port for s in services):
        index = next(i for i, s in enumerate(services) if s.port == gateway.port)
        raise DataError("llmhost_gateway.port", f"{gateway.port} is already used by llmhost_services[{index}]")
    webui = _webui("llmhost_webui", merged["llmhost_webui"], WEBUI_MANAGED_ENV)
    if webui:
        taken = {s.port: f"llmhost_services[{i}]" for i, s in enumerate(services)}
        if gateway:
            taken[gateway.port] = "llmhost_gateway"
        if webui.port in taken:
            raise DataError("llmhost_webui.port", f"{webui.port} is already used by {taken[webui.port]}")
    torch_index = merged["llmhost_torch_index_url"]
    if torch_index not in (None, "auto"):
        torch_index = _url("llmhost_torch_index_url", torch_index)

    return Settings(
        services=services,
        root=_abs_path("llmhost_root", merged["llmhost_root"]),
        env_dir=_abs_path("llmhost_env_dir", merged["llmhost_env_dir"]),
        supervisor=_choice("llmhost_supervisor", merged["llmhost_supervisor"], SUPERVISORS),
        health_timeout=_int("llmhost_health_timeout", merged["llmhost_health_timeout"], 10, 86400),
        pip_index_url=(
            None
            if merged["llmhost_pip_index_url"] is None
            else _url("llmhost_pip_index_url", merged["llmhost_pip_index_url"])
        ),
        pip_extra_index_urls=_str_list("llmhost_pip_extra_index_urls", merged["llmhost_pip_extra_index_urls"], _url),
        pip_find_links=_str_list("llmhost_pip_find_links", merged["llmhost_pip_find_links"], _abs_path),
        pip_no_index=_bool("llmhost_pip_no_index", merged["llmhost_pip_no_index"]),
        torch_index_url=torch_index,
        python=_python("llmhost_python", merged["llmhost_python"]),
        python_pinned=merged["llmhost_python"] != known["llmhost_python"],
        hf_endpoint=(
            None
            if merged["llmhost_hf_endpoint"] is None
            else _url("llmhost_hf_endpoint", merged["llmhost_hf_endpoint"])
        ),
        hf_token=_opt_str("llmhost_hf_token", merged["llmhost_hf_token"]),
        modelscope_endpoint=(
            None
            if merged["llmhost_modelscope_endpoint"] is None
            else _url("llmhost_modelscope_endpoint", merged["llmhost_modelscope_endpoint"])
        ),
        verify=_choice("llmhost_verify", merged["llmhost_verify"], VERIFY_LEVELS),
        mirror_name=mirror_name,
        mirror=mirror,
        wheelhouse=wheelhouse,
        engine_pins=_engine_pins("llmhost_engine_pins", merged["llmhost_engine_pins"]),
        keep_envs=_int("llmhost_keep_envs", merged["llmhost_keep_envs"], 1, 20),
        env_manager=_choice("llmhost_env_manager", merged["llmhost_env_manager"], ENV_MANAGERS),
        conda_installer_url=(
            None
            if merged["llmhost_conda_installer_url"] is None
            else _url("llmhost_conda_installer_url", merged["llmhost_conda_installer_url"])
        ),
        conda_installer_sha256=_sha256("llmhost_conda_installer_sha256", merged["llmhost_conda_installer_sha256"]),
        cuda_default=_cuda_version("llmhost_cuda_default", merged["llmhost_cuda_default"]),
        cuda_toolkits=tuple(
            dict.fromkeys(_str_list("llmhost_cuda_toolkits", merged["llmhost_cuda_toolkits"], _cuda_version))
        ),
        cuda_repo_url=_url("llmhost_cuda_repo_url", merged["llmhost_cuda_repo_url"]),
        allow_reboot=_bool("llmhost_allow_reboot", merged["llmhost_allow_reboot"]),
        ollama_version=_version("llmhost_ollama_version", merged["llmhost_ollama_version"]),
        ollama_url=None
        if merged["llmhost_ollama_url"] is None
        else _url("llmhost_ollama_url", merged["llmhost_ollama_url"]),
        ollama_sha256=_sha256("llmhost_ollama_sha256", merged["llmhost_ollama_sha256"]),
        ollama_keep_alive=_keep_alive("llmhost_ollama_keep_alive", merged["llmhost_ollama_keep_alive"]),
        ollama_max_loaded_models=_opt_int(
            "llmhost_ollama_max_loaded_models", merged["llmhost_ollama_max_loaded_models"], 1, 64
        ),
        gateway=gateway,
        webui=webui,
        address=_opt_str("llmhost_address", merged["llmhost_address"]),
        cluster_interface=_interface("llmhost_cluster_interface", merged["llmhost_cluster_interface"]),
        secrets_dir=str(secrets_dir),
    )
