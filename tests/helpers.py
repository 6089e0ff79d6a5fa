"""Shared test helpers: run the real pyinfra CLI and read its JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# (label, seconds) measured by tests; printed at the end of the run (tests/conftest.py).
TIMINGS: list[tuple[str, float]] = []


def record_timing(label: str, seconds: float) -> None:
    TIMINGS.append((label, seconds))


def require(condition: bool, reason: str) -> None:
    """Skip with a reason; under LLMHOST_REQUIRE_FLEET=1 (CI) a missing prerequisite fails."""
    if condition:
        return
    import pytest

    if os.environ.get("LLMHOST_REQUIRE_FLEET") == "1":
        pytest.fail(f"required by LLMHOST_REQUIRE_FLEET=1: {reason}")
    pytest.skip(reason)


PYINFRA = str(Path(sys.executable).parent / "pyinfra")

# Where the engines' torch comes from on the machine running the tests, as the Makefile decides
# (`make serve` does the same): LLMHOST_TORCH_WHEELS (else pip's PIP_FIND_LINKS), a directory of
# wheels taken with no PyTorch index; LLMHOST_TORCH_INDEX_URL, another index; neither: PyTorch's own.
TORCH_WHEELS = os.environ.get("LLMHOST_TORCH_WHEELS") or (os.environ.get("PIP_FIND_LINKS") or "").split(" ")[0]
TORCH_INDEX_URL = os.environ.get("LLMHOST_TORCH_INDEX_URL") or None
# And the interpreter the venvs are made with: the system's. On the project's machines `python3` on
# the PATH is pyenv's under /root (mode 700), which the service user cannot enter, so the plan would
# run the engines as root there; a user's Debian or Ubuntu has /usr/bin/python3, and the engines run
# as the service user under tmux too, as they do here with it.
SYSTEM_PYTHON = "/usr/bin/python3"
LOCAL_DATA = {
    **({"llmhost_pip_find_links": [TORCH_WHEELS], "llmhost_torch_index_url": None} if TORCH_WHEELS else {}),
    **({"llmhost_torch_index_url": TORCH_INDEX_URL} if TORCH_INDEX_URL else {}),
    **({"llmhost_python": SYSTEM_PYTHON} if os.path.exists(SYSTEM_PYTHON) else {}),
}
# the same as pyinfra's --data flags, after an inventory that does not set them (inventories/local.py)
LOCAL_FLAGS = tuple(a for k, v in LOCAL_DATA.items() for a in ("--data", f"{k}={json.dumps(v)}"))


@dataclass
class Run:
    rc: int
    seconds: float
    stdout: str
    stderr: str
    results: dict | None

    @property
    def changed(self) -> list[str]:
        """Names of operations that changed something (pyinfra's "Success" column)."""
        if not self.results:
            return []
        return [op["name"] for op in self.results["operations"] if op["success"]]

    @property
    def failed(self) -> list[str]:
        if not self.results:
            return []
        return [op["name"] for op in self.results["operations"] if op["error"]]


def pyinfra(*args: str, cwd: Path = REPO, timeout: int = 3600, env: dict | None = None, stream: bool = False) -> Run:
    """Run `pyinfra -y --json ARGS` from the repository root, as users do (``stream``: each line
    of its log, stderr, stamped with the seconds since the start as it arrives)."""
    started = time.monotonic()
    argv, environ = [PYINFRA, "-y", "--json", *args], {**os.environ, **(env or {})}
    if stream:
        with subprocess.Popen(
            argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environ
        ) as p:
            out = []
            reader = threading.Thread(target=lambda: out.append(p.stdout.read()))
            reader.start()
            err = [f"{time.monotonic() - started:.1f} {line}" for line in p.stderr]
            reader.join(timeout)
            proc = subprocess.CompletedProcess(argv, p.wait(timeout), "".join(out), "".join(err))
    else:
        proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=environ, check=False)
    seconds = time.monotonic() - started
    payload = None
    if proc.stdout.strip().startswith("{"):
        payload = json.loads(proc.stdout)
    return Run(proc.returncode, seconds, proc.stdout, proc.stderr, (payload or {}).get("results"))


def serve_ok(inv: str, label: str, *extra: str) -> Run:
    """`pyinfra -y INVENTORY deploys/serve.py [EXTRA]` that must succeed with no failed operation,
    its time recorded as "<label> (N operations changed)"."""
    run = pyinfra(inv, "deploys/serve.py", *extra)
    record_timing(f"{label} ({len(run.changed)} operations changed)", run.seconds)
    assert run.rc == 0, run.stderr[-6000:]
    assert not run.failed
    return run


class FakeHost:
    """Stands in for pyinfra's ``host`` inside an operation run at the command level: every fact
    answers ``fact`` (or, with ``by_class``, the fact class's name looked up in it); noops and the
    last fact's arguments are recorded."""

    def __init__(self, fact=None, by_class: dict | None = None):
        self.fact, self.by_class, self.noops, self.kwargs = fact, by_class, [], {}

    def get_fact(self, cls, **kwargs):
        self.kwargs = kwargs
        return self.by_class[cls.__name__] if self.by_class is not None else self.fact

    def noop(self, message):
        self.noops.append(message)

    def get_temp_filename(self, hash_key=None, hash_filename=True, *, temp_directory=None):
        return f"/tmp/pyinfra-{hash_key}"


def build_docs(out: Path) -> None:
    """The docs site built into ``out`` as `make docs` builds it (`mkdocs build --strict`: a
    broken link, a missing page or include fails, with mkdocs's own words)."""
    result = subprocess.run(
        [str(Path(sys.executable).with_name("mkdocs")), "build", "--strict", "-d", str(out)],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},  # Material's banner about MkDocs 2
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


PROMETHEUS_DEB = REPO / "build" / "prometheus-deb"


def prometheus_tool(name: str, package: str = "prometheus") -> Path:
    """A program of the distribution's ``package`` (``promtool``, ``prometheus``; ``amtool`` of
    prometheus-alertmanager): what llmhost_monitoring installs on a Debian 12 host, unpacked under
    build/ from `apt-get download` (nothing installed here, no service started)."""
    path = PROMETHEUS_DEB / "usr" / "bin" / name
    if not path.exists():
        import shutil

        require(shutil.which("apt-get") is not None, "apt-get is not on this machine (a Debian package is unpacked)")
        debs = PROMETHEUS_DEB / "debs"
        debs.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", package], cwd=debs, check=True, capture_output=True, timeout=600)
        (deb,) = debs.glob(f"{package}_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(PROMETHEUS_DEB)], check=True, timeout=300)
    return path
