"""Ollama: the plan of ollama services (one daemon, its settings, the models it keeps loaded, GPU
packing beside vLLM and llama.cpp), the data checks, the official unit and the drop-in, and the
install/import operations at the command level.

No Ollama release can be downloaded on the machines these tests run on (GitHub and ollama.com are
unreachable), so no real `ollama serve` or `ollama create` runs here; tests/fleet/test_ollama.py runs
the layer on real systemd/tmux hosts against a stand-in release, tests/fleet/test_ollama_dry.py the
default (GitHub) plan in --dry mode."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

from llmhost.facts.ollama import OllamaModel, manifest_path
from llmhost.hardware import load_hardware
from llmhost.operations import ollama as ollama_ops
from llmhost.operations.download import BOUNDS
from llmhost.plan import PlanError, plan_host
from llmhost.render import ollama_launcher_vars, ollama_override_vars, ollama_unit_vars
from llmhost.settings import DataError, load
from tests.helpers import REPO, FakeHost
from tests.unit.common import DEVBOX, render

V100 = load_hardware(REPO / "tests/fixtures/hardware/v100.yaml")


def services(gguf_dir, *more, **first):
    return [{"name": "tiny", "model": str(gguf_dir), "engine": "ollama", "port": 11434, **first}, *more]


def test_two_ollama_services_share_one_daemon_with_its_settings_in_the_drop_in(models):
    _hf, gguf_dir = models
    plan = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": services(
                    gguf_dir,
                    {
                        "name": "other",
                        "model": str(gguf_dir),
                        "engine": "ollama",
                        "port": 11434,
                        "served_model_name": "tiny2:q",
                        "max_num_seqs": 6,
                        "max_model_len": 1024,
                    },
                )
            }
        ),
    )
    o = plan.ollama
    assert [s.engine.engine for s in plan.services] == ["ollama", "ollama"] and len(plan.engines) == 1
    assert dict(o.env) == {
        "OLLAMA_HOST": "127.0.0.1:11434",
        "OLLAMA_MODELS": "/opt/llmhost/ollama/models",
        "OLLAMA_NUM_PARALLEL": "6",
        "OLLAMA_MAX_LOADED_MODELS": "2",
        "OLLAMA_KEEP_ALIVE": "5m",
    }
    assert o.cpu_affinity is None  # the only service group on the CPU: the whole host
    tiny, other = plan.services
    assert tiny.modelfile == "/opt/llmhost/ollama/tiny.Modelfile" and other.max_model_len == 1024
    assert tiny.modelfile_text == (
        f"# llmhost service tiny: {gguf_dir}\nFROM /opt/llmhost/models/{gguf_dir.name}/tiny-qwen2-f32.gguf\n"
        "PARAMETER num_ctx 2048\nPARAMETER num_thread 2\n"
    )  # the tiny model's own maximum (2048) caps Ollama's default 4096
    assert tiny.health_path == "/" and tiny.health_url == "http://127.0.0.1:11434" and tiny.secret_files == ()
    assert tiny.argv == ("/usr/local/bin/ollama", "serve")
    assert {"zstd", "curl"} <= set(plan.system_packages)
    e = tiny.engine
    assert e.venv.startswith("/opt/llmhost/venvs/ollama-0.22.1-") and e.check == (f"{e.venv}/bin/ollama", "--version")
    assert e.archive.url == "https://github.com/ollama/ollama/releases/download/v0.22.1/ollama-linux-amd64.tar.zst"
    # llmhost's pin of the default release's archive (tests/upstream/test_download_pins.py checks it where GitHub answers)
    assert (e.archive.sha256, e.archive.sums_url) == (
        "e27c0fe8f60a824162f81ce07b4bfda767dce4f357d762e149b3d0de0abad9fb",
        None,
    )
    assert any(r.startswith("OLLAMA_MAX_LOADED_MODELS=2: 2 of the 2 model(s)") for r in tiny.reasons)
    assert any("Ollama 0.22.1 unpacked from" in r and "never its install.sh" in r for r in plan.reasons)


def test_beside_vllm_cpu_the_daemon_gets_its_own_cpus_and_num_thread(models):
    hf, gguf_dir = models
    plan = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": services(
                    gguf_dir, {"name": "vllm", "model": str(hf), "engine": "vllm-cpu", "port": 8000}
                )
            }
        ),
    )
    tiny, vllm = plan.services
    assert dict(vllm.env)["VLLM_CPU_OMP_THREADS_BIND"] == "1"
    assert plan.ollama.cpu_affinity == "0" and "PARAMETER num_thread 1\n" in tiny.modelfile_text
    assert any(r.startswith("CPUAffinity=0: the daemon's share of the CPUs") for r in tiny.reasons)


def test_a_pinned_release_url_sha256_and_the_wheelhouse_copy(models, tmp_path):
    _hf, gguf_dir = models
    pinned = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": services(gguf_dir),
                "llmhost_ollama_version": "v0.30.0",
                "llmhost_ollama_url": "https://mirror.example/ollama/ollama-linux-amd64.tar.zst",
                "llmhost_ollama_sha256": "A" * 64,
            }
        ),
    )
    a = pinned.ollama.engine.archive
    assert (a.url, a.sha256, a.sums_url) == ("https://mirror.example/ollama/ollama-linux-amd64.tar.zst", "a" * 64, None)
    assert pinned.ollama.engine.version == "0.30.0"
    (tmp_path / "w.whl").write_bytes(b"")
    shipped = plan_host(DEVBOX, load({"llmhost_services": services(gguf_dir), "llmhost_wheelhouse": str(tmp_path)}))
    a = shipped.ollama.engine.archive
    assert a.url == "file:///opt/llmhost/wheelhouse/ollama-0.22.1/ollama-linux-amd64.tar.zst"
    assert a.sha256 == "e27c0fe8f60a824162f81ce07b4bfda767dce4f357d762e149b3d0de0abad9fb"  # the pin, wherever it is
    # an arm64 host: no pin of 0.22.1's arm64 archive, checked against the release's sums (said in the plan)
    arm = plan_host(dataclasses.replace(DEVBOX, arch="aarch64"), load({"llmhost_services": services(gguf_dir)}))
    a = arm.ollama.engine.archive
    assert (a.sha256, a.sums_url) == (None, "https://github.com/ollama/ollama/releases/download/v0.22.1/sha256sum.txt")
    assert any(f"no pin: checked against {a.sums_url}" in r for r in arm.reasons)
    # a URL of the data's for a version llmhost pins none of: its sha256 is needed
    with pytest.raises(PlanError) as e:
        plan_host(
            DEVBOX,
            load(
                {
                    "llmhost_services": services(gguf_dir),
                    "llmhost_ollama_version": "0.30.0",
                    "llmhost_ollama_url": "https://mirror.example/ollama/ollama-linux-amd64.tar.zst",
                }
            ),
        )
    assert str(e.value) == (
        "llmhost_ollama_sha256: llmhost_ollama_url names ollama-linux-amd64.tar.zst, and llmhost pins none for "
        "Ollama 0.30.0 there: give its sha256"
    )
    # the same release from elsewhere is the same install (its directory does not move)
    mirrored = plan_host(DEVBOX, load({"llmhost_services": services(gguf_dir)}))
    assert mirrored.ollama.engine.venv == shipped.ollama.engine.venv


@pytest.mark.parametrize(
    "data, message",
    [
        (
            {"llmhost_services": [{"name": "a", "model": "x/y", "engine": "ollama", "api_key": "k"}]},
            "llmhost_services[0].api_key: Ollama has no API key",
        ),
        (
            {
                "llmhost_services": [
                    {"name": "a", "model": "x/y", "engine": "ollama", "port": 11434},
                    {"name": "b", "model": "x/z", "engine": "ollama", "port": 11435},
                ]
            },
            (
                "llmhost_services[1].port: ollama services share one daemon: 127.0.0.1:11435 differs from "
                "llmhost_services[0]'s 127.0.0.1:11434"
            ),
        ),
        (
            {"llmhost_services": [{"name": "a", "model": "x/y", "engine": "ollama", "served_model_name": "Big Model"}]},
            "llmhost_services[0].served_model_name: unexpected characters",
        ),
        (
            {"llmhost_services": [{"name": "a", "model": "x/y", "engine": "ollama", "served_model_name": "Qwen"}]},
            "llmhost_services[0].served_model_name: 'Qwen' is not an Ollama model name",
        ),
        ({"llmhost_ollama_keep_alive": "forever"}, "llmhost_ollama_keep_alive: expected a duration"),
        ({"llmhost_ollama_version": "latest"}, "llmhost_ollama_version: expected a release version"),
        ({"llmhost_ollama_sha256": "abc"}, "llmhost_ollama_sha256:"),
        ({"llmhost_ollama_url": "ftp://x"}, "llmhost_ollama_url: expected an http(s):// or file:// URL"),
        ({"llmhost_ollama_max_loaded_models": 0}, "llmhost_ollama_max_loaded_models:"),
    ],
)
def test_bad_ollama_data_is_one_line(data, message):
    with pytest.raises(DataError) as err:
        load(data)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_ollama_and_another_engine_may_not_share_a_port_but_ollama_services_do(models):
    hf, gguf_dir = models
    with pytest.raises(
        DataError, match=r"^llmhost_services\[1\]\.port: 11434 is already used by llmhost_services\[0\]"
    ):
        load({"llmhost_services": services(gguf_dir, {"name": "v", "model": str(hf), "port": 11434})})
    assert load({"llmhost_ollama_keep_alive": -1}).ollama_keep_alive == "-1"


def test_the_cpu_refuses_models_beyond_the_daemons_memory_share_with_numbers(models):
    _hf, gguf_dir = models
    small = dataclasses.replace(DEVBOX, memory_bytes=4 * 2**20)
    with pytest.raises(
        PlanError,
        match=r"^llmhost_services\[0\]\.model: tiny needs 0\.\d\d GiB \(weights \+ KV for 4 x 2048 "
        r"tokens \+ runtime\); the Ollama daemon's memory share is 0\.00 GiB",
    ):
        plan_host(small, load({"llmhost_services": services(gguf_dir)}))


# --- several engines on the same GPUs: the v100 seed's mix -----------------------------------------


def mix(parallel: int, *more) -> dict:
    return {
        "llmhost_services": [
            {"name": "qwen72-int4", "model": "Qwen/Qwen-72B-Chat-Int4", "tensor_parallel_size": 2},
            {
                "name": "gemma",
                "model": "google/gemma-2-9b-it",
                "engine": "llamacpp",
                "port": 13003,
                "max_model_len": 2048,
                "max_num_seqs": 1,
            },
            {
                "name": "qwen-small",
                "model": "Qwen/Qwen2.5-1.5B-Instruct",
                "engine": "ollama",
                "port": 11434,
                "served_model_name": "qwen2.5:1.5b",
                "max_num_seqs": parallel,
            },
            *more,
        ],
        "llmhost_cuda_toolkits": ["12.8"],
    }


def test_v100_packs_llamacpp_then_ollama_then_vllm_on_what_is_left():
    plan = plan_host(V100, load(mix(8)))
    vllm, gemma, small = plan.services
    assert dict(gemma.env)["CUDA_VISIBLE_DEVICES"] == "0" and dict(plan.ollama.env)["CUDA_VISIBLE_DEVICES"] == "1"
    assert dict(vllm.env)["CUDA_VISIBLE_DEVICES"] == "1,0"
    # vLLM takes utilization x the whole GPU: what llama.cpp left on GPU 0 bounds it
    assert vllm.gpu_memory_utilization == 0.78 and vllm.max_model_len == 3328
    assert any(
        r.startswith(
            "gpu_memory_utilization=0.78: what the other services leave on GPU 1,0 "
            "(GPU 1: ollama 2.27 GiB; GPU 0: gemma (llama.cpp) 6.37 GiB)"
        )
        for r in vllm.reasons
    )
    assert small.engine.engine == "ollama" and dict(plan.ollama.env)["OLLAMA_NUM_PARALLEL"] == "8"


def test_v100_refuses_the_seeds_30_parallel_ollama_gemma_beside_the_72b_with_numbers():
    wish = mix(
        30,
        {
            "name": "gemma-ollama",
            "model": "google/gemma-2-9b-it",
            "engine": "ollama",
            "port": 11434,
            "served_model_name": "gemma2:9b",
        },
    )
    with pytest.raises(PlanError) as err:
        plan_host(V100, load(wish))
    message = str(err.value)
    # gemma's 30 x 4096-token KV alone overflows GPU 1: Ollama takes all of it (and offloads the rest)
    assert message == (
        "llmhost_services[0].model: Qwen/Qwen-72B-Chat-Int4 has no room on the GPUs left by the other "
        "services (GPU 0: gemma (llama.cpp) 6.37 GiB; GPU 1: ollama 29.79 GiB)"
    )
    # the same wish on its own: Ollama keeps one model loaded and swaps the other in on demand
    alone = plan_host(V100, load({**wish, "llmhost_services": wish["llmhost_services"][2:]}))
    assert dict(alone.ollama.env)["OLLAMA_MAX_LOADED_MODELS"] == "1"
    assert any("the others load on demand" in r for r in alone.services[0].reasons)


def test_auto_never_picks_ollama_and_says_why(models):
    _hf, gguf_dir = models
    plan = plan_host(DEVBOX, load({"llmhost_services": [{"name": "g", "model": str(gguf_dir)}]}))
    assert (
        plan.services[0].engine.engine == "llamacpp"
        and "not Ollama, which is chosen only when pinned" in plan.services[0].reasons[0]
    )


# --- templates ------------------------------------------------------------------------------------


def test_the_official_unit_and_every_setting_in_the_drop_in(models):
    hf, gguf_dir = models
    plan = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": services(
                    gguf_dir, {"name": "vllm", "model": str(hf), "engine": "vllm-cpu", "port": 8000}
                ),
                "llmhost_ollama_keep_alive": "-1",
            }
        ),
    )
    unit = render("ollama.service.j2", ollama_unit_vars(plan.ollama))
    assert unit == (
        "[Unit]\nDescription=Ollama Service\nAfter=network-online.target\n\n[Service]\n"
        "ExecStart=/usr/local/bin/ollama serve\nUser=ollama\nGroup=ollama\nRestart=always\nRestartSec=3\n"
        'Environment="PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"\n\n'
        "[Install]\nWantedBy=default.target\n"
    )
    dropin = render("ollama-override.conf.j2", ollama_override_vars(plan.ollama, plan.nofile))
    lines = dropin.splitlines()
    assert lines[2] == "[Service]" and lines[3:] == [
        'Environment="OLLAMA_HOST=127.0.0.1:11434"',
        'Environment="OLLAMA_KEEP_ALIVE=-1"',
        'Environment="OLLAMA_MAX_LOADED_MODELS=1"',
        'Environment="OLLAMA_MODELS=/opt/llmhost/ollama/models"',
        'Environment="OLLAMA_NUM_PARALLEL=4"',
        "CPUAffinity=0",
        "LimitNOFILE=65536",
        "# start and exit marks in the log, like the tmux launcher's (the verify layer reads the last attempt)",
        'ExecStartPre=/bin/echo "llmhost: starting ollama"',
        'ExecStopPost=/bin/sh -c "echo \\"llmhost: ollama exited with status $${EXIT_STATUS:-?} ($${SERVICE_RESULT:-?})\\""',
        "StandardOutput=append:/opt/llmhost/logs/ollama.log",
        "StandardError=inherit",
    ]
    assert (
        render("ollama-override.conf.j2", ollama_override_vars(plan.ollama, plan.nofile)) == dropin
    )  # same bytes every time
    launcher = render(
        "launcher.sh.j2",
        ollama_launcher_vars(
            [s for s in plan.services if s.engine.archive], plan.nofile, plan.python, plan.tool, plan.service_user
        ),
    )
    assert "OLLAMA_NUM_PARALLEL=4" in launcher and "HOME=/opt/llmhost/home" in launcher
    assert launcher.rstrip().splitlines()[0] == "#!/bin/bash"


# --- operations at the command level --------------------------------------------------------------

D = "/opt/llmhost/venvs/ollama-0.22.1-abcd1234"
RELEASE = "https://github.com/ollama/ollama/releases/download/v0.22.1"


def commands(op, **kwargs) -> list[list[str]]:
    return [shlex.split(str(c.get_raw_value())) for c in op._inner(**kwargs) if hasattr(c, "get_raw_value")]


def test_unpacked_checks_the_release_sums_before_tar_and_is_a_noop_once_there(monkeypatch):
    monkeypatch.setattr(ollama_ops, "host", FakeHost(None))
    args = {
        "directory": D,
        "url": f"{RELEASE}/ollama-linux-amd64.tar.zst",
        "filename": "ollama-linux-amd64.tar.zst",
        "sums_url": f"{RELEASE}/sha256sum.txt",
    }
    assert commands(ollama_ops.unpacked, **args) == [
        ["mkdir", "-p", D],
        ["[", "-e", f"{D}/.llmhost-build", "]", "||", "touch", f"{D}/.llmhost-build"],
        ["curl", "-fsSL", *BOUNDS, "-o", f"{D}/ollama-linux-amd64.tar.zst", f"{RELEASE}/ollama-linux-amd64.tar.zst"],
        ["curl", "-fsSL", *BOUNDS, "-o", f"{D}/sha256sum.txt", f"{RELEASE}/sha256sum.txt"],
        [
            "awk",
            "-v",
            "f=ollama-linux-amd64.tar.zst",
            "-v",
            f"d={D}/ollama-linux-amd64.tar.zst",
            '$2 == f || $2 == "./" f {print $1 "  " d}',
            f"{D}/sha256sum.txt",
            "|",
            "sha256sum",
            "--check",
            "--strict",
            "-",
        ],
        ["tar", "-I", "zstd", "-xf", f"{D}/ollama-linux-amd64.tar.zst", "-C", D],
        ["rm", "-f", f"{D}/ollama-linux-amd64.tar.zst", f"{D}/sha256sum.txt"],
    ]
    pinned = commands(ollama_ops.unpacked, **{**args, "sha256": "0" * 64, "sums_url": None})
    assert pinned[3] == [
        "echo",
        f"{'0' * 64}  {D}/ollama-linux-amd64.tar.zst",
        "|",
        "sha256sum",
        "--check",
        "--strict",
        "-",
    ]
    there = FakeHost({"size": 1})
    monkeypatch.setattr(ollama_ops, "host", there)
    assert commands(ollama_ops.unpacked, **args) == [] and there.noops == [f"{D}/bin/ollama is unpacked"]


MODELFILE = "FROM /opt/llmhost/models/g/g.gguf\nPARAMETER num_ctx 4096\n"
IMPORT = {
    "model": "gemma2:9b",
    "modelfile": "/opt/llmhost/ollama/gemma.Modelfile",
    "text": MODELFILE,
    "models_dir": "/opt/llmhost/ollama/models",
    "binary": "/usr/local/bin/ollama",
    "url": "http://127.0.0.1:11434",
    "wait": 30,
}


def test_a_model_is_imported_with_ollama_create_and_skipped_when_unchanged(monkeypatch):
    for present in (
        {"imported": False, "modelfile": None},
        {"imported": True, "modelfile": "FROM /old.gguf\n"},
        {"imported": False, "modelfile": MODELFILE},
    ):
        fake = FakeHost(present)
        monkeypatch.setattr(ollama_ops, "host", fake)
        ops = list(ollama_ops.imported._inner(**IMPORT))
        assert ops[0].dest == "/opt/llmhost/ollama/gemma.Modelfile.new" and ops[0].src.getvalue() == MODELFILE
        assert [shlex.split(str(c.get_raw_value())) for c in ops[1:]] == [
            [
                "for",
                "_",
                "in",
                "$(seq",
                "30);",
                "do",
                "curl",
                "-fsS",
                "-o",
                "/dev/null",
                "http://127.0.0.1:11434",
                "&&",
                "break;",
                "sleep",
                "1;",
                "done",
            ],
            [
                "OLLAMA_HOST=http://127.0.0.1:11434",
                "/usr/local/bin/ollama",
                "create",
                "gemma2:9b",
                "-f",
                "/opt/llmhost/ollama/gemma.Modelfile.new",
            ],
            ["mv", "/opt/llmhost/ollama/gemma.Modelfile.new", "/opt/llmhost/ollama/gemma.Modelfile"],
        ]
        assert fake.kwargs == {
            "models_dir": "/opt/llmhost/ollama/models",
            "model": "gemma2:9b",
            "modelfile": "/opt/llmhost/ollama/gemma.Modelfile",
        }
    same = FakeHost({"imported": True, "modelfile": MODELFILE})
    monkeypatch.setattr(ollama_ops, "host", same)
    assert list(ollama_ops.imported._inner(**IMPORT)) == [] and same.noops == [
        "gemma2:9b is imported from /opt/llmhost/ollama/gemma.Modelfile"
    ]
    assert len(list(ollama_ops.imported._inner(**IMPORT, force=True))) == 4  # its GGUF changed


def test_the_model_fact_reads_ollamas_manifest_layout_and_the_kept_modelfile(tmp_path):
    import subprocess

    models, modelfile = tmp_path / "models", tmp_path / "g.Modelfile"
    fact = OllamaModel()
    command = fact.command(models_dir=str(models), model="gemma2:9b", modelfile=str(modelfile))

    def run():
        return fact.process(
            subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False).stdout.splitlines()
        )

    assert run() == {"imported": False, "modelfile": None}
    manifest = Path(manifest_path(str(models), "gemma2:9b"))
    assert manifest == models / "manifests/registry.ollama.ai/library/gemma2/9b"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("{}")
    modelfile.write_text(MODELFILE)
    assert run() == {"imported": True, "modelfile": MODELFILE}
    assert manifest_path("/m", "qwen") == "/m/manifests/registry.ollama.ai/library/qwen/latest"


def test_an_ollama_service_asking_for_a_gguf_gets_llamacpps_tools_and_imports_the_result(models):
    hf, gguf_dir = models
    alone = plan_host(
        DEVBOX,
        load(
            {"llmhost_services": [{"name": "o", "model": str(hf), "engine": "ollama", "port": 11434, "gguf": "Q8_0"}]}
        ),
    )
    svc = alone.services[0]
    out = "/opt/llmhost/models/tiny-qwen2--gguf-Q8_0/tiny-qwen2-Q8_0.gguf"
    assert svc.convert.output == out and f"FROM {out}\n" in svc.modelfile_text
    tools = svc.convert.tools
    # no llama.cpp service: a build of its own, for the CPU (converting needs no GPU), in plan.engines
    assert tools.engine == "llamacpp" and tools.build_flags[-1] == "-DGGML_NATIVE=ON" and tools in alone.engines
    assert alone.converter is not None and {"cmake", "g++"} <= set(alone.system_packages)
    assert any("its converter and llama-quantize make o's GGUF" in r for r in alone.reasons)
    # beside a llama.cpp service: its build's tools
    both = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": [
                    {"name": "l", "model": str(gguf_dir), "engine": "llamacpp", "port": 8001},
                    {"name": "o", "model": str(hf), "engine": "ollama", "port": 11434, "gguf": "Q8_0"},
                ]
            }
        ),
    )
    assert both.services[1].convert.tools == both.services[0].engine and len(both.engines) == 2
