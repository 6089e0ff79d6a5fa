"""llmhost.operations.tmux.session on this machine, for real: start, noop, restart, stop."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from tests.helpers import pyinfra, require

SESSION = "llmhost-test-tmux-op"


def pane_pid():
    out = subprocess.run(
        ["tmux", "list-panes", "-t", f"={SESSION}", "-F", "#{pane_pid}"], capture_output=True, text=True, check=False
    )
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.strip() else None


def gone(pid: int, wait: float = 3.0) -> bool:
    """No such process, or only its zombie: PID 1 here (the sandbox's own, not an init) reaps
    orphans late, and `kill -0` succeeds on a zombie (CI of stop 25 failed on exactly this)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)


def run(*data):
    args = ["@local", "tests/e2e/deploys/tmux_session.py", "--data", f"test_session={SESSION}"]
    for d in ("test_command=sleep 600", *data):
        args += ["--data", d]
    result = pyinfra(*args)
    assert result.rc == 0, result.stderr[-3000:]
    return result


@pytest.fixture
def clean():
    require(shutil.which("tmux") is not None, "tmux is not installed")
    subprocess.run(["tmux", "kill-session", "-t", f"={SESSION}"], capture_output=True, check=False)
    yield
    subprocess.run(["tmux", "kill-session", "-t", f"={SESSION}"], capture_output=True, check=False)


def test_start_noop_restart_stop(clean):
    assert run().changed == ["tmux session under test"]
    first = pane_pid()
    assert first is not None
    # started in /, as systemd starts a service, not in the folder the run was started from
    assert os.readlink(f"/proc/{first}/cwd") == "/"

    assert run().changed == []
    assert pane_pid() == first

    assert run("test_restarted=true").changed == ["tmux session under test"]
    second = pane_pid()
    assert second not in (None, first)
    # the old process group is gone before the new session starts
    assert gone(first)

    assert run("test_present=false").changed == ["tmux session under test"]
    assert pane_pid() is None
    assert run("test_present=false").changed == []


def test_stop_escalates_to_sigkill(clean):
    # A command that ignores SIGHUP and SIGTERM: the stop must still end it (after stop_timeout).
    stubborn = "test_command=sh -c 'trap \"\" HUP TERM; while true; do sleep 1; done'"
    run(stubborn)
    pid = pane_pid()
    assert pid is not None
    run(stubborn, "test_present=false", "test_stop_timeout=2")
    assert pane_pid() is None
    assert gone(pid)
