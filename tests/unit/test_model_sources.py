"""Model sources, the controller's lock, the disk check and the fetch command.

The hub path runs for real in tests/e2e/test_models_hub.py (olah); ModelScope cannot be reached
from these machines, so its fetch is checked here at the command level: given these facts, this
command (or this no-op).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from pathlib import Path

import pytest

from llmhost.operations import model as model_ops
from llmhost.plan import GiB, PlanError, plan_host
from llmhost.settings import DataError, load, lock_file_name, parse_model
from tests.helpers import FakeHost
from tests.unit.common import DEVBOX

REV = "2e8e345d59da70d387dca261b5da857e7059bf27"


def services(model: str, **data):
    return load({"llmhost_services": [{"name": "m", "model": model, "engine": "vllm-cpu"}], **data})


@pytest.mark.parametrize(
    "model, kind, ref, revision, spec, slug",
    [
        (
            "Qwen/Qwen2.5-1.5B-Instruct@v1",
            "hf",
            "Qwen/Qwen2.5-1.5B-Instruct",
            "v1",
            "hf:Qwen/Qwen2.5-1.5B-Instruct@v1",
            "Qwen--Qwen2.5-1.5B-Instruct",
        ),
        (
            "modelscope:qwen/Qwen2.5-1.5B-Instruct",
            "modelscope",
            "qwen/Qwen2.5-1.5B-Instruct",
            None,
            "modelscope:qwen/Qwen2.5-1.5B-Instruct",
            "modelscope--qwen--Qwen2.5-1.5B-Instruct",
        ),
        (
            "host:/data/models/qwen/",
            "host",
            "/data/models/qwen",
            None,
            "host:/data/models/qwen/",
            "host--data--models--qwen",
        ),
    ],
)
def test_sources(model, kind, ref, revision, spec, slug):
    (svc,) = services(model).services
    m = svc.model
    assert (m.kind, m.ref, m.revision, m.spec, m.slug) == (kind, ref, revision, spec, slug)


@pytest.mark.parametrize(
    "model, problem",
    [
        ("host:data/models/qwen", "host: takes an absolute directory on the host"),
        ("host:/data/../etc", "host: takes an absolute directory on the host"),
        ("modelscope:qwen", "expected a hub id like modelscope:Qwen/"),
        ("hf:Qwen/Qwen2@", "expected a hub id like hf:Qwen/"),
        ("s3://bucket/model", "expected a hub id (org/name, hf:org/name[@rev], modelscope:org/name[@rev])"),
    ],
)
def test_bad_sources_are_one_line(model, problem):
    with pytest.raises(DataError) as err:
        services(model)
    assert str(err.value).startswith("llmhost_services[0].model: ") and problem in str(err.value)


def _lock(tmp_path, spec="hf:Qwen/Qwen2.5-1.5B-Instruct", **entry):
    tmp_path.mkdir(exist_ok=True)
    body = {
        "version": 1,
        "source": spec,
        "revision": REV,
        "files": {"model.safetensors": {"sha256": "ab" * 32, "size": 10 * GiB}},
        **entry,
    }
    (tmp_path / lock_file_name(spec)).write_text(json.dumps(body))
    return body


def test_a_lock_entry_pins_the_commit(tmp_path):
    entry = _lock(tmp_path / "lock")
    s = services("Qwen/Qwen2.5-1.5B-Instruct", llmhost_model_lock_dir=str(tmp_path / "lock"))
    plan = plan_host(dataclasses.replace(DEVBOX, disk_free_bytes=100 * GiB), s)
    m = plan.services[0].model
    assert m.locked == entry and m.fetch_revision == REV and m.size_bytes == 10 * GiB
    assert m.lock_file == str(tmp_path / "lock" / "hf--Qwen--Qwen2.5-1.5B-Instruct.json")
    # without an entry: the revision as written, the catalog's size
    m = (
        plan_host(DEVBOX, services("Qwen/Qwen2.5-1.5B-Instruct@v1", llmhost_model_lock_dir=str(tmp_path / "lock")))
        .services[0]
        .model
    )
    assert m.locked is None and m.fetch_revision == "v1" and m.size_bytes > 3 * 10**9


@pytest.mark.parametrize(
    "content, problem",
    [
        ("{not json", "not a readable lock entry"),
        (
            json.dumps({"source": "hf:Other/Model", "revision": REV, "files": {}}),
            "not the lock entry of hf:Qwen/Qwen2.5-1.5B-Instruct",
        ),
        (json.dumps({"source": "hf:Qwen/Qwen2.5-1.5B-Instruct", "files": {}}), "needs source, revision and files"),
    ],
)
def test_a_broken_lock_entry_is_one_line(tmp_path, content, problem):
    (tmp_path / "hf--Qwen--Qwen2.5-1.5B-Instruct.json").write_text(content)
    with pytest.raises(DataError) as err:
        services("Qwen/Qwen2.5-1.5B-Instruct", llmhost_model_lock_dir=str(tmp_path))
    assert str(err.value).startswith("llmhost_model_lock_dir: ") and problem in str(err.value)
    assert "\n" not in str(err.value)


def test_a_download_that_cannot_fit_is_refused_before_any_change(tmp_path):
    _lock(tmp_path / "lock")
    s = services("Qwen/Qwen2.5-1.5B-Instruct", llmhost_model_lock_dir=str(tmp_path / "lock"))
    path = "/opt/llmhost/models/Qwen--Qwen2.5-1.5B-Instruct"
    # 10 GiB locked, 2 GiB already there: 8 GiB more; 5 GiB free -> refused with those numbers
    facts = dataclasses.replace(DEVBOX, disk_free_bytes=5 * GiB, model_bytes=((path, 2 * GiB),))
    with pytest.raises(PlanError) as err:
        plan_host(facts, s)
    assert str(err.value) == (
        "llmhost_services[0].model: hf:Qwen/Qwen2.5-1.5B-Instruct needs 8.00 GiB more under /opt/llmhost/models "
        "(2.00 GiB of 10.00 GiB from the lock already there), but only 5.00 GiB is free"
    )
    # 6 GiB there: 4 GiB more fits in 5 GiB, and the plan says so
    plan = plan_host(dataclasses.replace(facts, model_bytes=((path, 6 * GiB),)), s)
    assert any(r.startswith("disk: hf:Qwen/Qwen2.5-1.5B-Instruct needs 4.00 GiB more") for r in plan.reasons)
    # all there: nothing to download, no disk reason
    plan = plan_host(dataclasses.replace(facts, model_bytes=((path, 10 * GiB),)), s)
    assert not any(r.startswith("disk:") for r in plan.reasons)


def test_the_model_tools_venv_only_for_hub_models(tmp_path):
    from llmhost.tinymodel import write_tiny_model

    tiny = str(write_tiny_model(tmp_path / "tiny"))
    assert plan_host(DEVBOX, services(tiny)).tools is None
    assert plan_host(DEVBOX, services(f"host:{tiny}")).tools is None
    hf = plan_host(DEVBOX, services("Qwen/Qwen2.5-1.5B-Instruct")).tools
    assert hf.venv.startswith("/opt/llmhost/venvs/model-tools-1-") and hf.requirements == ("huggingface_hub==2.4.0",)
    assert hf.python_bin == "/opt/llmhost/venvs/model-tools-current/bin/python"
    ms = plan_host(DEVBOX, services("modelscope:qwen/Qwen2.5-1.5B-Instruct")).tools
    assert ms.requirements == ("huggingface_hub==2.4.0", "modelscope==1.40.2", "modelscope-hub==0.5.1")
    # the tools venv takes the same package sources as the engines (offline wheelhouse included)
    offline = load(
        {
            "llmhost_services": [{"name": "m", "model": "Qwen/Qwen2.5-1.5B-Instruct"}],
            "llmhost_pip_find_links": ["/opt/wheelhouse"],
            "llmhost_pip_no_index": True,
        }
    )
    tools = plan_host(DEVBOX, offline).tools
    assert tools.pip_no_index and tools.pip_find_links == ("/opt/wheelhouse",)


# --- the fetch operation at the command level: facts in, command (or no-op) out ------------------


FILES = {"config.json": {"sha256": "11" * 32, "size": 621}, "model.safetensors": {"sha256": "22" * 32, "size": 5000}}
SPEC = "modelscope:qwen/Qwen2.5-1.5B-Instruct"
ARGS = {
    "source": "modelscope",
    "repo": "qwen/Qwen2.5-1.5B-Instruct",
    "spec": SPEC,
    "dest": "/m/d",
    "manifest_path": "/m/d.manifest.json",
    "python": "/v/bin/python",
    "tool": "/t/hosttool",
    "endpoint": "https://www.modelscope.cn",
}


def _run(monkeypatch, fact, **kwargs):
    fake = FakeHost(fact)
    monkeypatch.setattr(model_ops, "host", fake)
    commands = [shlex.split(str(c.get_raw_value())) for c in model_ops.fetched._inner(**{**ARGS, **kwargs})]
    return commands, fake


def test_modelscope_fetch_command_without_a_lock(monkeypatch):
    commands, fake = _run(monkeypatch, {"manifest": None, "sizes": {}, "hashes": None}, revision="v1.0")
    assert commands == [
        [
            "/v/bin/python",
            "/t/hosttool",
            "fetch",
            "--source",
            "modelscope",
            "--repo",
            "qwen/Qwen2.5-1.5B-Instruct",
            "--spec",
            SPEC,
            "--dest",
            "/m/d",
            "--manifest",
            "/m/d.manifest.json",
            "--endpoint",
            "https://www.modelscope.cn",
            "--revision",
            "v1.0",
        ]
    ]
    assert fake.kwargs == {"path": "/m/d", "manifest": "/m/d.manifest.json", "hashes": False}


def test_locked_and_matching_is_a_noop(monkeypatch):
    locked = {"version": 1, "source": SPEC, "revision": "v1.0", "files": FILES}
    fact = {"manifest": locked, "sizes": {"config.json": 621, "model.safetensors": 5000}, "hashes": None}
    commands, fake = _run(monkeypatch, fact, locked=locked)
    assert commands == [] and fake.noops[0].startswith(
        "/m/d matches its lock (modelscope:qwen/Qwen2.5-1.5B-Instruct at v1.0"
    )


def test_locked_with_one_bad_file_fetches_that_file(monkeypatch):
    locked = {"version": 1, "source": SPEC, "revision": "v1.0", "files": FILES}
    # full verification: the weights' sha256 on the host is not the lock's
    fact = {
        "manifest": locked,
        "sizes": {"config.json": 621, "model.safetensors": 5000},
        "hashes": {"config.json": "11" * 32, "model.safetensors": "33" * 32},
    }
    (command,), _ = _run(monkeypatch, fact, locked=locked, full=True, token_file="/etc/llmhost/hf-token.env")
    assert command[command.index("--only") + 1] == "model.safetensors" and command.count("--only") == 1
    expect = json.loads(command[command.index("--expect") + 1])
    assert expect == {"revision": "v1.0", "files": FILES}
    assert "--revision" not in command  # the lock's commit, not the revision as written
    # the token reaches the tool as a 0600 file's name, never itself on the command line
    assert command[command.index("--token-file") + 1] == "/etc/llmhost/hf-token.env" and command[0] == "/v/bin/python"


def test_a_hub_model_without_numbers_leaves_length_and_dtype_to_the_engine():
    """Seen on a fleet host: a guessed --max-model-len 4096 stops vLLM on a 2048-token model.
    Without catalog numbers the engine reads the model's own config.json."""
    (svc,) = plan_host(DEVBOX, services("hf:llmhost-test/tiny-qwen2")).services
    assert "--max-model-len" not in svc.argv and svc.max_model_len is None
    assert svc.argv[svc.argv.index("--dtype") + 1] == "auto"
    assert (
        "max_model_len: the model's own (not in the catalog; vLLM reads it from config.json on the host)" in svc.reasons
    )
    pinned_len = load(
        {"llmhost_services": [{"name": "m", "model": "hf:llmhost-test/tiny-qwen2", "max_model_len": 1024}]}
    )
    (pinned,) = plan_host(DEVBOX, pinned_len).services
    assert pinned.argv[pinned.argv.index("--max-model-len") + 1] == "1024"


# --- one GGUF file of a hub repository -------------------------------------------------------------

GGUF_SPEC = "hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf"


def test_a_hub_gguf_file_is_its_own_model_with_the_catalogs_numbers():
    m = parse_model("k", GGUF_SPEC.removeprefix("hf:"), Path("."))
    assert (m.spec, m.ref, m.file, m.slug) == (
        GGUF_SPEC,
        "Qwen/Qwen2.5-1.5B-Instruct-GGUF",
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        "Qwen--Qwen2.5-1.5B-Instruct-GGUF--qwen2.5-1.5b-instruct-q4_k_m",
    )
    assert (m.info.gguf_file, m.info.gguf_type, m.info.weight_bytes, m.info.num_layers) == (
        "qwen2.5-1.5b-instruct-q4_k_m.gguf",
        "Q4_K_M",
        1_117_320_736,
        28,
    )
    assert parse_model("k", "modelscope:a/b/sub/c.gguf@v1", Path(".")).file == "sub/c.gguf"
    for bad in ("hf:a/b/c.safetensors", "hf:a/b/../c.gguf", "a/b/./c.gguf"):
        with pytest.raises(DataError, match=r"^k: a hub id names the repository, or one \.gguf file in it"):
            parse_model("k", bad, Path("."))


def test_a_hub_gguf_is_planned_fetched_alone_and_served_by_its_path(monkeypatch):
    plan = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": [
                    {"name": "q", "model": GGUF_SPEC, "engine": "llamacpp"},
                    {"name": "o", "model": GGUF_SPEC, "engine": "ollama", "port": 11434},
                ]
            }
        ),
    )
    llama, ollama = plan.services
    path = "/opt/llmhost/models/Qwen--Qwen2.5-1.5B-Instruct-GGUF--qwen2.5-1.5b-instruct-q4_k_m"
    assert llama.model.path == path and llama.model.file == "qwen2.5-1.5b-instruct-q4_k_m.gguf"
    assert llama.argv[1:3] == ("-m", f"{path}/qwen2.5-1.5b-instruct-q4_k_m.gguf")
    assert f"FROM {path}/qwen2.5-1.5b-instruct-q4_k_m.gguf\n" in ollama.modelfile_text
    commands, _ = _run(
        monkeypatch,
        {"manifest": None, "sizes": {}, "hashes": None},
        source="hf",
        repo=llama.model.ref,
        spec=GGUF_SPEC,
        file=llama.model.file,
        endpoint=None,
    )
    assert commands[0][-2:] == ["--file", "qwen2.5-1.5b-instruct-q4_k_m.gguf"]


def test_the_tool_takes_the_token_from_its_file_before_any_request(monkeypatch, tmp_path, capsys):
    """llmhost-hosttool fetch --token-file: HF_TOKEN from the 0600 file the model layer uploads, set
    for the hub clients before the first request (here the endpoint probe, which fails: no hub)."""
    from llmhost.hostside import llmhost_hosttool as tool

    monkeypatch.delenv("HF_TOKEN", raising=False)
    token = tmp_path / "hf-token.env"
    token.write_text("HF_TOKEN=hf_from_the_file\n")
    argv = ["fetch", "--source", "hf", "--repo", "a/b", "--spec", "hf:a/b", "--dest", str(tmp_path / "d")]
    argv += ["--manifest", str(tmp_path / "m.json"), "--endpoint", "http://127.0.0.1:9", "--endpoint-key", "k"]
    assert tool.main([*argv, "--token-file", str(token)]) == 1
    assert "llmhost-hosttool: k: http://127.0.0.1:9 is not reachable" in capsys.readouterr().err
    assert os.environ["HF_TOKEN"] == "hf_from_the_file"
