"""llmhost_monitoring: Prometheus on this host, what it watches and when it alerts, checked key by
key (MonitoringWish)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from llmhost.contract import keys_of
from llmhost.settings.frontends import _EMAIL, _hosts, _with_defaults
from llmhost.settings.values import (
    _HOSTNAME,
    DataError,
    _bind,
    _bool,
    _describe,
    _int,
    _opt_fraction,
    _opt_str,
    loopback,
)

EMAIL_KEYS = ("to", "from", "smarthost", "username", "password")

# the keys of llmhost_monitoring and their defaults, as group_data/all.py documents them
MONITORING_DEFAULTS = keys_of("llmhost_monitoring")
# a Prometheus duration as its flags and rule files take it (model.ParseDuration: units largest
# first, each once), kept to what llmhost's thresholds need
DURATION = re.compile(r"(?=\d)((\d+)w)?((\d+)d)?((\d+)h)?((\d+)m)?((\d+)s)?")
_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


def seconds(duration: str) -> int:
    """A duration DURATION matches, in seconds."""
    return sum(int(n) * _SECONDS[u] for n, u in re.findall(r"(\d+)([wdhms])", duration))


@dataclass(frozen=True)
class MonitoringWish:
    """llmhost_monitoring: Prometheus and the node exporter on this host, the hosts it watches and
    the thresholds of its alert rules."""

    host: str
    port: int
    node_exporter_port: int
    hosts: tuple[str, ...] | None  # inventory host names (None: every host of the inventory)
    retention: str
    scrape_interval: str
    down_for: str
    restarts: int
    queue_for: str
    kv_cache_usage: float
    ttft_p95_seconds: float | None  # None: from the service's benchmark record
    gpu_memory_usage: float
    gpu_temperature: int
    disk_free: float
    alertmanager_port: int
    grafana: bool
    grafana_port: int
    webhook: str | None = field(default=None, repr=False)  # may hold a token
    email: tuple[tuple[str, str], ...] = field(default=(), repr=False)  # to, from, smarthost[, username, password]

    @property
    def ports(self) -> tuple[tuple[str, int], ...]:
        """(its key, the port) of each port it listens on (Alertmanager's, Grafana's only when they run)."""
        keys = (
            "port",
            "node_exporter_port",
            *(("alertmanager_port",) if self.alerting else ()),
            *(("grafana_port",) if self.grafana else ()),
        )
        return tuple((k, getattr(self, k)) for k in keys)

    @property
    def alerting(self) -> bool:
        """Alertmanager is planned: the data names a receiver."""
        return bool(self.webhook or self.email)


def _duration(key: str, value: Any, lo: int, hi: int) -> str:
    if not isinstance(value, str) or not DURATION.fullmatch(value):
        raise DataError(key, f'expected a Prometheus duration such as "30s", "5m", "15d" or "1h30m", got {value!r}')
    if not lo <= seconds(value) <= hi:
        raise DataError(key, f"{value} is {seconds(value)} s; expected {lo} to {hi} s")
    return value


def _fraction(key: str, value: Any) -> float:
    fraction = _opt_fraction(key, value)
    if fraction is None:
        raise DataError(key, f"expected a number 0.05..0.99, got {_describe(value)}")
    return fraction


def _webhook(key: str, value: Any) -> str | None:
    text = _opt_str(key, value)
    if text is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", text):
        raise DataError(key, f"expected an http(s):// URL that takes Alertmanager's JSON, got {text!r}")
    return text


def _email(key: str, value: Any) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise DataError(key, f"expected a dict of {', '.join(EMAIL_KEYS)} (or null), got {_describe(value)}")
    unknown = sorted(set(value) - set(EMAIL_KEYS))
    if unknown:
        raise DataError(f"{key}.{unknown[0]}", f"unknown e-mail key (known: {', '.join(EMAIL_KEYS)})")
    out = []
    for name in EMAIL_KEYS:
        text = _opt_str(f"{key}.{name}", value.get(name))
        if text is None:
            if name in ("to", "from", "smarthost"):
                raise DataError(f"{key}.{name}", "required (where Alertmanager sends the alerts)")
            continue
        if name in ("to", "from") and not _EMAIL.fullmatch(text):
            raise DataError(f"{key}.{name}", f"expected an e-mail address, got {text!r}")
        if name == "smarthost":
            server, _, port = text.rpartition(":")
            if not (_HOSTNAME.fullmatch(server) and port.isdigit() and 0 < int(port) < 65536):
                raise DataError(
                    f"{key}.{name}", f"expected host:port of an SMTP server (smtp.example.com:587), got {text!r}"
                )
        if name in ("username", "password") and any(c.isspace() for c in text):
            raise DataError(f"{key}.{name}", "expected no spaces or line breaks")
        out.append((name, text))
    return tuple(out)


def _monitoring(key: str, value: Any) -> MonitoringWish | None:
    if value is None:
        return None
    value = _with_defaults(key, value, MONITORING_DEFAULTS, "monitoring")
    host = _bind(f"{key}.host", value["host"])
    if not loopback(host):
        raise DataError(
            f"{key}.host",
            f"{host}: Prometheus has no sign-in of its own, and its pages and API show every service's "
            "load and let whoever reaches them query it; keep it on 127.0.0.1 and reach it through an SSH "
            "tunnel (ssh -L 9090:127.0.0.1:9090 HOST)",
        )
    ttft = value["ttft_p95_seconds"]
    if ttft is not None and (isinstance(ttft, bool) or not isinstance(ttft, (int, float)) or not 0 < ttft <= 3600):
        raise DataError(f"{key}.ttft_p95_seconds", f"expected seconds above 0 (3600 at most), or null, got {ttft!r}")
    port = _int(f"{key}.port", value["port"], 1, 65535)
    exporter = _int(f"{key}.node_exporter_port", value["node_exporter_port"], 1, 65535)
    if exporter == port:
        raise DataError(f"{key}.node_exporter_port", f"{exporter} is Prometheus's own port ({key}.port)")
    alertmanager = _int(f"{key}.alertmanager_port", value["alertmanager_port"], 1, 65535)
    if alertmanager in (port, exporter) and (value["webhook"] or value["email"]):
        raise DataError(f"{key}.alertmanager_port", f"{alertmanager} is already one of llmhost_monitoring's ports")
    scrape = _duration(f"{key}.scrape_interval", value["scrape_interval"], 1, 3600)
    return MonitoringWish(
        host=host,
        port=port,
        node_exporter_port=exporter,
        hosts=_hosts(f"{key}.hosts", value["hosts"]),
        retention=_duration(f"{key}.retention", value["retention"], 3600, 10 * 365 * 86400),
        scrape_interval=scrape,
        down_for=_duration(f"{key}.down_for", value["down_for"], seconds(scrape), 86400),
        restarts=_int(f"{key}.restarts", value["restarts"], 0, 1000),
        queue_for=_duration(f"{key}.queue_for", value["queue_for"], seconds(scrape), 86400),
        kv_cache_usage=_fraction(f"{key}.kv_cache_usage", value["kv_cache_usage"]),
        ttft_p95_seconds=None if ttft is None else float(ttft),
        gpu_memory_usage=_fraction(f"{key}.gpu_memory_usage", value["gpu_memory_usage"]),
        gpu_temperature=_int(f"{key}.gpu_temperature", value["gpu_temperature"], 40, 120),
        disk_free=_fraction(f"{key}.disk_free", value["disk_free"]),
        alertmanager_port=alertmanager,
        grafana=_bool(f"{key}.grafana", value["grafana"]),
        grafana_port=_int(f"{key}.grafana_port", value["grafana_port"], 1, 65535),
        webhook=_webhook(f"{key}.webhook", value["webhook"]),
        email=_email(f"{key}.email", value["email"]),
    )
