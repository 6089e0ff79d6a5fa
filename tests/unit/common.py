"""What several unit test modules share and is not a fixture (fixtures are in conftest.py): the
development machine's facts, a template rendered as pyinfra renders it, the seed hosts' plans."""

from __future__ import annotations

import runpy
import sqlite3
import subprocess
from pathlib import Path

import bcrypt
from jinja2 import Environment, StrictUndefined

from llmhost.hardware import load_hardware
from llmhost.plan import Gpu, HostFacts, plan_host
from llmhost.resources import template
from llmhost.settings import load
from tests.helpers import REPO

# This project's dev machine, as its facts read (tests/fixtures/facts/*.debian12-devbox.json).
DEVBOX = HostFacts(
    os_id="debian",
    os_version="12",
    wsl=False,
    systemd=False,
    arch="x86_64",
    cores=2,
    cpu_online="0-1",
    cpu_flags=frozenset({"avx", "avx2", "fma", "sse4_2"}),
    memory_bytes=25276514304,
    numa_nodes=1,
)

# The seed hosts' hardware files (what `llmhost plan --hardware` reads).
HARDWARE = REPO / "tests" / "fixtures" / "hardware"

# The rtx4060 seed's GPU, as nvidia-smi names it.
RTX4060 = Gpu("NVIDIA GeForce RTX 4060 Laptop GPU", 8188, "8.9")


def render(name: str, variables: dict) -> str:
    """A template rendered with the settings pyinfra's files.template uses (pyinfra.api.util.get_template)."""
    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True)
    return env.from_string(Path(template(name)).read_text()).render(**variables)


def seed_plan(seed: str, **more):
    """The plan of a seed host: its hardware file and its group data (group_data/<seed>.py), with ``more`` keys."""
    data = {
        k: v for k, v in runpy.run_path(str(REPO / "group_data" / f"{seed}.py")).items() if k.startswith("llmhost_")
    }
    return plan_host(load_hardware(HARDWARE / f"{seed}.yaml"), load({**data, **more}))


class ThisMachine:
    """Stands in for pyinfra's ``host`` inside an operation, with this machine as the host: every
    fact's command runs here for real (``sh -c``, as pyinfra runs it) and its own ``process`` reads
    the output; what the operation yields is run by ``run``. Noops are recorded."""

    def __init__(self):
        self.noops: list[str] = []

    def get_fact(self, cls, **kwargs):
        fact = cls()
        command = fact.command(**kwargs)
        command = str(command.get_raw_value()) if hasattr(command, "get_raw_value") else command
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=False)
        lines = out.stdout.splitlines()
        # as pyinfra reads a fact (pyinfra.api.facts): its default unless the command succeeded with output
        return fact.process(lines) if out.returncode == 0 and lines else fact.default()

    def noop(self, message: str) -> None:
        self.noops.append(message)

    @staticmethod
    def run(commands) -> list[str]:
        """Each yielded command's shell text, run here in order (a failure raises)."""
        texts = [str(c.get_raw_value()) for c in commands]
        for text in texts:
            subprocess.run(["sh", "-c", text], check=True, capture_output=True, timeout=120)
        return texts


def open_webui_db(path, email: str, password: str) -> None:
    """The two tables of Open WebUI's database the admin check reads (auth, "user"), with its columns
    of theirs that llmhost uses; the fleet's web UI test runs the real Open WebUI."""
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE auth (id TEXT PRIMARY KEY, email TEXT, password TEXT, active INTEGER)")
        db.execute('CREATE TABLE "user" (id TEXT PRIMARY KEY, email TEXT, role TEXT, created_at INTEGER)')
        digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        db.execute("INSERT INTO auth VALUES ('1', ?, ?, 1)", (email, digest))
        db.execute("""INSERT INTO "user" VALUES ('1', ?, 'admin', 1)""", (email,))
