"""The shape of all of llmhost/: modules small enough to read (420 lines at most), and imports that
flow one way between its rooms, each room importing only rooms of a lower rank (the planner's own
modules are ranked in tests/unit/test_plan_package.py). The host-side tools are single files copied
to the hosts and run with the hosts' Python: the standard library only at their top, nothing of
llmhost, and no line cap (one file is what a host receives)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from tests.helpers import REPO

PACKAGE = REPO / "llmhost"
MODULES = sorted(PACKAGE.rglob("*.py"))
CAP = 420
# Each room of llmhost (a top-level module or subpackage) imports only rooms of a lower rank.
RANK = {
    "__init__": 0,  # the version
    "resources": 0,  # where templates and group_data/all.py are
    "manifest": 0,
    "benchmarks": 0,
    "tinymodel": 0,
    "gpus": 0,
    "distros": 0,
    "pins": 0,  # the sha256 of what llmhost downloads and runs as root
    "hostside": 0,
    "contract": 1,  # group_data/all.py, read
    "inventory": 1,  # an inventory as pyinfra reads it, before any connection
    "runner": 2,  # pyinfra run over llmhost's deploys
    "modelinfo": 1,
    "modelconfig": 2,  # a config.json (and a model directory) read into modelinfo's numbers
    "archlists": 1,  # what each pinned engine release serves, derived from the release itself
    "engines": 2,
    "catalog": 2,
    "settings": 3,  # the data, validated
    "wheelhouse": 3,
    "served": 3,  # what each pinned engine release serves (its own code's lists, llmhost/archs/)
    "plan": 4,  # the decisions: no I/O (test_plan_package.py)
    "facts": 5,  # what a host is
    "hardware": 5,
    "hubmeta": 5,  # what a hub says of a model, read on the controller
    "dashboards": 0,  # the Grafana dashboards, as JSON
    "render": 5,
    "report": 5,
    "operations": 6,  # what changes a host
    "deploys": 7,  # the layers
    "commands": 8,  # the commands over an inventory
    "cli": 9,
}


def _room(module: str) -> str:
    """llmhost.plan.host -> plan; llmhost -> __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[str]:
    """The llmhost modules ``path`` imports (``from llmhost import x``: x when it is a module)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "llmhost":
            if node.module == "llmhost":
                for alias in node.names:
                    is_module = (PACKAGE / f"{alias.name}.py").exists() or (PACKAGE / alias.name).is_dir()
                    names.append(f"llmhost.{alias.name}" if is_module else "llmhost")
            else:
                names.append(node.module)
        elif isinstance(node, ast.Import):
            names += [a.name for a in node.names if a.name.split(".")[0] == "llmhost"]
    return names


def _me(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    return _room(".".join(p for p in rel.parts if p != "__init__"))


def test_every_room_has_a_rank():
    rooms = {_me(p) for p in MODULES}
    assert len(rooms) > 15 and sorted(rooms) == sorted(RANK)


def test_every_module_stays_readable():
    long = {
        str(p.relative_to(REPO)): n
        for p in MODULES
        if (n := len(p.read_text().splitlines())) > CAP and _me(p) != "hostside"
    }
    assert len(MODULES) > 60 and long == {}, f"cut these where a job ends: {long}"


def test_imports_flow_one_way():
    wrong = []
    for path in MODULES:
        me = _me(path)
        for module in _imports(path):
            other = _room(module)
            if other != me and RANK[other] >= RANK[me]:
                wrong.append(f"{path.relative_to(REPO)} ({me}, rank {RANK[me]}) imports {module} (rank {RANK[other]})")
    assert wrong == []


def test_the_host_side_tools_import_the_standard_library_alone_at_their_top():
    """What they import inside a command (huggingface_hub, bcrypt, torch) comes from the venv that
    command runs with; at their top, only what every host's Python has."""
    tools = sorted((PACKAGE / "hostside").glob("llmhost_*.py"))
    found = {}
    for tool in tools:
        for node in ast.parse(tool.read_text()).body:
            if isinstance(node, ast.Import):
                found.update({a.name.split(".")[0]: tool.name for a in node.names})
            elif isinstance(node, ast.ImportFrom) and node.module:
                found[node.module.split(".")[0]] = tool.name
    assert len(tools) == 3 and {m: t for m, t in found.items() if m not in sys.stdlib_module_names} == {}
