"""Benchmark operations: the host's memory bandwidth probed once, a service's sweep run on the host
and its record written on the controller."""

from __future__ import annotations

import json

from pyinfra import host, logger
from pyinfra.api import FunctionCommand, StringCommand, operation

from llmhost.benchmarks import make_record, record_path, write_record
from llmhost.facts.bench import MemoryBandwidth


@operation()
def probed(python: str, script: str, cache: str, cpus: int):
    """
    Measure the host's memory read bandwidth unless a probe on as many CPUs is cached.

    + python: the bench-tools venv's Python (torch)
    + script: llmhost-bench on the host
    + cache: where the result is kept on the host (the ``MemoryBandwidth`` fact reads it)
    + cpus: the CPUs the host has now (a cache from another count is probed again)

    **Example:**

    .. code:: python

        bench.probed(
            name="Memory read bandwidth",
            python="/opt/llmhost/venvs/bench-tools-current/bin/python",
            script="/opt/llmhost/bin/llmhost-bench",
            cache="/opt/llmhost/bench/memory-bandwidth.json",
            cpus=16,
        )
    """
    cached = host.get_fact(MemoryBandwidth, path=cache)
    if cached and cached.get("cpus") == cpus:
        host.noop(f"memory read bandwidth {cached['read_gbs']} GB/s on {cpus} CPUs, probed {cached.get('probed_at')}")
        return
    yield StringCommand(python, script, "probe", "--cache", cache)


@operation(is_idempotent=False)
def swept(
    python: str,
    script: str,
    spec: str,
    results: str,
    meta: dict,
    cache: str | None = None,
    bandwidth: dict | None = None,
):
    """
    Run one service's concurrency sweep on the host and keep its record on the controller.

    + python: the bench-tools venv's Python (GuideLLM)
    + script: llmhost-bench on the host
    + spec: the sweep's spec on the host (``llmhost-bench sweep --spec``)
    + results: the controller's results directory; the record goes to
      ``<results>/<host>/<service>/<stamp>.json``, which must not exist yet
    + meta: what the record says produced it (host, service, stamp, engine, argv, env, facts, request)
    + cache: the host's probed memory bandwidth (CPU services): read once the sweep has run
    + bandwidth: the bandwidth to hold the service against instead (GPUs: their specification)

    A sweep whose service does not answer fails the operation with that one line; a level that
    fails is recorded as failed, with its cause.

    **Example:**

    .. code:: python

        bench.swept(
            name="Sweep of tiny",
            python="/opt/llmhost/venvs/bench-tools-current/bin/python",
            script="/opt/llmhost/bin/llmhost-bench",
            spec="/opt/llmhost/bench/tiny/20261126T001000Z/spec.json",
            results="build/bench",
            meta={"host": "@local", "service": "tiny", "stamp": "20261126T001000Z"},
        )
    """
    target = record_path(results, meta["host"], meta["service"], meta["stamp"])

    def run(state, host) -> bool:
        ok, output = host.run_shell_command(StringCommand(python, script, "sweep", "--spec", spec))
        lines = [line for line in output.stdout_lines if line.strip().startswith("{")]
        if not ok or not lines:
            said = (output.stderr_lines or output.stdout_lines or ["no output"])[-1].strip()
            logger.error(f"{host.print_prefix}llmhost bench: {meta['service']}: llmhost-bench sweep failed: {said}")
            return False
        result = json.loads(lines[-1])
        warm = result.pop("unanswered", None)
        if warm:
            logger.error(f"{host.print_prefix}llmhost bench: {meta['service']}: {warm}")
            return False
        measured = bandwidth
        if cache:  # probed by this run or an earlier one: read now, after the probe (the fact's own parsing)
            ok, output = host.run_shell_command(StringCommand(MemoryBandwidth().command(cache)))
            probed = MemoryBandwidth().process(output.stdout_lines) if ok else None
            measured = {**probed, "source": "probed"} if probed else None
        record = make_record(meta, result, measured)
        write_record(target, record)
        failed = [lv["concurrency"] for lv in record["levels"] if lv["status"] != "ok"]
        logger.info(
            f"{host.print_prefix}{meta['service']}: {len(record['levels'])} level(s) recorded in {target}"
            + (f"; failed: c={', c='.join(map(str, failed))}" if failed else "")
        )
        return True

    yield FunctionCommand(run, (), {})
