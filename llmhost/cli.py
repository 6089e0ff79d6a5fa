"""The `llmhost` command line."""

from __future__ import annotations

import argparse
import json
import sys

from llmhost import __version__


def _tiny_model(args) -> int:
    from llmhost.manifest import build_manifest, total_bytes
    from llmhost.tinymodel import write_tiny_model

    out = write_tiny_model(args.directory)
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
    for key in ("max_model_len", "max_num_seqs", "dtype", "quantization", "tensor_parallel_size",
                "gpu_memory_utilization"):  # fmt: skip
        if getattr(args, key) is not None:
            service[key] = getattr(args, key)
    try:
        facts = load_hardware(args.hardware)
        plan = plan_host(facts, load({"llmhost_services": [service]}))
    except (HardwareError, DataError, PlanError) as e:
        print(f"llmhost plan: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(report.dumps({**plan.services[0].summary(), "supervisor": plan.supervisor}))
    else:
        print(report.host_text(args.hardware, plan))
    return 0


def _plan_inventory(args) -> int:
    import os
    import subprocess
    from pathlib import Path

    pyinfra = Path(sys.executable).with_name("pyinfra")
    deploy = Path(__file__).resolve().parent.parent / "deploys" / "plan.py"
    env = {**os.environ, "LLMHOST_PLAN_JSON": "1" if args.json else "0"}
    proc = subprocess.run([str(pyinfra), "-y", args.inventory, str(deploy)], capture_output=True, text=True, env=env)
    lines = proc.stderr.splitlines()
    unreachable = [line.strip() for line in lines if "Could not connect" in line]
    errors = [line.split(": ", 1)[-1] for line in lines if line.startswith("--> pyinfra error")]
    if unreachable:
        for line in unreachable:
            print(f"llmhost plan: {line}", file=sys.stderr)
        return 2
    if proc.returncode != 0:
        print(f"llmhost plan: {(errors or lines or ['pyinfra failed'])[-1]}", file=sys.stderr)
        return 2
    if args.json:
        hosts = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                entry = json.loads(line)
                hosts[entry.pop("host")] = entry
        print(json.dumps(hosts, indent=2, sort_keys=True))
    else:
        print(proc.stdout, end="")
    return 0


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
    p.set_defaults(func=_tiny_model)

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

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as e:
        print(f"llmhost {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
