"""The data contract: turn a host's pyinfra data into validated, typed wishes.

Names and defaults come from ``group_data/all.py`` (the one place they are documented). Every
problem becomes a :class:`DataError` whose message is one line starting with the key, raised
before any operation is queued, so a bad value never reaches a host.

This package's face: ``load`` (data -> Settings) and what the planner and the layers read. Its
rooms: values.py (the small checkers), models.py (a service's model and the hub lock),
services.py (llmhost_services), frontends.py (llmhost_gateway, llmhost_webui).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from llmhost.contract import defaults
from llmhost.engines import WEBUI_MANAGED_ENV
from llmhost.settings.frontends import MASTER_KEY, WEBUI_PASSWORD, GatewayWish, WebuiWish, _gateway, _webui
from llmhost.settings.models import HUB_SOURCES, ModelSource, lock_file_name, parse_model
from llmhost.settings.monitoring import MonitoringWish, _monitoring
from llmhost.settings.services import ServiceWish, _services
from llmhost.settings.values import (
    DRIVER_POLICIES,
    ENV_MANAGERS,
    SUPERVISORS,
    VERIFY_LEVELS,
    DataError,
    _bool,
    _choice,
    _cuda_version,
    _engine_pins,
    _int,
    _interface,
    _keep_alive,
    _mirror,
    _opt_address,
    _opt_int,
    _opt_token,
    _own_dir,
    _pip_path,
    _python,
    _secure_url,
    _sha256,
    _str,
    _str_list,
    _url,
    _version,
    looks_like_ours,
    loopback,
    no_control_characters,
    unknown_key,
)

__all__ = [
    "HUB_SOURCES",
    "MASTER_KEY",
    "WEBUI_PASSWORD",
    "DataError",
    "GatewayWish",
    "ModelSource",
    "ServiceWish",
    "Settings",
    "WebuiWish",
    "defaults",
    "load",
    "lock_file_name",
    "loopback",
    "parse_model",
]


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
    modelscope_endpoint: str | None
    verify: str
    wheelhouse: str | None  # a directory of wheels on the controller, shipped to the host
    mirror_name: str  # none | tuna | custom
    mirror: tuple[tuple[str, str], ...]  # target (debian, ubuntu, pip, hf, modelscope) -> base URL
    engine_pins: tuple[tuple[str, tuple[str, ...]], ...]  # env name -> extra/replacing requirement pins
    keep_envs: int  # versioned envs kept per engine (the current one included)
    env_manager: str  # venv | conda
    conda_installer_url: str | None  # None: Miniforge from the mirror (or GitHub)
    conda_installer_sha256: str | None  # None: the .sha256 published beside the installer
    cuda_default: str | None  # the toolkit /usr/local/cuda points to ("12.6"); None: left alone
    cuda_toolkits: tuple[str, ...]  # toolkits installed side by side from NVIDIA's repository
    cuda_repo_url: str
    cuda_keyring_sha256: str | None  # None: llmhost's pin for the host's repository
    allow_reboot: bool  # reboot the host when a driver install needs it
    driver: str  # keep | upgrade: what a working NVIDIA driver older than the newest engine's gets
    remove_all: bool  # llmhost_remove_all: data listing nothing may stop what runs
    ollama_version: str
    ollama_url: str | None  # None: the GitHub release (or the wheelhouse's copy)
    ollama_sha256: str | None  # None: the release's sha256sum.txt
    ollama_keep_alive: str
    ollama_max_loaded_models: int | None  # None: planned
    python_pinned: bool  # llmhost_python set to other than its default (the planner may not pick another)
    cuda_repo_given: bool  # llmhost_cuda_repo_url set to other than its default (a mirror's does not replace it)
    gateway: GatewayWish | None  # llmhost_gateway
    webui: WebuiWish | None  # llmhost_webui
    monitoring: MonitoringWish | None  # llmhost_monitoring
    bench_results: str  # llmhost_bench_results, resolved on the controller
    address: str | None  # llmhost_address: where other hosts reach this one
    cluster_interface: str | None  # llmhost_cluster_interface: the NIC a multi-node service's traffic takes
    cluster_public: bool  # llmhost_cluster_public: that NIC may carry a public address
    secrets_dir: str  # llmhost_secrets_dir, resolved on the controller

    def pins(self, env: str) -> tuple[str, ...]:
        return dict(self.engine_pins).get(env, ())


def load(data: Mapping[str, Any], base: Path | None = None, estimate_weights: bool = False) -> Settings:
    """Validate ``data`` (a host's merged pyinfra data) against the contract.

    ``base`` resolves relative model directories (default: the current directory, which is where
    pyinfra is run from). ``estimate_weights``: a model directory with a config.json and no weight
    files is sized from the config (`llmhost plan --hardware`: a plan only; a deploy needs them).
    """
    known = defaults()
    unknown = sorted(k for k in data if k not in known and looks_like_ours(k))
    if unknown:
        raise unknown_key("", unknown[0], known, "key")
    merged = {**known, **{k: v for k, v in data.items() if k in known}}
    for key, raw in merged.items():
        no_control_characters(key, raw)
    base = base or Path.cwd()

    def value(key: str, check, *args):
        """The data's value of ``key`` (or its default) through ``check``, which names ``key`` in its errors."""
        return check(key, merged[key], *args)

    def optional(key: str, check, *args):
        return None if merged[key] is None else check(key, merged[key], *args)

    lock_dir = Path(value("llmhost_model_lock_dir", _str)).expanduser()
    lock_dir = lock_dir if lock_dir.is_absolute() else base / lock_dir
    if lock_dir.exists() and not lock_dir.is_dir():
        raise DataError("llmhost_model_lock_dir", f"{lock_dir} exists and is not a directory")

    mirror_name, mirror = value("llmhost_mirror", _mirror)
    wheelhouse = merged["llmhost_wheelhouse"]
    if wheelhouse is not None:
        path = Path(value("llmhost_wheelhouse", _str)).expanduser()
        path = (path if path.is_absolute() else base / path).resolve()
        if not path.is_dir() or not any(path.glob("*.whl")):
            raise DataError(
                "llmhost_wheelhouse",
                f"{wheelhouse} is not a directory of wheels on the controller ({path}); make one with: "
                f"llmhost wheelhouse {wheelhouse} --hub",
            )
        wheelhouse = str(path)
    gateway = value("llmhost_gateway", _gateway)
    secrets_dir = Path(value("llmhost_secrets_dir", _str)).expanduser()
    secrets_dir = secrets_dir if secrets_dir.is_absolute() else base / secrets_dir
    services = value("llmhost_services", _services, base, lock_dir, estimate_weights)
    ollama_public = value("llmhost_ollama_public", _bool)
    for i, svc in enumerate(services):
        if svc.engine == "ollama" and svc.bind_public and not ollama_public:
            raise DataError(
                f"llmhost_services[{i}].host",
                f"{svc.host}: Ollama has no API key, so a bind beyond loopback lets whoever reaches port {svc.port} "
                "use, pull and delete every model; bind 127.0.0.1 (the gateway fronts it with keys), or set "
                "llmhost_ollama_public = true",
            )
    if gateway and any(s.port == gateway.port for s in services):
        index = next(i for i, s in enumerate(services) if s.port == gateway.port)
        raise DataError("llmhost_gateway.port", f"{gateway.port} is already used by llmhost_services[{index}]")
    # the ports taken so far, by the key that takes each: the web UI's and monitoring's may be none of them
    taken = {s.port: f"llmhost_services[{i}]" for i, s in enumerate(services)}
    if gateway:
        taken[gateway.port] = "llmhost_gateway"
    webui = value("llmhost_webui", _webui, WEBUI_MANAGED_ENV)
    if webui:
        if webui.port in taken:
            raise DataError("llmhost_webui.port", f"{webui.port} is already used by {taken[webui.port]}")
        taken[webui.port] = "llmhost_webui"
    monitoring = value("llmhost_monitoring", _monitoring)
    if monitoring:
        for sub, port in monitoring.ports:
            if port in taken:
                raise DataError(f"llmhost_monitoring.{sub}", f"{port} is already used by {taken[port]}")
    bench_results = Path(value("llmhost_bench_results", _str)).expanduser()
    torch_index = merged["llmhost_torch_index_url"]
    if torch_index not in (None, "auto"):
        torch_index = value("llmhost_torch_index_url", _url)

    return Settings(
        services=services,
        root=value("llmhost_root", _own_dir),
        env_dir=value("llmhost_env_dir", _own_dir),
        supervisor=value("llmhost_supervisor", _choice, SUPERVISORS),
        health_timeout=value("llmhost_health_timeout", _int, 10, 86400),
        pip_index_url=optional("llmhost_pip_index_url", _url),
        pip_extra_index_urls=value("llmhost_pip_extra_index_urls", _str_list, _url),
        pip_find_links=value("llmhost_pip_find_links", _str_list, _pip_path),
        pip_no_index=value("llmhost_pip_no_index", _bool),
        torch_index_url=torch_index,
        python=value("llmhost_python", _python),
        python_pinned=merged["llmhost_python"] != known["llmhost_python"],
        cuda_repo_given=merged["llmhost_cuda_repo_url"] != known["llmhost_cuda_repo_url"],
        hf_endpoint=optional("llmhost_hf_endpoint", _url),
        hf_token=value("llmhost_hf_token", _opt_token),
        modelscope_endpoint=optional("llmhost_modelscope_endpoint", _url),
        verify=value("llmhost_verify", _choice, VERIFY_LEVELS),
        mirror_name=mirror_name,
        mirror=mirror,
        wheelhouse=wheelhouse,
        engine_pins=value("llmhost_engine_pins", _engine_pins),
        keep_envs=value("llmhost_keep_envs", _int, 1, 20),
        env_manager=value("llmhost_env_manager", _choice, ENV_MANAGERS),
        conda_installer_url=optional("llmhost_conda_installer_url", _secure_url),
        conda_installer_sha256=value("llmhost_conda_installer_sha256", _sha256),
        cuda_default=value("llmhost_cuda_default", _cuda_version),
        cuda_toolkits=tuple(dict.fromkeys(value("llmhost_cuda_toolkits", _str_list, _cuda_version))),
        cuda_repo_url=value("llmhost_cuda_repo_url", _secure_url),
        cuda_keyring_sha256=value("llmhost_cuda_keyring_sha256", _sha256),
        allow_reboot=value("llmhost_allow_reboot", _bool),
        driver=value("llmhost_driver", _choice, DRIVER_POLICIES),
        remove_all=value("llmhost_remove_all", _bool),
        ollama_version=value("llmhost_ollama_version", _version),
        ollama_url=optional("llmhost_ollama_url", _secure_url),
        ollama_sha256=value("llmhost_ollama_sha256", _sha256),
        ollama_keep_alive=value("llmhost_ollama_keep_alive", _keep_alive),
        ollama_max_loaded_models=value("llmhost_ollama_max_loaded_models", _opt_int, 1, 64),
        gateway=gateway,
        webui=webui,
        monitoring=monitoring,
        bench_results=str(bench_results if bench_results.is_absolute() else base / bench_results),
        address=value("llmhost_address", _opt_address),
        cluster_interface=value("llmhost_cluster_interface", _interface),
        cluster_public=value("llmhost_cluster_public", _bool),
        secrets_dir=str(secrets_dir),
    )
