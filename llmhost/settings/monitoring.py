"""llmhost_monitoring: Prometheus on this host, what it watches and when it alerts, checked key by
key (MonitoringWish)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from llmhost.contract import keys_of
from llmhost.settings.frontends import _hosts, _with_defaults
from llmhost.settings.values import DataError, _bind, _describe, _int, _opt_fraction, loopback

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
    )
