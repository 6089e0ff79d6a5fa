"""What several unit test modules share and is not a fixture (fixtures are in conftest.py): the
development machine's facts, a template rendered as pyinfra renders it, the seed hosts' plans."""

from __future__ import annotations

import runpy
from pathlib import Path

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


def seed_plan(seed: str):
    """The plan of a seed host: its hardware file and its group data (group_data/<seed>.py)."""
    data = {
        k: v for k, v in runpy.run_path(str(REPO / "group_data" / f"{seed}.py")).items() if k.startswith("llmhost_")
    }
    return plan_host(load_hardware(HARDWARE / f"{seed}.yaml"), load(data))
