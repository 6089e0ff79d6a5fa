"""The `llmhost` commands that work on an inventory: plan (from live facts, or from a hardware file
with no host at all), serve, stop, status, logs, bench. Each reads the inventory first, here on the
controller (a missing or failing file, no host, a --limit matching none: one line, exit 2), then
runs llmhost's deploy for it with pyinfra, the group data found where the inventory is."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmhost import report, runner
from llmhost.inventory import InventoryError
from llmhost.inventory import load as load_inventory


def data_of(args) -> dict:
    """--data KEY=VALUE, as pyinfra reads it (true/false, numbers, JSON, else the text)."""
    from pyinfra_cli.util import parse_cli_arg

    items = getattr(args, "data", [])
    bad = [item for item in items if "=" not in item]
    if bad:
        raise InventoryError(f"--data {bad[0]}: expected KEY=VALUE")
    return {key: parse_cli_arg(value) for key, value in (item.split("=", 1) for item in items)}


@dataclass(frozen=True)
class _Read:
    """An inventory read on the controller: pyinfra's Inventory, and each host's data validated
    (by name, in the inventory's order, after --limit)."""

    inventory: Any
    settings: dict


def _inventory(command: str, args) -> _Read | None:
    """The inventory, read once, with its hosts after --limit and each host's data validated (None
    after the line that says why not): bad input is one line before pyinfra starts."""
    from llmhost.settings import DataError, load

    try:
        inventory, names = load_inventory(args.inventory, args.limit, data_of(args))
        settings = {}
        for name in names:
            try:
                data = inventory.get_host(name).data.dict()
                settings[name] = load(data, estimate_weights=bool(getattr(args, "hardware", None)))
            except DataError as e:
                raise InventoryError(f"{name}: {e}") from None
        return _Read(inventory, settings)
    except InventoryError as e:
        print(f"llmhost {command}: {e}", file=sys.stderr)
        return None


def _limit(args) -> tuple[str, ...]:
    return tuple(f for pattern in args.limit for f in ("--limit", pattern))


def _host_lines(stdout: str, key: str | None = None) -> dict:
    """The JSON line each host's deploy printed, by host (``key``: only that part of it)."""
    hosts = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            name = entry.pop("host")
            if key is None:
                hosts[name] = entry
            elif key in entry:
                hosts[name] = entry[key]
    return hosts


def plan(args) -> int:
    """Every host of an inventory planned from its live facts, or (--hardware) from a hardware
    file with no host read: the seeds planned before their machines are at hand."""
    read = _inventory("plan", args)
    if read is None:
        return 2
    if args.hardware:
        return _plan_offline(args, read)
    stdout = runner.read(
        "plan", args.inventory, "plan.py", "-y", *_limit(args), env={"LLMHOST_PLAN_JSON": "1" if args.json else "0"}
    )
    if stdout is None:
        return 2
    if args.json:
        print(json.dumps(_host_lines(stdout), indent=2, sort_keys=True))
    else:
        print(stdout, end="")
    return 0


def _plan_offline(args, read: _Read) -> int:
    from pyinfra.api import Config, State
    from pyinfra.context import ctx_state

    from llmhost.deploys.inputs import offline_plan
    from llmhost.hardware import HardwareError, load_hardware
    from llmhost.plan import PlanError
    from llmhost.settings import DataError

    inventory = read.inventory
    try:
        facts = load_hardware(args.hardware)
    except HardwareError as e:
        print(f"llmhost plan: {e}", file=sys.stderr)
        return 2
    plans = {}
    with ctx_state.use(State(inventory, Config())):
        for name in read.settings:
            try:
                plans[name] = offline_plan(inventory.get_host(name), facts)
            except (DataError, PlanError) as e:
                print(f"llmhost plan: {name}: {e}", file=sys.stderr)
                return 2
    if args.json:
        print(report.dumps({name: report.host_json(p) for name, p in plans.items()}))
    else:
        print("\n".join(report.host_text(name, p) for name, p in plans.items()))
    return 0


def serve(args) -> int:
    """Take the inventory's hosts to their planned state (deploys/serve.py), then print where each
    service answers."""
    if _inventory("serve", args) is None:
        return 2
    flags = [*_limit(args)]
    flags += ["-y"] if args.yes else []
    flags += ["--dry"] if args.dry else []
    flags += ["--diff"] if args.diff else []
    flags += [f for item in args.data for f in ("--data", item)]
    flags += ["--data", "llmhost_remove_all=true"] if args.remove_all else []
    everything = args.dry or args.diff or not args.yes
    ok, stdout = runner.streamed(
        "serve",
        args.inventory,
        "serve.py",
        *flags,
        env={"LLMHOST_ENDPOINTS": "1"},
        everything=everything,
        progress=not everything,  # -y: the commands' own output as it comes (downloads, installs, builds)
    )
    if not ok:
        return 1
    hosts = _host_lines(stdout, "endpoints")
    if args.dry:
        return 0
    print(report.dumps(hosts) if args.json else report.endpoints_text(hosts))
    return 0


def stop(args) -> int:
    """Stop the planned services of the inventory's hosts (or only SERVICE, on the hosts that run
    it); a serve starts them again."""
    read = _inventory("stop", args)
    if read is None:
        return 2
    limit = _limit(args)
    if args.service:
        hosts = _running(read.settings, args.service)
        if not hosts:
            print(f"llmhost stop: no host of {args.inventory} runs a service named {args.service!r}", file=sys.stderr)
            return 2
        limit = tuple(f for name in sorted(hosts) for f in ("--limit", name))
    env = {"LLMHOST_STOP_ONLY": args.service or ""}
    ok, _ = runner.streamed("stop", args.inventory, "stop.py", "-y", *limit, env=env)
    return 0 if ok else 1


def status(args) -> int:
    """Every host and service of an inventory now, read-only: exit 1 when anything is unhealthy or
    drifted (a serve run would change something), 2 when a host cannot be read or planned.
    ``--watch``: read again every SECONDS until ^C (the last read's exit status)."""
    if _inventory("status", args) is None:
        return 2
    while True:
        code = _status_once(args)
        if not args.watch or code == 2:
            return code
        try:
            time.sleep(args.watch)
        except KeyboardInterrupt:
            return code
        print(f"\n--- {time.strftime('%H:%M:%S')} ---", flush=True)


def _status_once(args) -> int:
    # --dry without -y: pyinfra checks what every operation of the serve layers would change, and stops
    stdout = runner.read("status", args.inventory, "status.py", "--dry", *_limit(args))
    if stdout is None:
        return 2
    hosts = _host_lines(stdout, "status")
    if args.json:
        print(report.dumps(hosts), flush=True)
    else:
        print(report.status_text(hosts))
        print()
        print(report.endpoints_text({name: h["endpoints"] for name, h in hosts.items()}), flush=True)
    return 0 if all(report.green(h) for h in hosts.values()) else 1


def _running(settings: dict, service: str) -> dict[str, str]:
    """The hosts (of ``settings``, each host's data by name) that run ``service`` (a service,
    "gateway" or "webui"), each with the path of its log there."""
    from llmhost.plan import SupervisedProcess

    found = {}
    for name, s in settings.items():
        frontends = [n for n, on in (("gateway", s.gateway), ("webui", s.webui)) if on]
        if service in [svc.name for svc in s.services] + frontends:
            found[name] = SupervisedProcess.files(service, s.root, s.env_dir)["log"]
    return found


def logs(args) -> int:
    """A service's log on each host of the inventory that runs it (``-f``: followed until ^C)."""
    from pyinfra.api import Config, State
    from pyinfra.api.command import StringCommand
    from pyinfra.context import ctx_state

    read = _inventory("logs", args)
    if read is None:
        return 2
    inventory, targets = read.inventory, _running(read.settings, args.service)
    if not targets:
        print(f"llmhost logs: no host of {args.inventory} runs a service named {args.service!r}", file=sys.stderr)
        return 2
    from pyinfra.api.output import set_echo

    # pyinfra prints a command's lines as they come through its echo (unset outside its own CLI):
    # the log's lines are this command's output
    set_echo(lambda message=None, **_: print(message, flush=True))
    state = State(inventory, Config())
    with ctx_state.use(state):
        code = 0
        for name, path in targets.items():
            host = inventory.get_host(name)
            host.connect(show_errors=False)
            if not host.connected:
                print(f"llmhost logs: {name}: could not connect", file=sys.stderr)
                code = 2
                continue
            tail = ["tail", "-n", str(args.lines), *(["-F"] if args.follow else []), path]
            try:
                host.run_shell_command(StringCommand(shlex.join(tail)), print_output=True, print_input=False)
            except KeyboardInterrupt:
                return 0
    return code


def bench(args) -> int:
    """Sweep the services of an inventory (or of --limit/--service), keep each run's record on the
    controller, print its table and the bound, and plot it with any --compare records."""
    from llmhost import benchmarks

    try:
        earlier = benchmarks.load(args.compare)
    except ValueError as e:
        print(f"llmhost bench: --compare: {e}", file=sys.stderr)
        return 2
    if not args.inventory:
        if not earlier:
            print(
                "llmhost bench: give an inventory to benchmark, or --compare RECORD... to plot stored runs",
                file=sys.stderr,
            )
            return 2
        for record in earlier:
            print(benchmarks.table(record) + "\n")
        print(f"plot: {benchmarks.plot(earlier, args.plot or Path(args.results) / 'compare.png')}")
        return 0
    if _inventory("bench", args) is None:
        return 2
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    request = {
        "stamp": stamp,
        "services": args.service,
        "levels": args.levels,
        "prompt_tokens": args.prompt_tokens,
        "output_tokens": args.output_tokens,
        "requests": args.requests,
        "max_seconds": args.max_seconds,
    }
    results = Path(args.results).resolve()
    ran, _ = runner.streamed(
        "bench",
        args.inventory,
        "bench.py",
        "-y",
        *_limit(args),
        env={"LLMHOST_BENCH": json.dumps(request), "LLMHOST_BENCH_RESULTS": str(results)},
    )
    records = benchmarks.load(sorted(results.glob(f"*/*/{stamp}.json")))
    for record in records:
        print(benchmarks.table(record) + "\n")
    if not ran:
        return 2 if not records else 1
    if not records:
        print("llmhost bench: no service was benchmarked (the hosts have none?)", file=sys.stderr)
        return 1
    plotted = benchmarks.plot(earlier + records, args.plot or results / f"{stamp}.png")
    print(f"records: {', '.join(os.path.relpath(r['_path']) for r in records)}\nplot: {os.path.relpath(plotted)}")
    return 1 if any(lv["status"] != "ok" for r in records for lv in r["levels"]) else 0
