"""The host's plan, as every layer reads it (HostPlan), its gateway's (GatewayPlan) and its web
UI's (WebuiPlan): frozen, like the rest of the planner's output (llmhost.plan.types). No decisions
here."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmhost.plan.inputs import VLLM_AUTH, Owned, directories_record, lib_dir, owned_record
from llmhost.plan.types import (
    AptPlan,
    CondaPlan,
    CudaPlan,
    CudaRepoPlan,
    DriverPlan,
    EnginePlan,
    OllamaPlan,
    ServicePlan,
    ShmPlan,
    SupervisedProcess,
    Teardown,
    bind_url,
)


@dataclass(frozen=True)
class Deployment:
    """One backend of a gateway's model group (LiteLLM's model_list entry)."""

    group: str  # the model group: the backend's served_model_name
    model: str  # what LiteLLM asks the backend for: openai/<served_model_name>
    api_base: str  # <url>/v1
    key_var: str | None  # the env var of the gateway's env file that holds its key (None: it has none)
    id: str  # <host>/<service>: stable, in the gateway's logs and metrics


@dataclass(frozen=True, kw_only=True)
class GatewayPlan(SupervisedProcess):
    """LiteLLM's proxy in front of the inventory's services: its venv, its config (no secrets in it),
    its env file (the master key and the backends' keys, 0600) and its supervisor's files."""

    deployments: tuple[Deployment, ...]
    aliases: tuple[tuple[str, str], ...]  # alias -> model group
    fallbacks: tuple[tuple[str, tuple[str, ...]], ...]
    num_retries: int
    timeout: int
    cooldown_time: int
    allowed_fails: int
    config: str  # config.yaml on the host
    health_path: str = "/health/liveliness"  # no auth; 200 once the proxy has loaded its config
    api_key_var: str = "LITELLM_MASTER_KEY"

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.group for d in self.deployments))

    @property
    def names(self) -> tuple[str, ...]:
        """Every name a client may ask for: the model groups and the aliases."""
        return self.groups + tuple(a for a, _ in self.aliases)

    def summary(self) -> dict:
        """The JSON shape of `llmhost plan --json` (secrets left out)."""
        return {
            "engine": self.engine.engine,
            "engine_version": self.engine.version,
            "bind": self.bind,
            "port": self.port,
            "deployments": [
                {"group": d.group, "api_base": d.api_base, "id": d.id, "keyed": bool(d.key_var)}
                for d in self.deployments
            ],
            "aliases": dict(self.aliases),
            "fallbacks": {g: list(f) for g, f in self.fallbacks},
            "argv": list(self.argv),
            "env": dict(self.env),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True, kw_only=True)
class WebuiPlan(SupervisedProcess):
    """Open WebUI: its venv, its data directory, its connections (the gateway, or the services), its
    env file (the admin's password, the session secret, the connections' keys: 0600) and its
    supervisor's files."""

    connections: tuple[tuple[str, str], ...]  # (OpenAI-compatible base URL, what it is)
    ollama_url: str | None  # this host's Ollama daemon, listed through Open WebUI's Ollama API
    models: tuple[str, ...]  # the names it lists (the verify layer chats with the first)
    default_model: str
    admin_email: str
    data_dir: str  # its database, uploads and cache: under llmhost's root, kept across upgrades

    @property
    def database(self) -> str:
        return f"{self.data_dir}/webui.db"

    @property
    def names(self) -> tuple[str, ...]:
        """The model names it lists (as GatewayPlan.names: what `llmhost status` shows)."""
        return self.models

    def summary(self) -> dict:
        """The JSON shape of `llmhost plan --json` (secrets left out)."""
        return {
            "engine": self.engine.engine,
            "engine_version": self.engine.version,
            "bind": self.bind,
            "port": self.port,
            "connections": [{"url": u, "what": w} for u, w in self.connections],
            "ollama": self.ollama_url,
            "models": list(self.models),
            "default_model": self.default_model,
            "admin_email": self.admin_email,
            "data_dir": self.data_dir,
            "argv": list(self.argv),
            "env": dict(self.env),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class ScrapeTarget:
    """One scrape job of Prometheus (one per target: each has its own key): a service, a gateway,
    the node exporter, Prometheus itself. ``host``, ``service`` and ``kind`` label every series."""

    job: str  # job_name: "<host>/<service>"
    kind: str  # vllm | llamacpp | gateway | node | prometheus
    address: str  # host:port
    host: str  # the inventory name of the host it runs on
    service: str  # its name there (gateway, node-exporter, prometheus)
    metrics_path: str = "/metrics"
    credentials: str | None = None  # the file Prometheus reads the bearer token from (None: none sent)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AlertRule:
    name: str
    expr: str  # PromQL
    for_: str  # how long expr must hold (a Prometheus duration)
    summary: str  # a Go template over the alert's labels
    severity: str = "warning"
    labels: tuple[tuple[str, str], ...] = ()  # more labels (one rule per service: its host and name)


@dataclass(frozen=True)
class MonitoringPlan:
    """Prometheus, the node exporter (and Alertmanager, where the data names a receiver) on this
    host, from the distribution's packages under their own systemd units, each unit's ExecStart
    replaced by a drop-in (llmhost's argv: loopback, its config); the configs, the rules and the
    targets' keys (0640, group ``user``) in /etc/prometheus."""

    bind: str
    port: int
    exporter_port: int
    scrape_interval: str
    scrape_timeout: str | None  # None: Prometheus's 10s default (not above the interval)
    targets: tuple[ScrapeTarget, ...]
    rules: tuple[AlertRule, ...]
    argv: tuple[str, ...]  # Prometheus's
    exporter_argv: tuple[str, ...]
    packages: tuple[str, ...]
    missing: tuple[str, ...]  # of packages, those the host does not have yet
    reasons: tuple[str, ...]
    alertmanager_argv: tuple[str, ...] = ()  # () : no Alertmanager
    alertmanager_port: int | None = None
    webhook: str | None = field(default=None, repr=False)  # where Alertmanager posts (may hold a token)
    email: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # to, from, smarthost[, username, password]
    user: str = "prometheus"  # the packages' account (their units' User=)
    home: str = "/var/lib/prometheus"
    config: str = "/etc/prometheus/llmhost.yml"
    rules_file: str = "/etc/prometheus/llmhost-rules.yml"
    keys_dir: str = "/etc/prometheus/llmhost-keys"
    alertmanager_config: str = "/etc/prometheus/llmhost-alertmanager.yml"
    console: str = "/etc/prometheus/consoles/llmhost.html"  # Prometheus's own page of the services
    grafana_port: int | None = None  # None: no Grafana
    grafana_repo: str = ""  # Grafana's APT repository (or its mirror)
    grafana_key_fingerprint: str = ""  # what its gpg.key must be before apt trusts it
    grafana_missing: bool = False  # the grafana package is to be installed
    grafana_env: tuple[tuple[str, str], ...] = ()  # its settings (GF_*), in its unit's drop-in
    grafana_password: str = field(default="", repr=False)  # its admin's, set at its first start
    dashboards: tuple[str, ...] = ()  # llmhost.dashboards' kinds provisioned
    grafana_unit: str = "grafana-server"
    grafana_keyring: str = "/etc/apt/keyrings/grafana.gpg"
    grafana_sources: str = "/etc/apt/sources.list.d/grafana.list"
    grafana_password_file: str = "/etc/grafana/llmhost-admin-password"
    grafana_datasource: str = "/etc/grafana/provisioning/datasources/llmhost.yaml"
    grafana_provider: str = "/etc/grafana/provisioning/dashboards/llmhost.yaml"
    dashboards_dir: str = "/etc/grafana/llmhost-dashboards"

    @property
    def grafana_files(self) -> tuple[str, ...]:
        """What llmhost writes for Grafana (its package's own files stay)."""
        if not self.grafana_port:
            return ()
        boards = tuple(f"{self.dashboards_dir}/{kind}.json" for kind in self.dashboards)
        return (
            self.grafana_sources,
            self.grafana_keyring,
            self.grafana_password_file,
            self.grafana_datasource,
            self.grafana_provider,
            self.dropin(self.grafana_unit),
            *boards,
        )

    unit: str = "prometheus"
    exporter_unit: str = "prometheus-node-exporter"
    alertmanager_unit: str = "prometheus-alertmanager"

    @property
    def url(self) -> str:
        return bind_url(self.bind, self.port)

    @property
    def units(self) -> dict[str, tuple[str, ...]]:
        """Each unit it runs and the argv its drop-in gives it."""
        units = {self.unit: self.argv, self.exporter_unit: self.exporter_argv}
        if self.alertmanager_argv:
            units[self.alertmanager_unit] = self.alertmanager_argv
        return units

    def dropin(self, unit: str) -> str:
        return f"/etc/systemd/system/{unit}.service.d/llmhost.conf"

    @property
    def smtp_password_file(self) -> str | None:
        return f"{self.keys_dir}/alertmanager-smtp.password" if dict(self.email).get("password") else None

    @property
    def key_files(self) -> tuple[str, ...]:
        return tuple(t.credentials for t in self.targets if t.credentials) + tuple(
            f for f in (self.smtp_password_file,) if f
        )

    def summary(self) -> dict:
        """The JSON shape of `llmhost plan --json` (secrets left out)."""
        return {
            "url": self.url,
            "scrape_interval": self.scrape_interval,
            "targets": [
                {"job": t.job, "kind": t.kind, "address": t.address, "keyed": bool(t.token)} for t in self.targets
            ],
            "rules": [r.name for r in self.rules],
            "units": {unit: list(argv) for unit, argv in self.units.items()},
            "alerts_to": [k for k, on in (("webhook", self.webhook), ("email", self.email)) if on],
            "grafana": {"port": self.grafana_port, "repo": self.grafana_repo, "dashboards": list(self.dashboards)}
            if self.grafana_port
            else None,
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class HostPlan:
    root: str
    env_dir: str
    supervisor: str
    service_user: str | None  # the system user engines, the gateway and the web UI run as (systemd and tmux)
    system_packages: tuple[str, ...]
    engines: tuple[EnginePlan, ...]
    services: tuple[ServicePlan, ...]
    hf_endpoint: str | None
    hf_token: str | None = field(repr=False)
    health_timeout: int
    reasons: tuple[str, ...]
    disk_free_bytes: int | None = None
    modelscope_endpoint: str | None = None
    endpoint_keys: tuple[tuple[str, str], ...] = ()  # hub (hf, modelscope) -> the data key of its endpoint
    python: str = "python3"  # the host's interpreter (llmhost-hosttool outside any venv)
    verify: str = "sizes"  # how re-runs check models already on the host: sizes | full
    tools: EnginePlan | None = None  # the venv whose huggingface_hub / modelscope fetch hub models
    apt: AptPlan | None = None  # None: a distribution llmhost has no apt layout for, and no mirror asked
    wheelhouse: str | None = None  # the controller's wheel directory, shipped to ``wheelhouse_dir``
    conda: CondaPlan | None = None  # llmhost_env_manager = "conda"
    cuda: CudaPlan | None = None  # llmhost_cuda_default
    driver: DriverPlan | None = None  # engines built with CUDA need a driver at least this new
    cuda_repo: CudaRepoPlan | None = None  # NVIDIA's apt repository (toolkits; Debian's driver)
    cuda_toolkits: tuple[str, ...] = ()  # toolkits to install side by side (llmhost_cuda_toolkits)
    # the run ends after the driver layer (a reboot stands between the driver and the engines): why
    stop_after_driver: str | None = None
    reboot: bool = False  # llmhost reboots the host after the driver layer (llmhost_allow_reboot)
    ollama: OllamaPlan | None = None  # services with engine ollama share this daemon
    converter: EnginePlan | None = None  # the venv that runs llama.cpp's convert_hf_to_gguf.py
    shm: ShmPlan | None = None  # /dev/shm grown for the engines (None: it holds what they need)
    owned: tuple[Owned, ...] = ()  # what this plan creates, recorded on the host (owned_file)
    teardown: tuple[Teardown, ...] = ()  # what llmhost created that this plan no longer wants
    nofile: int = 65536  # the engines' open-files limit (LimitNOFILE=, or ulimit -n in a launcher)
    gateway: GatewayPlan | None = None  # llmhost_gateway: LiteLLM's proxy in front of the inventory's services
    webui: WebuiPlan | None = None  # llmhost_webui: Open WebUI in front of the gateway or the services
    monitoring: MonitoringPlan | None = None  # llmhost_monitoring: Prometheus, the node exporter, alert rules
    missing_packages: tuple[str, ...] = ()  # of system_packages, those the host does not have yet
    hf_token_file: str | None = None  # where hf_token reaches the host (0600), for its hub downloads
    port_conflicts: tuple[str, ...] = ()  # ports it listens on that another program holds (serve refuses)
    # the directories the system layer makes, parents first: (path, mode, owner or None: root's,
    # llmhost's: its mode and owner are set; else it exists and stays as it is)
    directories: tuple[tuple[str, str, str | None, bool], ...] = ()
    made_directories: tuple[str, ...] = ()  # the directories llmhost's record lists after the run

    @property
    def directories_file(self) -> str:
        return directories_record(self.root)

    @property
    def owned_file(self) -> str:
        return owned_record(self.root)

    @property
    def wheelhouse_dir(self) -> str:
        return f"{self.root}/wheelhouse"

    @property
    def tool(self) -> str:
        return f"{self.root}/bin/llmhost-hosttool"

    @property
    def vllm_auth(self) -> str | None:
        """Where the module that puts the API key on every vLLM route goes, when a service needs it."""
        needed = any(VLLM_AUTH in s.argv for s in self.services)
        return f"{lib_dir(self.root)}/{VLLM_AUTH.split('.')[0]}.py" if needed else None
