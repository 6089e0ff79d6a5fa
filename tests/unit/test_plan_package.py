"""The planner package's shape (llmhost/plan/): modules small enough to read, imports that flow one
way, a face that hands on only what the layers and the CLI use, and one place that routes services."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import llmhost.plan
from tests.helpers import REPO

PLAN = REPO / "llmhost" / "plan"
MODULES = sorted(PLAN.rglob("*.py"))
# Each module imports only modules of a lower rank (and never the layers, facts or the CLI).
RANK = {
    "inputs": 0,
    "types": 1,
    "releases": 1,
    "route": 2,
    "mirrors": 2,
    "envs": 2,
    "gpu_stack": 2,
    "preconditions": 2,
    "hostplan": 2,
    "cluster": 2,
    "packing": 3,
    "models": 3,
    "gateway": 3,
    "teardown": 3,
    "packages": 2,
    "applicable": 3,
    "sizing": 4,
    "sizing.cpu": 4,
    "sizing.vllm_gpu": 4,
    "sizing.llamacpp": 4,
    "webui": 4,
    "monitoring": 4,
    "sizing.ollama": 5,
    "services": 6,
    "host": 7,
    "bench": 8,
    "": 9,  # the package's __init__
}
OUTSIDE = (
    "llmhost.deploys",
    "llmhost.facts",
    "llmhost.operations",
    "llmhost.cli",
    "llmhost.report",
    "llmhost.render",
    "llmhost.hardware",
    "llmhost.hostside",
    "pyinfra.operations",
    "pyinfra.facts",
)


def _name(path: Path) -> str:
    rel = path.relative_to(PLAN).with_suffix("")
    return ".".join(p for p in rel.parts if p != "__init__")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == "llmhost.plan":  # from llmhost.plan import envs, ...: submodules by name
                names += [f"llmhost.plan.{a.name}" for a in node.names if (PLAN / f"{a.name}.py").exists()]
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names]
    return names


def test_every_module_has_a_rank_and_stays_readable():
    assert sorted(_name(p) for p in MODULES) == sorted(RANK)
    for path in MODULES:
        lines = len(path.read_text().splitlines())
        assert lines <= 420, f"{path.relative_to(REPO)}: {lines} lines; cut it where a decision ends"


def test_imports_flow_one_way():
    wrong = []
    for path in MODULES:
        me = _name(path)
        for module in _imports(path):
            if module.startswith(OUTSIDE):
                wrong.append(f"{me or '__init__'} imports {module}: the planner does no I/O")
            elif module.startswith("llmhost.plan.") and module != "llmhost.plan":
                other = module.removeprefix("llmhost.plan.")
                if not (RANK[other] < RANK[me] or (other == "sizing" and me.startswith("sizing."))):
                    wrong.append(f"llmhost/plan/{me or '__init__'} imports {other}, which is not below it")
    assert len(MODULES) > 20 and wrong == []


def test_the_face_hands_on_what_layers_and_the_cli_use_and_they_use_nothing_else():
    used: set[str] = set()
    for path in [*(REPO / "llmhost").rglob("*.py"), *(REPO / "deploys").glob("*.py")]:
        if PLAN in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("llmhost.plan"):
                assert node.module == "llmhost.plan", f"{path.relative_to(REPO)} reaches into {node.module}"
                used |= {a.name for a in node.names}
    assert used == set(llmhost.plan.__all__)


def test_one_place_reads_a_services_engine_wish():
    """What a service runs on is decided once (route.py); the rest read the route."""
    readers = [_name(p) for p in MODULES if re.search(r"\bw(ish)?\.engine\b", p.read_text())]
    assert readers == ["route"]


def test_the_design_pages_table_names_every_module_of_the_package():
    text = (REPO / "docs" / "project" / "design.md").read_text()
    rows = re.findall(r"^\| .+ \| `([\w/]+\.py)` \|$", text, re.MULTILINE)
    assert sorted(rows) == sorted(str(p.relative_to(PLAN)) for p in MODULES if p.name != "__init__.py")
