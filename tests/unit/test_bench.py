"""`llmhost bench`: what the planner sweeps (llmhost/plan/bench.py), the bound each record is held
against, the records, tables and plots on the controller (llmhost/benchmarks.py), the host-side
runner's reading of GuideLLM's results (a real GuideLLM 0.8.1 JSON, trimmed), and bad input."""

from __future__ import annotations

import copy
import dataclasses
import json
import os

import pytest

from llmhost import benchmarks
from llmhost.cli import main
from llmhost.engines import BENCH_TOOLS
from llmhost.hardware import load_hardware
from llmhost.hostside import llmhost_bench
from llmhost.plan import BenchRequest, PlanError, plan_bench, plan_host
from llmhost.settings import load
from tests.helpers import REPO
from tests.unit.common import DEVBOX

V100 = load_hardware(REPO / "tests/fixtures/hardware/v100.yaml")
RAW = REPO / "tests/fixtures/bench/guidellm-0.8.1-c2.json"


STAMPED = BenchRequest(stamp="20261126T000000Z")


def planned(facts, *services, request=STAMPED, **more):
    settings = load({"llmhost_services": list(services), **more})
    plan = plan_host(facts, settings)
    return plan, plan_bench(plan, facts, settings, request)


# --- the planner -------------------------------------------------------------------------------


def test_levels_double_up_to_max_num_seqs_which_is_a_level_too():
    from llmhost.plan.bench import default_levels

    assert default_levels(1) == (1,)
    assert default_levels(8) == (1, 2, 4, 8)
    assert default_levels(12) == (1, 2, 4, 8, 12)


def test_a_cpu_service_is_swept_on_loopback_with_its_own_tokenizer_and_held_against_the_probed_bandwidth(tiny):
    plan, bench = planned(DEVBOX, {"name": "t", "model": tiny, "host": "0.0.0.0", "api_key": "sk-bench-secret"})
    (run,) = bench.runs
    service = plan.services[0]
    assert run.url == "http://127.0.0.1:8000" and run.model == "t" and run.tokenizer == service.model.path
    assert run.levels == tuple(sorted({1, 2, 4, service.max_num_seqs} & set(range(1, service.max_num_seqs + 1))))
    assert run.requests == tuple(max(8, 4 * c) for c in run.levels)
    assert run.bound == "cpu" and bench.probe and bench.bandwidth_cache == "/opt/llmhost/bench/memory-bandwidth.json"
    assert run.env_files == service.secret_files and run.api_key_var == "VLLM_API_KEY"
    assert "sk-bench-secret" not in json.dumps(run.spec())  # the key is read on the host, from the 0600 env file
    assert run.out_dir == "/opt/llmhost/bench/t/20261126T000000Z"
    # the tiny model is float32 as stored and served (no native bf16 on DEVBOX), embeddings tied: every weight once
    assert run.weights_bytes == os.path.getsize(f"{tiny}/model.safetensors") and service.dtype == "float32"
    assert run.produced_by["argv"] == list(service.argv)
    assert bench.tools.engine == BENCH_TOOLS.engine and bench.tools.requirements == BENCH_TOOLS.requirements


def test_the_bound_of_a_bf16_half_billion_model_is_its_weights_once_per_token():
    # Qwen2.5-0.5B ties its embeddings: 494M weights x 2 B read per token
    facts = dataclasses.replace(DEVBOX, cpu_flags=DEVBOX.cpu_flags | {"avx512_bf16"}, memory_bytes=24 * 2**30)
    _, bench = planned(facts, {"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct"})
    assert bench.runs[0].weights_bytes == 988 * 10**6
    record = {
        "weights_bytes": 988 * 10**6,
        "bandwidth": {"read_gbs": 66.0},
        "levels": [{"concurrency": 1, "status": "ok", "decode_tokens_per_second": 32.5}],
    }
    assert benchmarks.bound(record) == {"tokens_per_second": 66.8, "decode_tokens_per_second": 32.5, "ratio": 0.487}


def test_workload_latency_serves_a_cpu_service_with_llamacpp_from_a_bf16_gguf_held_to_the_same_bound():
    """The planner's choice for one stream on a CPU host (issue 17's goal 1): llama.cpp, the bf16
    checkpoint made into a BF16 GGUF on the host (the same bytes per token, so the same bound);
    throughput (the default) keeps vLLM's CPU build; a pinned engine is kept and says so."""
    facts = dataclasses.replace(DEVBOX, cpu_flags=DEVBOX.cpu_flags | {"avx512_bf16"}, memory_bytes=24 * 2**30)
    q = {"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "max_num_seqs": 8}
    plan, bench = planned(facts, {**q, "workload": "latency"})
    (service,), (run,) = plan.services, bench.runs
    assert service.engine.engine == "llamacpp" and service.convert.quant == "BF16" and service.convert.outtype == "bf16"
    assert service.reasons[0].startswith("engine=llamacpp: auto, workload: latency and no NVIDIA GPU: ")
    assert "BF16 GGUF on the host (as stored)" in service.reasons[0]
    assert service.argv[:3] == (service.engine.server_bin, "-m", service.convert.output)
    assert run.weights_bytes == 494_000_000 * 2 and run.bound == "cpu" and run.tokenizer == service.convert.source
    assert run.levels == (1, 2, 4, 8)
    plan, bench = planned(facts, q)
    assert plan.services[0].engine.engine == "vllm-cpu" and bench.runs[0].weights_bytes == 988 * 10**6
    assert "workload: throughput" in plan.services[0].reasons[0]
    plan, _ = planned(facts, {**q, "engine": "vllm-cpu", "workload": "latency"})
    assert plan.services[0].reasons[0] == "engine=vllm-cpu: pinned by the service (workload steers engine auto only)"


def test_workload_latency_keeps_vllm_on_a_cpu_with_amx_streaming_every_token():
    """On a CPU with AMX vLLM's CPU build computes bfloat16 on the AMX tiles and llama.cpp's BF16
    path does not (measured: the same single-stream decode, a first token 6x later under llama.cpp):
    workload: latency keeps vLLM there, streaming every token; throughput batches as before and no
    longer says that latency would pick llama.cpp."""
    amx = dataclasses.replace(
        DEVBOX,
        cpu_flags=DEVBOX.cpu_flags | {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "amx_tile"},
        memory_bytes=24 * 2**30,
    )
    q = {"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "max_num_seqs": 8}
    plan, bench = planned(amx, {**q, "workload": "latency"})
    (service,), (run,) = plan.services, bench.runs
    assert service.engine.engine == "vllm-cpu" and service.convert is None and service.dtype == "bfloat16"
    assert service.reasons[0].startswith(
        "engine=vllm-cpu: auto, workload: latency, no NVIDIA GPU and a CPU with AMX "
        "(amx_bf16): vLLM's CPU build computes bfloat16 on AMX"
    )
    assert "--stream-interval" not in service.argv and run.weights_bytes == 988 * 10**6
    plan, _ = planned(amx, q)
    assert plan.services[0].engine.engine == "vllm-cpu" and "--stream-interval" in plan.services[0].argv
    assert "latency picks llama.cpp" not in plan.services[0].reasons[0]
    # AMX for int8 only (no amx_bf16): llama.cpp as on any other CPU
    int8 = dataclasses.replace(amx, cpu_flags=amx.cpu_flags - {"amx_bf16"})
    assert planned(int8, {**q, "workload": "latency"})[0].services[0].engine.engine == "llamacpp"


def test_an_untied_model_on_gpus_is_held_against_their_specified_bandwidth_less_its_input_embedding():
    _, bench = planned(V100, {"name": "q", "model": "Qwen/Qwen2-7B-Instruct", "tensor_parallel_size": 2})
    (run,) = bench.runs
    assert run.bound == "gpu" and run.gpu_bandwidth_gbs == 1800.0 and not bench.probe
    # 15.2 GB stored in bf16, served in fp16 on Volta (same bytes), less the 152064 x 3584 x 2 B input embedding
    assert run.weights_bytes == 15_200 * 10**6 - 152064 * 3584 * 2
    assert "bound: 900 + 900 GB/s of GPU memory by specification (Tesla V100-SXM2-32GB; llmhost/gpus.py)" in run.reasons


def test_asked_levels_services_and_lengths_are_checked_against_each_service(tiny):
    ask = BenchRequest(stamp="s", levels=(1, 64))
    with pytest.raises(PlanError, match=r"^--levels: concurrency 64 is above t's max_num_seqs \d+ "):
        planned(DEVBOX, {"name": "t", "model": tiny}, request=ask)
    with pytest.raises(PlanError, match=r"^--service: no service 'x' on this host \(it has: t\)$"):
        planned(DEVBOX, {"name": "t", "model": tiny}, request=BenchRequest(stamp="s", services=("x",)))
    with pytest.raises(
        PlanError, match=r"^--prompt-tokens/--output-tokens: 1000 \+ 100 tokens exceed t's max_model_len 1024$"
    ):
        planned(
            DEVBOX,
            {"name": "t", "model": tiny, "max_model_len": 1024},
            request=BenchRequest(stamp="s", prompt_tokens=1000, output_tokens=100),
        )


# --- the host-side runner ------------------------------------------------------------------------


def test_a_level_is_read_from_guidellms_own_json():
    level = llmhost_bench.summarize(json.loads(RAW.read_text()), 2)
    assert level["status"] == "ok" and level["requests"] == {"successful": 8, "errored": 0, "incomplete": 0}
    assert level["output_tokens"] == 8 * 16
    # throughput from the totals over the measured time, as vLLM's bench serve counts it
    assert level["output_tokens_per_second"] == pytest.approx(level["output_tokens"] / level["seconds"], rel=1e-3)
    assert level["decode_tokens_per_second"] == pytest.approx(1000 / level["itl_ms"]["mean"], rel=1e-3)
    assert set(level["ttft_ms"]) == {"mean", "p50", "p90", "p99"}


def test_a_level_whose_requests_all_errored_is_failed_with_the_first_error():
    raw = json.loads(RAW.read_text())
    bench = raw["benchmarks"][0]
    bench["metrics"]["request_totals"] = {"successful": 0, "errored": 8, "incomplete": 0, "total": 8}
    bench["metrics"]["output_token_count"]["successful"]["total_sum"] = 0
    bench["requests"]["errored"] = [{"info": {"error": "HTTPStatusError: 401 Unauthorized"}}]
    level = llmhost_bench.summarize(raw, 2)
    assert level["status"] == "failed"
    assert level["cause"] == "8 of 8 requests errored: HTTPStatusError: 401 Unauthorized"


def test_the_scenario_carries_the_key_and_the_gguf_tokenizer_only_when_there_is_one():
    spec = {
        "url": "http://127.0.0.1:8080",
        "model": "m",
        "tokenizer": "/m",
        "gguf_file": "m.gguf",
        "prompt_tokens": 155,
        "output_tokens": 64,
        "max_seconds": 60,
        "out_dir": "/opt/llmhost/bench/m/1",
    }
    s = llmhost_bench.scenario(spec, 4, 16, None)["spec"]
    assert "api_key" not in s["backend"] and s["tokenizer"]["load_kwargs"] == {"gguf_file": "m.gguf"}
    assert s["profile"] == {"kind": "concurrent", "streams": 4}
    assert {"kind": "max_requests", "count": 16} in s["constraints"]
    # Ollama caps the length only by max_tokens (it ignores GuideLLM's max_completion_tokens)
    assert s["backend"]["extras"] == {"body": {"max_tokens": 64}}
    assert llmhost_bench.scenario({**spec, "gguf_file": None}, 1, 8, "sk")["spec"]["backend"]["api_key"] == "sk"


def test_no_two_levels_or_runs_send_the_same_prompts_and_a_run_can_be_made_again():
    """vLLM answers a prompt it has seen from its prefix cache: one seed for every level made 35%
    of a 1/4/8 sweep's prompt tokens cache hits here."""
    spec = {"url": "u", "model": "m", "tokenizer": "/m", "prompt_tokens": 8, "output_tokens": 8, "max_seconds": 9}
    seeds = [
        llmhost_bench.scenario({**spec, "out_dir": f"/b/m/{run}"}, c, 8, None)["spec"]["seed"]["value"]
        for run in ("20261126T010000Z", "20261126T020000Z")
        for c in (1, 4, 8)
    ]
    assert len(set(seeds)) == 6 and all(0 <= s < 2**31 for s in seeds)
    again = llmhost_bench.scenario({**spec, "out_dir": "/b/m/20261126T010000Z"}, 4, 8, None)["spec"]["seed"]["value"]
    assert again == seeds[1]


# --- records, tables, plots ----------------------------------------------------------------------


def _record(stamp: str, decode: float = 30.0) -> dict:
    level = llmhost_bench.summarize(json.loads(RAW.read_text()), 2)
    one = {**copy.deepcopy(level), "concurrency": 1, "decode_tokens_per_second": decode}
    failed = {"concurrency": 4, "status": "failed", "cause": "GuideLLM exited with 1: ReadTimeout"}
    meta = {
        "host": "h",
        "service": "s",
        "stamp": stamp,
        "model": "m",
        "produced_by": {"engine": "vllm-cpu", "version": "0.32.0"},
        "weights_bytes": 10**9,
        "request": {"prompt_tokens": 32, "output_tokens": 16},
    }
    return benchmarks.make_record(meta, {"levels": [one, level, failed]}, {"read_gbs": 60.0, "source": "probed"})


def test_records_are_never_overwritten(tmp_path):
    path = benchmarks.record_path(tmp_path, "h", "s", "20261126T000000Z")
    benchmarks.write_record(path, _record("20261126T000000Z"))
    with pytest.raises(FileExistsError):
        benchmarks.write_record(path, _record("20261126T000000Z"))
    assert benchmarks.load([path])[0]["bound"] == {
        "tokens_per_second": 60.0,
        "decode_tokens_per_second": 30.0,
        "ratio": 0.5,
    }


def test_the_table_has_a_row_per_level_a_failed_one_with_its_cause_and_the_bound_line():
    text = benchmarks.table(_record("x"))
    lines = text.splitlines()
    assert lines[0] == "h/s x: vllm-cpu 0.32.0, model m (prompt 32, output 16 tokens)"
    assert [line.split()[0] for line in lines[2:5]] == ["1", "2", "4"]
    assert lines[4] == "     4  FAILED: GuideLLM exited with 1: ReadTimeout"
    assert lines[5] == (
        "  c=1: 30.0 tok/s = 0.50x the bandwidth bound of 60.0 tok/s (weights 1.00 GB per token at 60 GB/s, probed)"
    )


def test_several_records_plot_on_one_figure(tmp_path):
    path = benchmarks.plot([_record("a"), _record("b", 45.0)], tmp_path / "p.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 20_000


# --- the command line ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, line",
    [
        (["--levels", "1,x"], "argument --levels: expected concurrency levels like 1,2,4,8, got '1,x'"),
        (["--levels", "0,2"], "argument --levels: expected distinct levels of at least 1, got '0,2'"),
        (["--requests", "0"], "argument --requests: expected a whole number of at least 1, got '0'"),
    ],
)
def test_bad_flags_are_one_line(capsys, argv, line):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "inventories/local.py", *argv])
    assert exit_.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1].endswith(line)


def test_stored_records_are_compared_without_an_inventory(tmp_path, capsys):
    paths = []
    for stamp in ("a", "b"):
        paths.append(benchmarks.write_record(benchmarks.record_path(tmp_path, "h", "s", stamp), _record(stamp)))
    assert main(["bench", "--compare", *map(str, paths), "--plot", str(tmp_path / "c.png")]) == 0
    out = capsys.readouterr().out
    assert "h/s a: vllm-cpu" in out and "h/s b: vllm-cpu" in out and (tmp_path / "c.png").is_file()
    assert main(["bench", "--compare", str(tmp_path / "nothing.json")]) == 2
    assert capsys.readouterr().err.startswith("llmhost bench: --compare: ")


def test_guidellm_runs_in_a_group_of_its_own_killed_whole_after_it_or_past_its_time(tmp_path):
    """GuideLLM's load runs in worker processes; workers of a killed main process were found still
    polling hours later. What the main process leaves behind goes with it, and a run past its time
    is killed whole."""
    import subprocess
    import sys
    import time

    marker = f"llmhost-left-behind-{os.getpid()}"
    leaves = [
        sys.executable,
        "-c",
        (
            "import subprocess, sys; subprocess.Popen([sys.executable, '-c', "
            f"'import time; time.sleep(120)', '{marker}']); print('started')"
        ),
    ]
    assert llmhost_bench.run_group(leaves, dict(os.environ), 30, tmp_path / "a.log") == 0
    assert (tmp_path / "a.log").read_text() == "started\n"
    time.sleep(0.3)
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False).returncode == 1  # none left
    started = time.monotonic()
    forever = [sys.executable, "-c", "import time; time.sleep(120)"]
    assert llmhost_bench.run_group(forever, dict(os.environ), 1, tmp_path / "b.log") is None
    assert time.monotonic() - started < 10
