"""The data contract: turn a host's pyinfra data into validated, typed wishes.

Names and defaults come from ``group_data/all.py`` (the one place they are documented). Every
problem becomes a :class:`DataError` whose message is one line starting with the key, raised
before any operation is queued, so a bad value never reaches a host.

This package's face: ``load`` (data -> Settings) and what the planner and the layers read. Its
rooms: values.py (the small checkers), models.py (a service's model and the hub lock),
services.py (llmhost_services), frontends.py (llmhost_gateway, llmhost_webui).
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from llmhost.engines import WEBUI_MANAGED_ENV
from llmhost.resources import defaults_file
from llmhost.settings.frontends import MASTER_KEY, WEBUI_PASSWORD, GatewayWish, WebuiWish, _gateway, _webui
from llmhost.settings.models import HUB_SOURCES, ModelSource, lock_file_name, parse_model
from llmhost.settings.services import ServiceWish, _services
from llmhost.settings.values import (
    ENV_MANAGERS,
    SUPERVISORS,
    VERIFY_LEVELS,
    DataError,
    _abs_path,
    _bool,
    _choice,
    _cuda_version,
    _engine_pins,
    _int,
    _interface,
    _keep_alive,
    _mirror,
    _opt_int,
    _opt_str,
    _python,
    _sha256,
    _str,
    _str_list,
    _url,
    _version,
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
