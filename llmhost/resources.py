"""Where the repository's shared files live: templates/, group_data/all.py and deploys/.

In a source checkout (`pip install -e .`) they are beside the package. A wheel carries copies
under ``llmhost/_shared/`` (pyproject's force-include), pyinfra's "packaging deploys" way: the
`llmhost` command installed with pipx or pip runs the deploys it carries, from any folder.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _first_existing(*candidates: Path) -> Path:
    for candidate in candidates:
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"none of {', '.join(str(c) for c in candidates)} exists")


def templates_dir() -> Path:
    return _first_existing(_PACKAGE.parent / "templates", _PACKAGE / "_shared" / "templates")


def template(name: str) -> str:
    return str(templates_dir() / name)


def defaults_file() -> Path:
    return _first_existing(_PACKAGE.parent / "group_data" / "all.py", _PACKAGE / "_shared" / "group_data" / "all.py")


def deploy_file(name: str) -> Path:
    """One of llmhost's deploy files (``serve.py``), as pyinfra runs it."""
    return _first_existing(_PACKAGE.parent / "deploys" / name, _PACKAGE / "_shared" / "deploys" / name)


def hostside_tool() -> str:
    return str(_PACKAGE / "hostside" / "llmhost_hosttool.py")


def hostside_vllm_auth() -> str:
    return str(_PACKAGE / "hostside" / "llmhost_vllm_auth.py")


def hostside_bench() -> str:
    return str(_PACKAGE / "hostside" / "llmhost_bench.py")
