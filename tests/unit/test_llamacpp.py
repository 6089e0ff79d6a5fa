"""llama.cpp: the tiny model as GGUF (llama.cpp's own gguf package writes and reads it), the plan
of a GGUF service beside a vllm-cpu one (disjoint CPUs), and the build operation at the command
level. llama-server itself is built and served for real on a fleet host (tests/fleet/test_llamacpp.py)."""

from __future__ import annotations

import dataclasses
import hashlib
import shlex

import pytest

from llmhost.modelconfig import read_model_dir
from llmhost.operations import llamacpp
from llmhost.operations import venv as venv_ops
from llmhost.operations.download import BOUNDS
from llmhost.plan import PlanError, plan_host
from llmhost.plan.route import NOT_OLLAMA
from llmhost.settings import load
from llmhost.tinymodel import write_tiny_gguf
from tests.helpers import FakeHost
from tests.unit.common import DEVBOX, RTX4060


def test_the_tiny_gguf_is_the_same_bytes_every_time_and_reads_back(models, tmp_path):
    hf, gguf_dir = models
    again = write_tiny_gguf(hf, tmp_path / "again")
    first = next(gguf_dir.glob("*.gguf"))
    assert hashlib.sha256(again.read_bytes()).digest() == hashlib.sha256(first.read_bytes()).digest()
    info = read_model_dir(gguf_dir)
    assert (info.architecture, info.num_layers, info.num_attention_heads, info.num_kv_heads, info.head_dim) == (
        "gguf:qwen2",
        2,
        4,
        2,
        64,
    )
    assert (info.max_position_embeddings, info.vocab_size, info.gguf_file, info.gguf_type) == (
        2048,
        768,
        "tiny-qwen2-f32.gguf",
        "ALL_F32",
    )
    assert info.weight_bytes == first.stat().st_size


def test_a_gguf_is_read_once_and_again_when_it_changes(models, tmp_path, monkeypatch):
    import shutil

    from llmhost import manifest, modelinfo

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(modelinfo, "_gguf_memo", {})
    now = manifest._now_ns()
    monkeypatch.setattr(manifest, "_now_ns", lambda: now + 10**10)  # read well after the file's times
    (tmp_path / "g").mkdir()
    gguf = tmp_path / "g" / "model.gguf"
    shutil.copy(next(models[1].glob("*.gguf")), gguf)
    info = read_model_dir(gguf.parent)
    assert manifest.cache_file(modelinfo.GGUF_CACHE).is_file() and info.num_layers == 2
    reads, read = [], modelinfo._read_gguf
    monkeypatch.setattr(modelinfo, "_read_gguf", lambda p: reads.append(p) or read(p))
    monkeypatch.setattr(modelinfo, "_gguf_memo", {})  # a new run: the cache file answers
    assert read_model_dir(gguf.parent) == info and reads == []
    (tmp_path / "l").mkdir()
    (tmp_path / "l" / "other.gguf").symlink_to(gguf)  # the same file: its own name
    assert read_model_dir(tmp_path / "l") == dataclasses.replace(info, gguf_file="other.gguf") and reads == []
    gguf.write_bytes(gguf.read_bytes())  # rewritten: its times move, it is read again
    assert read_model_dir(gguf.parent) == info and len(reads) == 1


def two(models, **data):
    hf, gguf_dir = models
    return load(
        {
            "llmhost_services": [
                {"name": "tiny", "model": str(hf), "engine": "vllm-cpu"},
                {"name": "gguf", "model": str(gguf_dir), "port": 8001},
            ],
            **data,
        }
    )


def test_a_cpu_with_amx_serves_without_repacked_weights(models):
    """ggml's AMX weight buffer crashed llama-server on this project's Xeon with AMX (SIGSEGV at the
    first graph, Q8_0): where the CPU has amx_int8, the plan turns repacking off, with the reason."""
    amx = dataclasses.replace(DEVBOX, cpu_flags=DEVBOX.cpu_flags | {"amx_int8", "amx_tile", "avx512f"})
    llama = plan_host(amx, two(models)).services[1]
    assert llama.argv[-1] == "--no-repack" and any(r.startswith("--no-repack: this CPU has AMX") for r in llama.reasons)
    assert "--no-repack" not in plan_host(DEVBOX, two(models)).services[1].argv


def test_a_gguf_goes_to_llama_server_and_shares_the_cpus_with_vllm(models):
    plan = plan_host(DEVBOX, two(models))
    vllm, llama = plan.services
    assert dict(vllm.env)["VLLM_CPU_OMP_THREADS_BIND"] == "0" and vllm.max_num_seqs == 4  # 4 per core, 1 core
    assert llama.engine.engine == "llamacpp" and llama.reasons[0] == (
        "engine=llamacpp: auto, and the model is a GGUF (llama.cpp's own format; " + NOT_OLLAMA + ")"
    )
    assert llama.argv == (
        "/opt/llmhost/venvs/llamacpp-current/bin/llama-server",
        "-m",
        f"{llama.model.path}/tiny-qwen2-f32.gguf",
        "-a",
        "gguf",
        "--host",
        "127.0.0.1",
        "--port",
        "8001",
        "-c",
        "8192",
        "-np",
        "4",
        "-ngl",
        "0",
        "-t",
        "1",
        "--cpu-range",
        "1-1",
        "--metrics",
        "--no-webui",
        "--log-prefix",
    )
    assert llama.api_key_var == "LLAMA_API_KEY" and "VLLM_CACHE_ROOT" not in dict(llama.env)
    e = llama.engine
    assert e.build_flags[-1] == "-DGGML_NATIVE=ON" and e.cuda is None and e.build_jobs == 2
    assert e.source_url == (
        "https://files.pythonhosted.org/packages/ec/e9/e7de2b0463ea3ffbf0ede6cb21b58c1258a8f6521aae"
        "45ca773a59fe7cf3/llama_cpp_python-0.3.36.tar.gz"
    )
    assert e.venv.startswith("/opt/llmhost/venvs/llamacpp-0.3.36-")
    assert {"cmake", "g++", "make"} <= set(plan.system_packages)
    # a mirror's file host, or the shipped wheelhouse
    tuna = plan_host(DEVBOX, two(models, llmhost_mirror="tuna")).services[1].engine.source_url
    assert tuna.startswith("https://pypi.tuna.tsinghua.edu.cn/packages/ec/e9/")


def test_gguf_refusals_are_one_line(models):
    _hf, gguf_dir = models
    with pytest.raises(
        PlanError, match=r"^llmhost_services\[0\]\.engine: vllm-cpu does not serve GGUF files like tiny-qwen2-f32\.gguf"
    ):
        plan_host(DEVBOX, load({"llmhost_services": [{"name": "g", "model": str(gguf_dir), "engine": "vllm-cpu"}]}))
    three = load({"llmhost_services": [{"name": f"s{i}", "model": str(gguf_dir), "port": 8000 + i} for i in range(3)]})
    with pytest.raises(
        PlanError, match=r"^llmhost_services: 3 services compute on the CPU and the host has 2 CPU\(s\) online \(0-1\)"
    ):
        plan_host(DEVBOX, three)
    on_gpu = dataclasses.replace(DEVBOX, gpus=(dataclasses.replace(RTX4060, driver="580.95.05"),))
    # no toolkit on the host: the newest its driver runs (580.95.05: CUDA 13.0) is planned and installed
    auto = plan_host(on_gpu, load({"llmhost_services": [{"name": "g", "model": str(gguf_dir)}]}))
    assert auto.services[0].engine.cuda == "13.0" and auto.cuda_toolkits == ("13.0",)
    old = dataclasses.replace(DEVBOX, gpus=(dataclasses.replace(RTX4060, driver="470.256.02"),))
    with pytest.raises(
        PlanError,
        match=r"^driver: llama.cpp's CUDA backend is compiled on the host and no CUDA toolkit "
        r"llmhost knows runs on driver 470\.256\.02; update the NVIDIA driver",
    ):
        plan_host(old, load({"llmhost_services": [{"name": "g", "model": str(gguf_dir)}]}))
    cuda = plan_host(
        on_gpu,
        load(
            {
                "llmhost_services": [{"name": "g", "model": str(gguf_dir)}],
                "llmhost_cuda_toolkits": ["12.9", "12.6"],
                "llmhost_cuda_default": "12.6",
            }
        ),
    )
    assert cuda.services[0].engine.build_flags[-3:] == (
        "-DGGML_CUDA=ON",
        "-DCMAKE_CUDA_COMPILER=/usr/local/cuda-12.6/bin/nvcc",
        "-DCMAKE_CUDA_ARCHITECTURES=89",
    )


ARGS = {
    "directory": "/opt/llmhost/venvs/llamacpp-0.3.36-abcd1234",
    "url": "file:///opt/llmhost/wheelhouse/l.tar.gz",
    "filename": "l.tar.gz",
    "sha256": "0" * 64,
    "subdir": "l/vendor/llama.cpp",
    "flags": ["-DGGML_NATIVE=ON"],
    "targets": ["llama-server"],
    "jobs": 2,
}


def test_the_build_fetches_checks_builds_installs_and_cleans_up(monkeypatch):
    monkeypatch.setattr(llamacpp, "host", FakeHost(None))
    d = ARGS["directory"]
    commands = [shlex.split(str(c.get_raw_value())) for c in llamacpp.built._inner(**ARGS)]
    assert commands == [
        ["mkdir", "-p", f"{d}/bin", f"{d}/src"],
        ["[", "-e", f"{d}/.llmhost-build", "]", "||", "touch", f"{d}/.llmhost-build"],
        ["curl", "-fsSL", *BOUNDS, "-o", f"{d}/src/l.tar.gz", "file:///opt/llmhost/wheelhouse/l.tar.gz"],
        ["echo", f"{'0' * 64}  {d}/src/l.tar.gz", "|", "sha256sum", "--check", "--strict", "-"],
        ["tar", "-xzf", f"{d}/src/l.tar.gz", "-C", f"{d}/src"],
        ["cmake", "-S", f"{d}/src/l/vendor/llama.cpp", "-B", f"{d}/build", "-DGGML_NATIVE=ON"],
        ["cmake", "--build", f"{d}/build", "--target", "llama-server", "-j", "2"],
        ["install", "-m", "755", f"{d}/build/bin/llama-server", f"{d}/bin/llama-server"],
        ["rm", "-rf", f"{d}/build", f"{d}/src"],
    ]
    built = FakeHost({"size": 1})
    monkeypatch.setattr(llamacpp, "host", built)
    assert list(llamacpp.built._inner(**ARGS)) == [] and built.noops == [f"{d}/bin/llama-server is built"]


def test_the_link_moves_to_a_build_once_its_binary_runs(monkeypatch):
    monkeypatch.setattr(venv_ops, "host", FakeHost({"link_target": "llamacpp-0.3.35-aaaaaaaa"}))  # an upgrade
    d = ARGS["directory"]
    commands = [
        shlex.split(str(c.get_raw_value()))
        for c in venv_ops.current._inner(
            link="/opt/llmhost/venvs/llamacpp-current", venv=d, check=[f"{d}/bin/llama-server", "--version"]
        )
    ]
    assert commands[0] == [f"{d}/bin/llama-server", "--version"]
    assert commands[1] == ["touch", f"{d}/.llmhost-imported"]


# --- a GGUF made on the host from the HF checkpoint (gguf: TYPE) ---------------------------------


def test_gguf_asks_for_a_conversion_planned_with_its_venv_tools_and_path(models):
    hf, _ = models
    plan = plan_host(DEVBOX, load({"llmhost_services": [{"name": "g", "model": str(hf), "gguf": "q4_k_m"}]}))
    svc = plan.services[0]
    c = svc.convert
    assert svc.engine.engine == "llamacpp" and svc.reasons[0].startswith(
        "engine=llamacpp: the service asks for a GGUF of its checkpoint (gguf: Q4_K_M)"
    )
    out = "/opt/llmhost/models/tiny-qwen2--gguf-Q4_K_M"
    assert (c.source, c.output, c.manifest, c.quant, c.outtype) == (
        "/opt/llmhost/models/tiny-qwen2",
        f"{out}/tiny-qwen2-Q4_K_M.gguf",
        f"{out}.manifest.json",
        "Q4_K_M",
        "f16",
    )
    assert c.script == "/opt/llmhost/venvs/llamacpp-current/convert/convert_hf_to_gguf.py"
    assert c.quantize == "/opt/llmhost/venvs/llamacpp-current/bin/llama-quantize"
    assert c.python == "/opt/llmhost/venvs/gguf-convert-current/bin/python"
    assert svc.argv[1:3] == ("-m", f"{out}/tiny-qwen2-Q4_K_M.gguf")
    assert plan.converter.requirements[0] == "torch==2.13.0+cpu" and plan.converter.pip_extra_index_urls == (
        "https://download.pytorch.org/whl/cpu",
    )
    assert any(
        r.startswith("model file tiny-qwen2-Q4_K_M.gguf (Q4_K_M, ~") and "llama-quantize" in r for r in svc.reasons
    )
    assert svc.engine.build.targets == ("llama-server", "llama-quantize")
    bf16 = plan_host(DEVBOX, load({"llmhost_services": [{"name": "g", "model": str(hf), "gguf": "BF16"}]}))
    assert bf16.services[0].convert.outtype == "bf16"
    plain = plan_host(DEVBOX, load({"llmhost_services": [{"name": "g", "model": str(hf), "engine": "vllm-cpu"}]}))
    assert plain.converter is None and plain.services[0].convert is None


def test_gguf_refusals_name_the_key(models):
    hf, gguf_dir = models
    from llmhost.settings import DataError

    with pytest.raises(DataError, match=r"^llmhost_services\[0\]\.gguf: expected one of F16 \| BF16 \| Q8_0"):
        load({"llmhost_services": [{"name": "g", "model": str(hf), "gguf": "Q9"}]})
    with pytest.raises(
        DataError,
        match=r"^llmhost_services\[0\]\.gguf: a GGUF is served by llama.cpp or Ollama, not "
        r"engine vllm-cpu",
    ):
        load({"llmhost_services": [{"name": "g", "model": str(hf), "gguf": "Q8_0", "engine": "vllm-cpu"}]})
    with pytest.raises(PlanError, match=r"^llmhost_services\[0\]\.gguf: .*tiny-gguf is a GGUF already"):
        plan_host(DEVBOX, load({"llmhost_services": [{"name": "g", "model": str(gguf_dir), "gguf": "Q8_0"}]}))


CONVERT = {
    "source": "/m/tiny",
    "source_manifest": "/m/tiny.manifest.json",
    "output": "/m/tiny--gguf-Q8_0/tiny-Q8_0.gguf",
    "quant": "Q8_0",
    "outtype": "f16",
    "python": "/v/gguf-convert-current/bin/python",
    "script": "/v/llamacpp-current/convert/convert_hf_to_gguf.py",
    "quantize": "/v/llamacpp-current/bin/llama-quantize",
    "manifest": "/m/tiny--gguf-Q8_0.manifest.json",
    "spec": "./tiny as GGUF Q8_0",
    "host_python": "python3",
    "tool": "/o/bin/llmhost-hosttool",
    "threads": 2,
}


def test_the_conversion_converts_quantizes_records_and_is_a_noop_while_the_source_stays(monkeypatch):
    d = "/m/tiny--gguf-Q8_0"
    monkeypatch.setattr(llamacpp, "host", FakeHost(by_class={"File": None, "FileContents": None, "Sha256File": None}))
    commands = [shlex.split(str(c.get_raw_value())) for c in llamacpp.converted._inner(**CONVERT)]
    assert commands == [
        ["mkdir", "-p", d],
        [
            "/v/gguf-convert-current/bin/python",
            "/v/llamacpp-current/convert/convert_hf_to_gguf.py",
            "/m/tiny",
            "--outtype",
            "f16",
            "--outfile",
            f"{d}/.f16.gguf",
        ],
        ["/v/llamacpp-current/bin/llama-quantize", f"{d}/.f16.gguf", f"{d}/tiny-Q8_0.gguf.part", "Q8_0", "2"],
        ["rm", "-f", f"{d}/.f16.gguf"],
        ["mv", f"{d}/tiny-Q8_0.gguf.part", f"{d}/tiny-Q8_0.gguf"],
        ["sha256sum", "/m/tiny.manifest.json", "|", "cut", "-d", " ", "-f1", ">", f"{d}/.llmhost-source"],
        [
            "python3",
            "/o/bin/llmhost-hosttool",
            "manifest",
            "--dir",
            d,
            "--manifest",
            "/m/tiny--gguf-Q8_0.manifest.json",
            "--source",
            "./tiny as GGUF Q8_0",
        ],
    ]
    same = FakeHost(by_class={"File": {"size": 1}, "FileContents": ["ab" * 32], "Sha256File": "ab" * 32})
    monkeypatch.setattr(llamacpp, "host", same)
    assert list(llamacpp.converted._inner(**CONVERT)) == [] and same.noops == [
        f"{d}/tiny-Q8_0.gguf is made from /m/tiny as its manifest is now"
    ]
    moved = FakeHost(by_class={"File": {"size": 1}, "FileContents": ["ab" * 32], "Sha256File": "cd" * 32})
    monkeypatch.setattr(llamacpp, "host", moved)
    assert len(list(llamacpp.converted._inner(**CONVERT))) == 7  # the checkpoint changed: made again
    monkeypatch.setattr(llamacpp, "host", same)
    assert len(list(llamacpp.converted._inner(**CONVERT, force=True))) == 7
    bf16 = [
        shlex.split(str(c.get_raw_value()))
        for c in llamacpp.converted._inner(**{**CONVERT, "quant": "BF16", "outtype": "bf16"}, force=True)
    ]
    assert bf16[1][-1] == f"{d}/tiny-Q8_0.gguf.part" and not any("llama-quantize" in c[0] for c in bf16)


def test_the_build_keeps_the_converter_beside_its_binaries(monkeypatch):
    monkeypatch.setattr(llamacpp, "host", FakeHost(None))
    d = ARGS["directory"]
    commands = [
        shlex.split(str(c.get_raw_value()))
        for c in llamacpp.built._inner(
            **{**ARGS, "targets": ["llama-server", "llama-quantize"], "tools": ["convert_hf_to_gguf.py", "gguf-py"]}
        )
    ]
    assert commands[-4:] == [
        ["install", "-m", "755", f"{d}/build/bin/llama-quantize", f"{d}/bin/llama-quantize"],
        ["mkdir", "-p", f"{d}/convert"],
        [
            "cp",
            "-r",
            f"{d}/src/l/vendor/llama.cpp/convert_hf_to_gguf.py",
            f"{d}/src/l/vendor/llama.cpp/gguf-py",
            f"{d}/convert/",
        ],
        ["rm", "-rf", f"{d}/build", f"{d}/src"],
    ]
