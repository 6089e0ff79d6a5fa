"""llmhost's Grafana dashboards, one per kind of target (the host, vLLM, llama.cpp, the gateway), as
the JSON Grafana's file provisioning reads: every panel a PromQL query on the names the pinned
releases expose (docs/guides/monitoring.md lists them; tests/unit/test_monitoring.py holds each
query's names to what the real programs export). Built from data alone: same input, same bytes."""

from __future__ import annotations

import json

DATASOURCE = {"type": "prometheus", "uid": "llmhost-prometheus"}  # provisioned with that uid
# {host}/{service}: the dashboard's variables, as Grafana substitutes them
_SEL = 'host=~"$host",service=~"$service"'

# kind -> (title, [(panel title, unit, [(legend, PromQL)])]); llama-server has no KV cache, TTFT or
# per-request latency series (its /metrics: tools/server/server-task.cpp), so its board has none
PANELS: dict[str, tuple[str, list[tuple[str, str, list[tuple[str, str]]]]]] = {
    "vllm": (
        "vLLM",
        [
            (
                "Requests running and waiting",
                "short",
                [
                    ("running {{host}}/{{service}}", f"sum by (host, service) (vllm:num_requests_running{{{_SEL}}})"),
                    ("waiting {{host}}/{{service}}", f"sum by (host, service) (vllm:num_requests_waiting{{{_SEL}}})"),
                ],
            ),
            (
                "Tokens per second",
                "short",
                [
                    (
                        "generated {{host}}/{{service}}",
                        f"sum by (host, service) (rate(vllm:generation_tokens_total{{{_SEL}}}[1m]))",
                    ),
                    (
                        "prompt {{host}}/{{service}}",
                        f"sum by (host, service) (rate(vllm:prompt_tokens_total{{{_SEL}}}[1m]))",
                    ),
                ],
            ),
            (
                "Time to first token",
                "s",
                [
                    (
                        f"p{q} {{{{host}}}}/{{{{service}}}}",
                        (
                            f"histogram_quantile(0.{q}, sum by (le, host, service) "
                            f"(rate(vllm:time_to_first_token_seconds_bucket{{{_SEL}}}[5m])))"
                        ),
                    )
                    for q in (50, 95, 99)
                ],
            ),
            (
                "Inter-token latency",
                "s",
                [
                    (
                        f"p{q} {{{{host}}}}/{{{{service}}}}",
                        (
                            f"histogram_quantile(0.{q}, sum by (le, host, service) "
                            f"(rate(vllm:inter_token_latency_seconds_bucket{{{_SEL}}}[5m])))"
                        ),
                    )
                    for q in (50, 95, 99)
                ],
            ),
            (
                "KV cache usage",
                "percentunit",
                [("{{host}}/{{service}}", f"max by (host, service) (vllm:kv_cache_usage_perc{{{_SEL}}})")],
            ),
            (
                "Requests finished, by reason",
                "reqps",
                [
                    (
                        "{{finished_reason}} {{host}}/{{service}}",
                        f"sum by (host, service, finished_reason) (rate(vllm:request_success_total{{{_SEL}}}[5m]))",
                    ),
                    (
                        "preempted {{host}}/{{service}}",
                        f"sum by (host, service) (rate(vllm:num_preemptions_total{{{_SEL}}}[5m]))",
                    ),
                ],
            ),
        ],
    ),
    "llamacpp": (
        "llama.cpp",
        [
            (
                "Requests processing and deferred",
                "short",
                [
                    ("processing {{host}}/{{service}}", f"llamacpp:requests_processing{{{_SEL}}}"),
                    ("deferred {{host}}/{{service}}", f"llamacpp:requests_deferred{{{_SEL}}}"),
                ],
            ),
            (
                "Tokens per second",
                "short",
                [
                    ("generated {{host}}/{{service}}", f"rate(llamacpp:tokens_predicted_total{{{_SEL}}}[1m])"),
                    ("prompt {{host}}/{{service}}", f"rate(llamacpp:prompt_tokens_total{{{_SEL}}}[1m])"),
                ],
            ),
            (
                "Mean time per generated token",
                "s",
                [
                    (
                        "{{host}}/{{service}}",
                        (
                            f"rate(llamacpp:tokens_predicted_seconds_total{{{_SEL}}}[5m]) "
                            f"/ rate(llamacpp:tokens_predicted_total{{{_SEL}}}[5m])"
                        ),
                    )
                ],
            ),
        ],
    ),
    "gateway": (
        "Gateway (LiteLLM)",
        [
            (
                "Client requests",
                "reqps",
                [
                    (
                        "{{requested_model}} {{status_code}}",
                        'sum by (requested_model, status_code) (rate(litellm_proxy_total_requests_metric_total{host=~"$host"}[1m]))',
                    )
                ],
            ),
            (
                "Failed client requests",
                "reqps",
                [
                    (
                        "{{requested_model}} {{exception_status}}",
                        (
                            "sum by (requested_model, exception_status) "
                            '(rate(litellm_proxy_failed_requests_metric_total{host=~"$host"}[1m]))'
                        ),
                    )
                ],
            ),
            (
                "Fallbacks",
                "short",
                [
                    (
                        "{{requested_model}} -> {{fallback_model}}",
                        (
                            "sum by (requested_model, fallback_model) "
                            '(increase(litellm_deployment_successful_fallbacks_total{host=~"$host"}[5m]))'
                        ),
                    )
                ],
            ),
            (
                "Backend state (0 healthy, 1 partial, 2 complete outage)",
                "short",
                [("{{api_base}}", 'max by (api_base) (litellm_deployment_state{host=~"$host"})')],
            ),
        ],
    ),
    "host": (
        "Hosts",
        [
            ("Targets up", "short", [("{{job}}", 'up{host=~"$host"}')]),
            (
                "Model store: free space",
                "percentunit",
                [
                    (
                        "{{host}} {{mountpoint}}",
                        'node_filesystem_avail_bytes{host=~"$host"} / node_filesystem_size_bytes{host=~"$host"}',
                    )
                ],
            ),
            (
                "Units restarted by systemd (30m)",
                "short",
                [("{{name}}", 'increase(node_systemd_service_restart_total{host=~"$host"}[30m])')],
            ),
            (
                "GPU memory used",
                "percentunit",
                [
                    (
                        "{{host}} GPU {{gpu}}",
                        (
                            'DCGM_FI_DEV_FB_USED{host=~"$host"} / (DCGM_FI_DEV_FB_USED{host=~"$host"} '
                            '+ DCGM_FI_DEV_FB_FREE{host=~"$host"})'
                        ),
                    )
                ],
            ),
            ("GPU temperature", "celsius", [("{{host}} GPU {{gpu}}", 'DCGM_FI_DEV_GPU_TEMP{host=~"$host"}')]),
        ],
    ),
}


def _variable(name: str, query: str) -> dict:
    return {
        "name": name,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": name},
        "definition": query,
        "includeAll": True,
        "multi": True,
        "allValue": ".*",
        "current": {"text": "All", "value": "$__all"},
        "refresh": 2,
        "sort": 1,
    }


def dashboard(kind: str) -> dict:
    """One kind's dashboard: its panels two to a row, the host and service variables."""
    title, panels = PANELS[kind]
    selector = 'up{kind!~"node|prometheus|alertmanager"}' if kind == "host" else f'up{{kind=~".*{kind}.*"}}'
    variables = [_variable("host", f"label_values({selector}, host)")]
    if kind in ("vllm", "llamacpp"):
        variables.append(_variable("service", f'label_values({selector[:-1]},host=~"$host"}}, service)'))
    return {
        "uid": f"llmhost-{kind}",
        "title": f"llmhost: {title}",
        "tags": ["llmhost"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "editable": False,
        "refresh": "30s",
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": variables},
        "panels": [
            {
                "id": i + 1,
                "type": "timeseries",
                "title": name,
                "datasource": DATASOURCE,
                "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
                "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
                "targets": [
                    {"refId": chr(65 + j), "datasource": DATASOURCE, "expr": expr, "legendFormat": legend}
                    for j, (legend, expr) in enumerate(queries)
                ],
            }
            for i, (name, unit, queries) in enumerate(panels)
        ],
    }


def dashboard_json(kind: str) -> str:
    return json.dumps(dashboard(kind), indent=1, sort_keys=True) + "\n"
