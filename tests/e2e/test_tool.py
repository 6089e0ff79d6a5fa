"""llmhost installed like a tool: its wheel (the deploys, templates and data contract inside, pyinfra's
"packaging deploys" way) built from this checkout, installed into a fresh venv outside it, and run
from another folder on this machine: a user's own inventory and group data, the tiny model made by
the installed tool, `llmhost serve -y` with the endpoint table at its end, a chat completion, then
`llmhost logs`, `llmhost status`, `llmhost stop SERVICE`.

Cost (measured here, module 64 s): the wheel 2 s, its venv 22 s (PyPI, pip's cache warm), the
serve 32 s (the engine's start: its venv is the one test_serve_local installed; alone, that install
too). Timings in "llmhost timings".
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.helpers import LOCAL_DATA, REPO, record_timing

URL = "http://127.0.0.1:8000"
SERVICE = {"name": "tiny", "engine": "vllm-cpu", "port": 8000, "served_model_name": "tiny-qwen2"}


def run(argv: list, cwd: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    started = time.monotonic()
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    proc.seconds = time.monotonic() - started
    return proc


@pytest.fixture(scope="module")
def tool(local_host_ready, tmp_path_factory) -> Path:
    """The llmhost command of a fresh venv, installed from the wheel of this checkout."""
    work = tmp_path_factory.mktemp("tool")
    built = run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", work / "dist", REPO], work)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (work / "dist").glob("llmhost-*.whl")
    record_timing("the tool: llmhost's wheel built", built.seconds)
    venv = run(["python3", "-m", "venv", work / "venv"], work)
    assert venv.returncode == 0, venv.stderr
    installed = run([work / "venv" / "bin" / "pip", "install", "-q", wheel], work)
    assert installed.returncode == 0, installed.stderr[-3000:]
    record_timing("the tool: its venv, from the wheel and PyPI", installed.seconds + venv.seconds)
    return work / "venv" / "bin" / "llmhost"


@pytest.fixture(scope="module")
def project(tool, tmp_path_factory) -> tuple[Path, Path]:
    """A user's project (inventories/ and group_data/ side by side, the model made by the tool) and
    the folder commands are run from: another one."""
    project = tmp_path_factory.mktemp("project")
    made = run([tool, "tiny-model", project / "models" / "tiny-qwen2"], project)
    assert made.returncode == 0, made.stderr
    (project / "inventories").mkdir()
    (project / "group_data").mkdir()
    (project / "inventories" / "lab.py").write_text('lab = ["@local"]\n')
    data = {"llmhost_services": [{**SERVICE, "model": str(project / "models" / "tiny-qwen2")}], **LOCAL_DATA}
    (project / "group_data" / "lab.py").write_text("".join(f"{k} = {v!r}\n" for k, v in data.items()))
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    return project / "inventories" / "lab.py", elsewhere


@pytest.fixture(scope="module")
def served(tool, project):
    inventory, elsewhere = project
    proc = run([tool, "serve", "-y", inventory, "--json"], elsewhere)
    record_timing("the tool: llmhost serve -y from another folder", proc.seconds)
    assert proc.returncode == 0, proc.stderr[-5000:] + proc.stdout[-2000:]
    return proc


def test_the_installed_tool_carries_its_deploys_and_runs_none_of_the_checkout(tool):
    site = next((tool.parent.parent / "lib").glob("python3*/site-packages"))
    assert (site / "llmhost" / "_shared" / "deploys" / "serve.py").is_file()
    assert (site / "llmhost" / "_shared" / "group_data" / "all.py").is_file()
    where = run([tool.parent / "python", "-c", "import llmhost.resources as r; print(r.deploy_file('serve.py'))"], "/")
    assert where.stdout.strip() == str(site / "llmhost" / "_shared" / "deploys" / "serve.py")
    assert str(REPO) not in where.stdout


def test_serve_from_another_folder_prints_where_the_service_answers(served):
    endpoints = json.loads(served.stdout)
    assert endpoints == {"@local": {"services": {"tiny": {"url": f"{URL}/v1", "model": "tiny-qwen2", "key": "none"}}}}
    assert "--> Starting operation: llmhost service layer" in served.stderr  # its progress, as it ran
    answer = requests.post(
        f"{URL}/v1/chat/completions",
        json={"model": "tiny-qwen2", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 4},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text


def test_logs_status_and_stop_of_the_installed_tool(tool, project, served):
    inventory, elsewhere = project
    logs = run([tool, "logs", inventory, "tiny", "-n", "50"], elsewhere, timeout=120)
    assert logs.returncode == 0, logs.stderr
    assert "Application startup complete" in logs.stdout, logs.stdout[-2000:]
    status = run([tool, "status", inventory], elsewhere, timeout=600)
    assert status.returncode == 0, status.stdout + status.stderr
    assert "@local: no drift" in status.stdout and f"@local  service tiny  {URL}/v1  tiny-qwen2  none" in status.stdout
    unknown = run([tool, "logs", inventory, "nope"], elsewhere, timeout=120)
    assert (
        unknown.returncode == 2
        and unknown.stderr == f"llmhost logs: no host of {inventory} runs a service named 'nope'\n"
    )
    stopped = run([tool, "stop", inventory, "tiny"], elsewhere, timeout=600)
    assert stopped.returncode == 0, stopped.stderr[-3000:]
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{URL}/health", timeout=5)
    after = run([tool, "status", inventory, "--json"], elsewhere, timeout=600)
    assert after.returncode == 1 and not json.loads(after.stdout)["@local"]["services"]["tiny"]["running"]
