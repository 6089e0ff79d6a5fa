#!/usr/bin/env python3
"""llmhost's benchmark runner on a host, copied to <llmhost_root>/bin/llmhost-bench and run with the
bench-tools venv's Python (GuideLLM and torch live there). Standard library only, but for `probe`.

  probe  the host's memory read bandwidth: a tensor of 2 GiB (at most an eighth of the free memory)
         summed by torch on every CPU, best of five after a warm-up; written to --cache (the host
         fact the bench layer reads) and printed
  sweep  one service's concurrency sweep (--spec, a JSON the bench layer writes): one short request
         first (a service that does not answer: one JSON line {"unanswered": why}), then one GuideLLM
         run per level against the service's loopback URL, the raw results kept beside the spec; one
         JSON line with every level (a failed level says why) on stdout
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

PROBE_BYTES = 2 * 1024**3


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")
    tmp.replace(path)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def probe(args) -> int:
    import torch

    threads = len(os.sched_getaffinity(0))
    torch.set_num_threads(threads)
    try:
        avail = next(
            int(line.split()[1]) * 1024
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemAvailable:")
        )
    except (OSError, StopIteration):
        avail = 8 * PROBE_BYTES
    size = min(PROBE_BYTES, avail // 8) // 2 * 2
    best = {}
    # bf16 (what the weights are) and float32 (fewer conversions per byte): a sum that converts
    # can be compute-bound on few cores, so the faster of the two is the read bandwidth
    for dtype, width in ((torch.bfloat16, 2), (torch.float32, 4)):
        x = torch.ones(size // width, dtype=dtype)  # touched: every page is really there
        x.sum()
        times = []
        for _ in range(5):
            started = time.perf_counter()
            x.sum()
            times.append(time.perf_counter() - started)
        best[str(dtype).removeprefix("torch.")] = size // width * width / min(times) / 1e9
        del x
    result = {
        "read_gbs": round(max(best.values()), 2),
        "method": f"torch {torch.__version__}: sum of a {size / 1024**3:.2f} GiB tensor on {threads} threads, best of 5 "
        "after a warm-up, the faster of " + " and ".join(f"{k} ({v:.1f} GB/s)" for k, v in best.items()),
        "cpu": _cpu_model(),
        "cpus": threads,
        "bytes": size,
        "probed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _write(Path(args.cache), result)
    print(json.dumps(result, sort_keys=True))
    return 0


def _env_value(env_files: list[str], key: str) -> str | None:
    for env_file in env_files:
        try:
            for line in Path(env_file).read_text().splitlines():
                k, sep, v = line.partition("=")
                if sep and k.strip() == key:
                    return v.strip()
        except OSError:
            pass
    return None


def _warm(spec: dict, key: str | None) -> str | None:
    """One short chat completion before the first level (an engine's first request compiles or
    allocates); the error when it does not answer."""
    body = {"model": spec["model"], "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4}
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    request = urllib.request.Request(f"{spec['url']}/v1/chat/completions", json.dumps(body).encode(), headers)
    try:
        with urllib.request.urlopen(request, timeout=300) as resp:
            json.load(resp)
        return None
    except urllib.error.HTTPError as e:
        return f"{spec['url']}/v1/chat/completions answered {e.code}: {e.read()[:300].decode('utf-8', 'replace')}"
    except (OSError, ValueError) as e:
        return f"{spec['url']}/v1/chat/completions: {e}"


def seed_of(spec: dict, level: int) -> int:
    """The prompts' seed of one level of one run (its out_dir names the service and the run): prompts
    sent twice would be answered from vLLM's prefix cache (with one seed for every level, 35% of the
    prompt tokens of a 1/4/8 sweep were cache hits here), so no two levels or runs share them; the
    record keeps the seed, so a level's prompts can be made again."""
    return zlib.crc32(f"{spec['out_dir']}#{level}".encode()) & 0x7FFFFFFF


def scenario(spec: dict, level: int, count: int, key: str | None) -> dict:
    """A GuideLLM scenario for one level: chat completions with synthetic prompts of the model's
    own tokens, ``level`` concurrent streams, ``count`` requests, at most max_seconds."""
    tokenizer = {"kind": "huggingface_auto", "model": spec["tokenizer"]}
    if spec.get("gguf_file"):
        tokenizer["load_kwargs"] = {"gguf_file": spec["gguf_file"]}
    # GuideLLM asks for max_completion_tokens and ignore_eos; Ollama's OpenAI API takes neither (it
    # ignores them: its length cap is max_tokens, and it has no ignore_eos), so max_tokens goes too
    backend = {
        "kind": "openai_http",
        "target": spec["url"],
        "model": spec["model"],
        "request_format": "/v1/chat/completions",
        "extras": {"body": {"max_tokens": spec["output_tokens"]}},
    }
    if key:
        backend["api_key"] = key
    return {
        "spec": {
            "backend": backend,
            "tokenizer": tokenizer,
            "data": [
                {
                    "kind": "synthetic_text",
                    "prompt_tokens": spec["prompt_tokens"],
                    "output_tokens": spec["output_tokens"],
                }
            ],
            "profile": {"kind": "concurrent", "streams": level},
            "constraints": [
                {"kind": "max_requests", "count": count},
                {"kind": "max_duration", "seconds": spec["max_seconds"]},
            ],
            "seed": {"kind": "static", "value": seed_of(spec, level)},
        },
    }


def _pcts(metric: dict) -> dict:
    s = metric.get("successful") or {}
    p = s.get("percentiles") or {}
    return {"mean": s.get("mean"), "p50": p.get("p50"), "p90": p.get("p90"), "p99": p.get("p99")}


def summarize(raw: dict, level: int) -> dict:
    """One level's figures from GuideLLM's JSON: throughput from the totals over the measured time
    (as vLLM's bench serve counts it), latencies as its percentiles of the successful requests."""
    (bench,) = raw["benchmarks"]
    m, sched = bench["metrics"], bench["scheduler_metrics"]
    totals = m["request_totals"]
    seconds = (sched.get("measure_end_time") or 0) - (sched.get("measure_start_time") or 0) or bench["duration"]
    out_tokens = (m["output_token_count"].get("successful") or {}).get("total_sum") or 0
    errors = [r.get("info", {}).get("error") for r in (bench.get("requests") or {}).get("errored") or []]
    itl = _pcts(m["inter_token_latency_ms"])
    level_result = {
        "concurrency": level,
        "status": "ok" if totals["successful"] else "failed",
        "requests": {k: totals.get(k, 0) for k in ("successful", "errored", "incomplete")},
        "seconds": round(seconds, 3),
        "output_tokens": int(out_tokens),
        "output_tokens_per_second": round(out_tokens / seconds, 2) if seconds else None,
        "requests_per_second": round(totals["successful"] / seconds, 3) if seconds else None,
        "prompt_tokens_mean": _pcts(m["prompt_token_count"])["mean"],
        "output_tokens_mean": _pcts(m["output_token_count"])["mean"],
        "ttft_ms": _pcts(m["time_to_first_token_ms"]),
        "tpot_ms": _pcts(m["time_per_output_token_ms"]),
        "itl_ms": itl,
        "decode_tokens_per_second": round(1000 / itl["mean"], 2) if itl["mean"] else None,
    }
    if errors:
        level_result["first_error"] = str(next((e for e in errors if e), ""))[:400]
    if not totals["successful"]:
        level_result["cause"] = f"{totals.get('errored', 0)} of {totals.get('total', 0)} requests errored" + (
            f": {level_result.get('first_error')}" if errors else ""
        )
    return level_result


def _guidellm_cause(stderr: str) -> str:
    """The line of GuideLLM's output that says why it stopped (its last error, else its last line)."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for i in range(len(lines) - 1, -1, -1):
        if "Error" in lines[i] or "error:" in lines[i].lower():  # with what follows a line ending in ":"
            return " ".join(lines[i : i + 2] if lines[i].endswith(":") else lines[i : i + 1])[:400]
    return (lines[-1] if lines else "no output")[:400]


def run_group(argv: list[str], env: dict, timeout: float, log: Path) -> int | None:
    """Run ``argv`` in a process group of its own, its output into ``log``; its exit status, or None
    when it ran past ``timeout`` (the group killed). Whatever the group leaves behind is killed too:
    GuideLLM runs its load in worker processes, and workers of a killed main process were found
    here still polling hours later, ~1% of a core each."""
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def run_level(spec: dict, level: int, count: int, key: str | None, out: Path) -> dict:
    raw_path = out / f"c{level}.json"
    with tempfile.TemporaryDirectory(prefix="llmhost-bench-") as tmp:  # 0700: the scenario holds the key
        scenario_path = Path(tmp) / "scenario.json"
        scenario_path.write_text(json.dumps(scenario(spec, level, count, key)))
        argv = [
            sys.executable,
            "-m",
            "guidellm",
            "run",
            "--scenario",
            str(scenario_path),
            "--disable-progress",
            "--output",
            f"kind=json,path={raw_path}",
        ]
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "DO_NOT_TRACK": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
        started = time.monotonic()
        status = run_group(argv, env, spec["max_seconds"] + 300, out / f"c{level}.log")
    wall = round(time.monotonic() - started, 1)
    if status is None:
        return {
            "concurrency": level,
            "status": "failed",
            "wall_seconds": wall,
            "cause": f"GuideLLM did not finish within {spec['max_seconds'] + 300} s",
        }
    output = (out / f"c{level}.log").read_text(errors="replace")
    if status or not raw_path.is_file():
        return {
            "concurrency": level,
            "status": "failed",
            "wall_seconds": wall,
            "cause": f"GuideLLM exited with {status}: {_guidellm_cause(output)}",
        }
    try:
        result = summarize(json.loads(raw_path.read_text()), level)
    except (KeyError, ValueError, TypeError) as e:
        return {
            "concurrency": level,
            "status": "failed",
            "wall_seconds": wall,
            "cause": f"GuideLLM's results in {raw_path} cannot be read: {e!r}",
        }
    result["wall_seconds"] = wall
    result["raw"] = str(raw_path)
    result["seed"] = seed_of(spec, level)
    result["requests_asked"] = count
    done = sum(result["requests"].values())
    if done < count:  # seen with requests of tens of ms (the tiny model), and 7 of 8 once on llama.cpp
        result["short"] = f"GuideLLM ended the level with {done} of the {count} requests asked for done"
    return result


def sweep(args) -> int:
    spec = json.loads(Path(args.spec).read_text())
    out = Path(spec["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    key = _env_value(spec["env_files"], spec["api_key_var"]) if spec.get("api_key_var") else None
    try:
        manifest = hashlib.sha256(Path(spec["manifest"]).read_bytes()).hexdigest()
    except OSError:
        manifest = None
    import guidellm

    result = {
        "service": spec["service"],
        "url": spec["url"],
        "model": spec["model"],
        "manifest_sha256": manifest,
        "guidellm": getattr(guidellm, "__version__", None) or _version("guidellm"),
        "python": platform.python_version(),
        "levels": [],
    }
    warm = _warm(spec, key)
    if warm:  # nothing to measure: the run fails with this line, and no record is kept
        print(json.dumps({"unanswered": f"the service does not answer ({warm}); is it served? (deploys/serve.py)"}))
        return 0
    for level, count in zip(spec["levels"], spec["requests"]):
        result["levels"].append(run_level(spec, level, count, key, out))
    _write(out / "summary.json", result)
    print(json.dumps(result, sort_keys=True))
    return 0


def _version(dist: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="llmhost-bench")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--cache", required=True)
    p.set_defaults(func=probe)
    p = sub.add_parser("sweep")
    p.add_argument("--spec", required=True)
    p.set_defaults(func=sweep)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
