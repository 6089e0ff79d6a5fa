"""Suite-wide fixtures and hooks: the demo model, markers, and the timings tests measured."""

from __future__ import annotations

import subprocess

import pytest

from tests.helpers import REPO, TIMINGS

TINY = REPO / "build" / "models" / "tiny-qwen2"
TINY_GGUF = REPO / "build" / "models" / "tiny-qwen2-gguf"  # the same model as one GGUF file (llama.cpp)


@pytest.fixture(scope="session")
def tiny_model():
    """The demo model at build/models/tiny-qwen2, as `make serve` makes it (same bytes every time)."""
    llmhost = REPO / ".venv" / "bin" / "llmhost"
    subprocess.run([str(llmhost) if llmhost.exists() else "llmhost", "tiny-model", str(TINY), "--gguf", str(TINY_GGUF)],
                   check=True, capture_output=True)  # fmt: skip
    return TINY


def pytest_collection_modifyitems(items):
    for item in items:
        path = str(item.fspath)
        if "/e2e/" in path:
            item.add_marker(pytest.mark.e2e)
        elif "/fleet/" in path:
            item.add_marker(pytest.mark.fleet)
        elif "/upstream/" in path:
            item.add_marker(pytest.mark.upstream)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section("llmhost timings")
    for label, seconds in TIMINGS:
        terminalreporter.write_line(f"{seconds:8.1f} s  {label}")
