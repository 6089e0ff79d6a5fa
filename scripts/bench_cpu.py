"""The CPU plan against the hardware's limit, in one run on this machine (a benchmark, not a test).

    .venv/bin/python scripts/bench_cpu.py          (or: make bench-cpu; ~25 min on 2 cores)

With a model of Qwen2.5-0.5B's shapes in bfloat16 (random weights made here by `llmhost tiny-model
--shape qwen2.5-0.5b`: 0.99 GB read per decoded token), prompt 155 tokens, 64 out, concurrency 1, 4
and 8, it serves on @local, one at a time, through llmhost itself (`pyinfra deploys/serve.py`, then
`llmhost bench`):

  latency      the planner's choice for `workload: latency` (engine auto)
  throughput   the planner's choice for `workload: throughput` (engine auto, the default)
  minimal      vLLM's CPU build from the same venv launched by hand with only VLLM_CPU_KVCACHE_SPACE
               set, swept by the same llmhost-bench/GuideLLM on the host

and checks the two goals of issue 17:
  1. the planner's choice decodes one stream (1/ITL at concurrency 1) at >= 0.9x the bandwidth bound
     (the host's probed read bandwidth over the weights read per token);
  2. at concurrency 8 its output tok/s is >= 1.5x the minimal launch's.

Records go to build/bench-cpu/@local/<service>/<stamp>.json, the figure of all three and a markdown
summary to build/bench-cpu/<stamp>.{png,md}. The services of inventories/local.py are served again
at the end (the runs above replace them on @local). Exit 0 when both goals hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from llmhost import benchmarks

BIN = REPO / ".venv" / "bin"
MODEL = "./build/models/qwen2.5-0.5b-shape"
ROOT = "/opt/llmhost"  # llmhost_root's default, where the services and the bench tools live
LEVELS, PROMPT, OUTPUT = "1,4,8", 155, 64
PORT, MINIMAL_PORT = 8010, 8011
GOAL_BOUND, GOAL_MINIMAL = 0.9, 1.5


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def sh(*argv: str, **kw) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run(argv, cwd=REPO, text=True, capture_output=True, **kw, check=False)
    proc.seconds = time.monotonic() - started
    if proc.returncode != 0:
        sys.exit(f"bench_cpu: {' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}{proc.stdout[-2000:]}")
    return proc


# where the engine's torch comes from, as `make bench-cpu` passes it (the Makefile's WHEELS)
WHEELS = os.environ.get("LLMHOST_TORCH_WHEELS")
TORCH = {"llmhost_pip_find_links": [WHEELS], "llmhost_torch_index_url": None} if WHEELS else {}


def inventory(path: Path, services: list[dict], **more) -> str:
    data = {"llmhost_services": services, **TORCH, **more}
    path.write_text(f"# written by scripts/bench_cpu.py\nlocal = [('@local', {data!r})]\n")
    return str(path)


def serve_and_bench(name: str, workload: str, work: Path, results: Path) -> dict:
    service = {
        "name": name,
        "model": MODEL,
        "port": PORT,
        "served_model_name": "qwen2.5-0.5b-shape",
        "max_num_seqs": 8,
        "workload": workload,
    }
    inv = inventory(work / f"{name}.py", [service])
    log(f"{name}: serving (workload: {workload}) with pyinfra deploys/serve.py")
    served = sh(str(BIN / "pyinfra"), "-y", inv, "deploys/serve.py")
    log(f"{name}: served in {served.seconds:.0f} s; sweeping with llmhost bench")
    bench = sh(
        str(BIN / "llmhost"),
        "bench",
        inv,
        "--levels",
        LEVELS,
        "--prompt-tokens",
        str(PROMPT),
        "--output-tokens",
        str(OUTPUT),
        "--results",
        str(results),
    )
    (path,) = [line.split(": ", 1)[1] for line in bench.stdout.splitlines() if line.startswith("records: ")]
    record = benchmarks.load([REPO / path])[0]
    record["_served_seconds"] = served.seconds
    return record


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            sys.exit(f"bench_cpu: the minimal launch exited ({proc.returncode}); see its log")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=3) as r:
                if r.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(2)
    sys.exit(f"bench_cpu: the minimal launch was not healthy within {timeout:.0f} s")


def minimal(throughput: dict, work: Path, results: Path, stamp: str) -> dict:
    """vLLM from the throughput service's venv, with nothing but VLLM_CPU_KVCACHE_SPACE (the same
    size the plan gave), swept by the same host tool into a record of the same form."""
    produced = throughput["produced_by"]
    python, model = produced["argv"][0], produced["argv"][produced["argv"].index("--model") + 1]
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": f"{ROOT}/home",
        "HF_HUB_OFFLINE": "1",
        "VLLM_CPU_KVCACHE_SPACE": produced["env"]["VLLM_CPU_KVCACHE_SPACE"],
    }
    argv = [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--served-model-name",
        "minimal",
        "--port",
        str(MINIMAL_PORT),
    ]
    out_dir = f"{ROOT}/bench/minimal/{stamp}"
    os.makedirs(out_dir, exist_ok=True)
    log_path = work / "minimal.log"
    log(f"minimal: {' '.join(argv)} (env {env})")
    with open(log_path, "w") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        up = wait_healthy(f"http://127.0.0.1:{MINIMAL_PORT}", proc)
        log(f"minimal: healthy in {up:.0f} s; sweeping")
        request = throughput["request"]
        spec = {
            "service": "minimal",
            "url": f"http://127.0.0.1:{MINIMAL_PORT}",
            "model": "minimal",
            "tokenizer": model,
            "gguf_file": None,
            "levels": request["levels"],
            "requests": request["requests"],
            "prompt_tokens": PROMPT,
            "output_tokens": OUTPUT,
            "max_seconds": request["max_seconds"],
            "env_files": [],
            "api_key_var": "",
            "out_dir": out_dir,
            "manifest": throughput["_plan_manifest"],
        }
        Path(out_dir, "spec.json").write_text(json.dumps(spec, indent=2) + "\n")
        swept = sh(
            f"{ROOT}/venvs/bench-tools-current/bin/python",
            f"{ROOT}/bin/llmhost-bench",
            "sweep",
            "--spec",
            f"{out_dir}/spec.json",
        )
        result = json.loads(swept.stdout.strip().splitlines()[-1])
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
    bandwidth = json.loads(Path(f"{ROOT}/bench/memory-bandwidth.json").read_text())
    meta = {
        "host": "@local",
        "service": "minimal",
        "stamp": stamp,
        "weights_bytes": throughput["weights_bytes"],
        "produced_by": {**produced, "argv": argv, "env": env, "max_num_seqs": None, "max_model_len": None},
        "request": request,
        "host_facts": throughput["host_facts"],
        "tool": "guidellm",
        "plan_reasons": ["minimal: launched by hand, only VLLM_CPU_KVCACHE_SPACE set"],
    }
    record = benchmarks.make_record(meta, result, bandwidth)
    path = benchmarks.write_record(benchmarks.record_path(results, "@local", "minimal", stamp), record)
    record["_path"] = str(path)
    return record


def level(record: dict, c: int) -> dict:
    return next(lv for lv in record["levels"] if lv["concurrency"] == c)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="build/bench-cpu")
    parser.add_argument(
        "--no-restore", action="store_true", help="leave @local without inventories/local.py's services"
    )
    args = parser.parse_args()
    results = (REPO / args.results).resolve()
    work = results / "work"
    work.mkdir(parents=True, exist_ok=True)
    if not (REPO / MODEL / "config.json").exists():
        log(f"making {MODEL} (Qwen2.5-0.5B's shapes, bfloat16, random weights)")
        sh(str(BIN / "llmhost"), "tiny-model", "--shape", "qwen2.5-0.5b", MODEL)
    started = time.monotonic()
    records = {}
    for name in ("latency", "throughput"):
        records[name] = serve_and_bench(name, name, work, results)
    records["throughput"]["_plan_manifest"] = f"{ROOT}/models/{Path(MODEL).name}.manifest.json"
    log("stopping the served services (an inventory without services, llmhost_remove_all: torn down)")
    sh(str(BIN / "pyinfra"), "-y", inventory(work / "none.py", [], llmhost_remove_all=True), "deploys/serve.py")
    records["minimal"] = minimal(records["throughput"], work, results, records["throughput"]["stamp"])
    if not args.no_restore:
        log("serving inventories/local.py again")
        back = [a for k, v in TORCH.items() for a in ("--data", f"{k}={json.dumps(v)}")]
        sh(str(BIN / "pyinfra"), "-y", "inventories/local.py", "deploys/serve.py", *back)

    lat, thr, low = records["latency"], records["throughput"], records["minimal"]
    bound = lat["bound"]
    goal1 = bound["ratio"] >= GOAL_BOUND
    c8 = level(thr, 8)["output_tokens_per_second"] / level(low, 8)["output_tokens_per_second"]
    goal2 = c8 >= GOAL_MINIMAL
    cpu = thr["host_facts"]
    machine = (
        f"{thr['bandwidth'].get('cpu') or 'CPU'}, {cpu['cores']} CPUs, {cpu['memory_bytes'] / 2**30:.0f} GiB; "
        f"{cpu['os_id']} {cpu['os_version']}"
    )
    lines = [
        f"# CPU benchmark {thr['stamp']} on {machine}",
        "",
        (
            f"Model: Qwen2.5-0.5B's shapes, bfloat16 (weights read per token: {thr['weights_bytes'] / 1e9:.2f} GB); "
            f"prompt {PROMPT} tokens, {OUTPUT} out; GuideLLM {thr.get('guidellm')} on the host; "
            f"read bandwidth {thr['bandwidth']['read_gbs']:g} GB/s ({thr['bandwidth']['method']})."
        ),
        "",
        "| run | engine | c=1 out tok/s | c=1 decode tok/s (x bound) | c=4 out tok/s | c=8 out tok/s | c=8 TTFT p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in records.items():
        b = r["bound"]
        lines.append(
            f"| {name} | {r['produced_by']['engine']} {r['produced_by']['version']} | "
            f"{level(r, 1)['output_tokens_per_second']:.1f} | {b['decode_tokens_per_second']:.1f} "
            f"({b['ratio']:.2f}x of {b['tokens_per_second']:.1f}) | {level(r, 4)['output_tokens_per_second']:.1f} | "
            f"{level(r, 8)['output_tokens_per_second']:.1f} | {level(r, 8)['ttft_ms']['p50']:.0f} |"
        )
    lines += [
        "",
        (
            f"- Goal 1 (workload: latency decodes one stream at >= {GOAL_BOUND}x the bound): "
            f"{bound['decode_tokens_per_second']:.1f} tok/s = {bound['ratio']:.2f}x -> {'met' if goal1 else 'NOT met'}"
        ),
        (
            f"- Goal 2 (workload: throughput at c=8 >= {GOAL_MINIMAL}x the minimal launch): "
            f"{level(thr, 8)['output_tokens_per_second']:.1f} / {level(low, 8)['output_tokens_per_second']:.1f} = "
            f"{c8:.2f}x -> {'met' if goal2 else 'NOT met'}"
        ),
        (
            f"- The other way round: throughput's c=1 decode {thr['bound']['ratio']:.2f}x the bound; latency's c=8 "
            f"{level(lat, 8)['output_tokens_per_second'] / level(low, 8)['output_tokens_per_second']:.2f}x the minimal launch"
        ),
        (
            f"- served in: latency {lat['_served_seconds']:.0f} s, throughput {thr['_served_seconds']:.0f} s "
            f"(first runs build/install what they need); whole script {time.monotonic() - started:.0f} s"
        ),
    ]
    summary = "\n".join(lines) + "\n"
    png = benchmarks.plot(list(records.values()), results / f"{thr['stamp']}.png")
    (results / f"{thr['stamp']}.md").write_text(summary)
    for r in records.values():
        print(benchmarks.table(r) + "\n")
    print(summary + f"\nfigure: {png}\nsummary: {results / (thr['stamp'] + '.md')}")
    return 0 if goal1 and goal2 else 1


if __name__ == "__main__":
    sys.exit(main())
