"""llmhost_services: each service the data asks for, checked key by key (ServiceWish)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmhost.contract import keys_of
from llmhost.engines import GGUF_TYPES
from llmhost.settings.models import HUB_SOURCES, ModelSource, _locked, parse_model
from llmhost.settings.values import (
    DataError,
    _bind,
    _choice,
    _describe,
    _int,
    _opt_fraction,
    _opt_int,
    _opt_token,
    _str,
    _str_list,
    loopback,
    unknown_key,
)

ENGINES = ("auto", "vllm", "vllm-cpu", "llamacpp", "ollama")
DTYPES = ("auto", "bfloat16", "float16", "float32")
WORKLOADS = ("throughput", "latency")
# each service's keys and their defaults, as group_data/all.py documents them
SERVICE_DEFAULTS = keys_of("llmhost_services")
SERVICE_KEYS = tuple(SERVICE_DEFAULTS)
QUANTIZATIONS = ("bitsandbytes", "gptq", "awq", "fp8")
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
_SERVED = re.compile(r"^[\w.:/-]{1,128}$")
_OLLAMA_NAME = re.compile(
    r"^[a-z0-9][a-z0-9._-]{0,79}(:[a-z0-9._-]{1,80})?$"
)  # name[:tag], as `ollama create` takes it


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
    quantization: str | None
    tensor_parallel_size: int | None
    gpu_memory_utilization: float | None
    gguf: str | None  # convert the HF checkpoint to a GGUF of this llama-quantize type on the host
    workload: str  # what engine auto optimises on a CPU host: many streams, or one
    # one vLLM across these inventory hosts (the first is the head: the API server); () = this host alone
    nodes: tuple[str, ...]
    master_port: int  # the head's rendezvous port (torch.distributed), with nodes

    @property
    def bind_public(self) -> bool:
        return not loopback(self.host)


def _service(index: int, raw: Any, base: Path, estimate: bool = False) -> ServiceWish:
    key = f"llmhost_services[{index}]"
    if not isinstance(raw, Mapping):
        raise DataError(key, f"expected a dict with at least name and model, got {_describe(raw)}")
    unknown = sorted(set(raw) - set(SERVICE_KEYS))
    if unknown:
        raise unknown_key(key, unknown[0], SERVICE_KEYS, "service key")
    for required in ("name", "model"):
        if required not in raw:
            raise DataError(f"{key}.{required}", "is required")
    raw = {**SERVICE_DEFAULTS, **raw}
    name = _str(f"{key}.name", raw["name"])
    if not _NAME.fullmatch(name):
        raise DataError(f"{key}.name", f"expected [a-z0-9-] (max 41 chars), got {name!r}")
    served = name if raw["served_model_name"] is None else _str(f"{key}.served_model_name", raw["served_model_name"])
    if not _SERVED.fullmatch(served):
        raise DataError(f"{key}.served_model_name", f"unexpected characters in {served!r}")
    return ServiceWish(
        name=name,
        model=parse_model(f"{key}.model", raw["model"], base, estimate),
        engine=_choice(f"{key}.engine", raw["engine"], ENGINES),
        host=_bind(f"{key}.host", raw["host"]),
        port=_int(f"{key}.port", raw["port"], 1, 65535),
        served_model_name=served,
        max_model_len=_opt_int(f"{key}.max_model_len", raw["max_model_len"], 16, 10_000_000),
        max_num_seqs=_opt_int(f"{key}.max_num_seqs", raw["max_num_seqs"], 1, 4096),
        dtype=_choice(f"{key}.dtype", raw["dtype"], DTYPES),
        api_key=_opt_token(f"{key}.api_key", raw["api_key"]),
        quantization=(
            None if raw["quantization"] is None else _choice(f"{key}.quantization", raw["quantization"], QUANTIZATIONS)
        ),
        tensor_parallel_size=_opt_int(f"{key}.tensor_parallel_size", raw["tensor_parallel_size"], 1, 64),
        gpu_memory_utilization=_opt_fraction(f"{key}.gpu_memory_utilization", raw["gpu_memory_utilization"]),
        gguf=_gguf(key, raw),
        workload=_choice(f"{key}.workload", raw["workload"], WORKLOADS),
        nodes=_nodes(key, raw),
        master_port=_int(f"{key}.master_port", raw["master_port"], 1024, 65535),
    )


def _nodes(key: str, raw: Mapping) -> tuple[str, ...]:
    """A service across several hosts: their inventory names, the head first (vLLM only)."""
    if raw["nodes"] is None:
        return ()
    nodes = _str_list(f"{key}.nodes", raw["nodes"], _str)
    if len(nodes) < 2:
        raise DataError(f"{key}.nodes", f"expected two or more inventory hosts (the head first), got {list(nodes)}")
    twice = next((n for i, n in enumerate(nodes) if n in nodes[:i]), None)
    if twice:
        raise DataError(f"{key}.nodes", f"{twice!r} is listed twice")
    engine = raw["engine"]
    if engine not in ("auto", "vllm", "vllm-cpu"):
        raise DataError(
            f"{key}.nodes", f"a service across hosts runs vLLM (engine auto, vllm or vllm-cpu), not {engine}"
        )
    if raw["gguf"] is not None:
        raise DataError(f"{key}.nodes", "a service across hosts runs vLLM, which serves the checkpoint, not a GGUF")
    return nodes


def _gguf(key: str, raw: Mapping) -> str | None:
    if raw["gguf"] is None:
        return None
    kind = _choice(f"{key}.gguf", str(raw["gguf"]).upper(), tuple(GGUF_TYPES))
    engine = raw["engine"]
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
            if not _OLLAMA_NAME.fullmatch(svc.served_model_name):
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
    for i, svc in enumerate(services):  # a service across hosts: its rendezvous port is the head's too
        if svc.nodes and svc.master_port in seen_ports:
            raise DataError(
                f"{key}[{i}].master_port",
                f"{svc.master_port} is {key}[{seen_ports[svc.master_port]}]'s port; the rendezvous needs its own",
            )
    return services
