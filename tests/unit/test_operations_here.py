"""Operations against this machine as the host: their facts read here for real, their commands run
here, a second call a no-op (tests/unit/common.ThisMachine). The fleet and end-to-end tests run the
same operations inside whole deploys."""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from types import SimpleNamespace

import pytest
from pyinfra.api import FunctionCommand
from pyinfra.api.exceptions import OperationError

from llmhost.operations import bench, model, secret, webui
from llmhost.operations import files as llmfiles
from llmhost.resources import hostside_tool, template
from tests.unit.common import ThisMachine, open_webui_db


@pytest.fixture
def here(monkeypatch):
    machine = ThisMachine()
    for module in (bench, model, secret, webui, llmfiles):
        monkeypatch.setattr(module, "host", machine)
    return machine


def test_a_secret_is_generated_once_with_mode_0600_and_never_passes_the_controller(here, tmp_path):
    path = tmp_path / "qwen.key.env"
    commands = here.run(secret.generated._inner(path=str(path), variable="VLLM_API_KEY", nbytes=24))
    assert len(commands) == 1 and "/dev/urandom" in commands[0]  # the value is made on the host
    first = path.read_text()
    assert re.fullmatch(r"VLLM_API_KEY=[0-9a-f]{48}\n", first), first
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert here.run(secret.generated._inner(path=str(path), variable="VLLM_API_KEY")) == []
    assert here.noops == [f"{path} exists (kept)"] and path.read_text() == first


def test_a_model_on_the_host_is_recorded_then_guarded(here, tmp_path):
    directory, manifest = tmp_path / "qwen-local", tmp_path / "host--qwen-local.manifest.json"
    directory.mkdir()
    (directory / "config.json").write_text("{}")
    (directory / "model.safetensors").write_bytes(b"\1" * 1000)
    args = {"path": str(directory), "spec": f"host:{directory}", "manifest_path": str(manifest)}
    args |= {"python": sys.executable, "tool": hostside_tool()}
    here.run(model.on_host._inner(**args))
    recorded = json.loads(manifest.read_text())
    assert recorded["source"] == f"host:{directory}" and sorted(recorded["files"]) == [
        "config.json",
        "model.safetensors",
    ]
    assert here.run(model.on_host._inner(**args)) == []
    assert here.noops == [f"{directory} matches its manifest (2 files, 1002 bytes; manifest and sizes)"]
    (directory / "model.safetensors").write_bytes(b"\2" * 999)
    with pytest.raises(OperationError, match=r"files changed since llmhost recorded the directory: model\.safetensors"):
        list(model.on_host._inner(**args))
    with pytest.raises(OperationError, match="holds no files on this host"):
        list(model.on_host._inner(**{**args, "path": str(tmp_path / "empty"), "spec": "host:/elsewhere"}))


def test_the_web_uis_admin_gets_the_datas_password(here, tmp_path):
    env = tmp_path / "webui.env"
    env.write_text("WEBUI_ADMIN_PASSWORD=new-password\n")
    database = tmp_path / "webui.db"
    args = {"python": sys.executable, "tool": hostside_tool(), "database": str(database)}
    args |= {"email": "admin@llmhost.local", "env_files": [str(env)]}
    assert here.run(webui.admin._inner(**args)) == []  # before its first start: Open WebUI makes the admin
    open_webui_db(database, "admin@llmhost.local", "old-password")
    (command,) = here.run(webui.admin._inner(**args))
    assert "--apply" in command and "new-password" not in command  # read from the env file on the host
    assert here.run(webui.admin._inner(**args)) == []
    assert here.noops[-1] == "admin@llmhost.local: the admin account, with the data's password"


def test_the_bandwidth_is_probed_unless_a_probe_on_as_many_cpus_is_cached(here, tmp_path):
    cache = tmp_path / "memory-bandwidth.json"
    args = {"python": "/v/bin/python", "script": "/opt/llmhost/bin/llmhost-bench", "cache": str(cache), "cpus": 2}
    probe = ["/v/bin/python /opt/llmhost/bin/llmhost-bench probe --cache " + str(cache)]
    assert [str(c.get_raw_value()) for c in bench.probed._inner(**args)] == probe
    cache.write_text(json.dumps({"read_gbs": 29.6, "cpus": 16, "probed_at": "2026-11-27T00:00:00Z"}))
    assert [str(c.get_raw_value()) for c in bench.probed._inner(**args)] == probe  # another CPU count
    cache.write_text(json.dumps({"read_gbs": 29.6, "cpus": 2, "probed_at": "2026-11-27T00:00:00Z"}))
    assert list(bench.probed._inner(**args)) == []
    assert here.noops == ["memory read bandwidth 29.6 GB/s on 2 CPUs, probed 2026-11-27T00:00:00Z"]


def test_a_sweep_writes_its_record_on_the_controller_or_fails_with_the_hosts_line(tmp_path):
    """The sweep runs on the host (llmhost-bench sweep); its JSON line becomes the record. The host is
    a stand-in answering with GuideLLM's shape; tests/e2e/test_bench.py sweeps a real vLLM."""
    from llmhost.benchmarks import record_path

    meta = {"host": "@local", "service": "tiny", "stamp": "20261126T001000Z", "engine": "vllm-cpu"}
    level = {"concurrency": 1, "status": "ok", "output_tokens_per_second": 10.0}

    def sweep(stdout, ok=True):
        (command,) = bench.swept._inner(python="p", script="s", spec="/spec.json", results=str(tmp_path), meta=meta)
        assert isinstance(command, FunctionCommand)
        answer = SimpleNamespace(stdout_lines=stdout, stderr_lines=[] if ok else ["no such service"])
        ran = []
        fake = SimpleNamespace(print_prefix="", run_shell_command=lambda c: ran.append(str(c)) or (ok, answer))
        return command.function(None, fake), ran

    assert sweep(["no such service"], ok=False) == (False, ["p s sweep --spec /spec.json"])
    done, _ = sweep(["guidellm chatter", json.dumps({"levels": [level]})])
    record = json.loads((record_path(str(tmp_path), "@local", "tiny", meta["stamp"])).read_text())
    assert done and [lv["concurrency"] for lv in record["levels"]] == [1] and record["bandwidth"] is None


def test_a_template_is_rendered_and_written_only_when_it_differs(here, tmp_path, monkeypatch):
    monkeypatch.setattr(llmfiles, "state", SimpleNamespace(inventory=None, config=SimpleNamespace(DIFF=False)))
    dest = tmp_path / "tiny.env"
    variables = {"unit": "llmhost-tiny", "secret_env": (("VLLM_API_KEY", "k3y"),)}
    monkeypatch.setattr(here, "get_temp_filename", lambda dest: str(dest), raising=False)
    commands = list(llmfiles.rendered._inner(src=template("service.env.j2"), dest=str(dest), mode="600", **variables))
    assert [type(c).__name__ for c in commands] == ["FileUploadCommand", "StringCommand"]
    upload, chmod = commands
    assert "VLLM_API_KEY=k3y" in upload.src.getvalue() and str(chmod.get_raw_value()) == f"chmod 600 {dest}"
    dest.write_text(upload.src.getvalue())
    os.chmod(dest, 0o600)
    assert list(llmfiles.rendered._inner(src=template("service.env.j2"), dest=str(dest), mode="600", **variables)) == []
    assert here.noops == [f"{dest} is as planned"]
    # pyinfra --diff: the file read back from this machine (pyinfra's own FileContents), the key masked
    logged = []
    monkeypatch.setattr(llmfiles, "state", SimpleNamespace(inventory=None, config=SimpleNamespace(DIFF=True)))
    monkeypatch.setattr(here, "log", lambda message, _: logged.append(message), raising=False)
    monkeypatch.setattr(llmfiles, "logger", SimpleNamespace(info=lambda fmt, *a: logged.append(fmt % a)))
    changed = {**variables, "secret_env": (("VLLM_API_KEY", "n3w"),)}
    assert len(list(llmfiles.rendered._inner(src=template("service.env.j2"), dest=str(dest), mode="600", **changed)))
    text = "\n".join(logged)
    assert logged[0] == f"Will modify {dest}" and "VLLM_API_KEY=*** (changed)" in text, text
    assert "k3y" not in text and "n3w" not in text
