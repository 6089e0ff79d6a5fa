"""Suite-wide fixtures and hooks: the demo model, markers, the timings tests measured, and each
test module's wall time (setup, tests and teardown of its module-scoped fixtures), so CI's log says
where the suite's time goes."""

from __future__ import annotations

import subprocess
import time
from collections import defaultdict

import pytest

from tests.helpers import REPO, TIMINGS

TINY = REPO / "build" / "models" / "tiny-qwen2"
TINY_GGUF = REPO / "build" / "models" / "tiny-qwen2-gguf"  # the same model as one GGUF file (llama.cpp)


@pytest.fixture(scope="session")
def tiny_model():
    """The demo model at build/models/tiny-qwen2, as `make serve` makes it (same bytes every time)."""
    llmhost = REPO / ".venv" / "bin" / "llmhost"
    subprocess.run(
        [str(llmhost) if llmhost.exists() else "llmhost", "tiny-model", str(TINY), "--gguf", str(TINY_GGUF)],
        check=True,
        capture_output=True,
    )
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


_MODULE_SECONDS: dict[str, float] = defaultdict(float)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    """Each test's setup, call and teardown (a module's fixtures are set up in its first test and
    torn down in its last), summed per module."""
    started = time.monotonic()
    try:
        return (yield)
    finally:
        _MODULE_SECONDS[item.nodeid.split("::", 1)[0]] += time.monotonic() - started


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.section("llmhost timings")
        for label, seconds in TIMINGS:
            terminalreporter.write_line(f"{seconds:8.1f} s  {label}")
    if _MODULE_SECONDS:
        terminalreporter.section("llmhost module times")
        for module, seconds in sorted(_MODULE_SECONDS.items(), key=lambda kv: -kv[1]):
            terminalreporter.write_line(f"{seconds:8.1f} s  {module}")
        terminalreporter.write_line(f"{sum(_MODULE_SECONDS.values()):8.1f} s  in all")
