"""End-to-end fixtures: real pyinfra runs against this machine (@local)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import REPO

TINY = REPO / "build" / "models" / "tiny-qwen2"


def require(condition: bool, reason: str) -> None:
    """Skip with a reason; under LLMHOST_REQUIRE_FLEET=1 (CI) a missing prerequisite fails."""
    if condition:
        return
    if os.environ.get("LLMHOST_REQUIRE_FLEET") == "1":
        pytest.fail(f"required by LLMHOST_REQUIRE_FLEET=1: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def local_host_ready():
    """This machine can be deployed to: root (apt, /opt) and tmux-capable."""
    require(os.geteuid() == 0, "deploying to @local needs root (apt packages, /opt/llmhost)")
    require(shutil.which("apt-get") is not None, "deploying to @local needs apt (Debian/Ubuntu)")


@pytest.fixture(scope="session")
def tiny_model():
    subprocess.run([str(REPO / ".venv" / "bin" / "llmhost") if (REPO / ".venv").exists() else "llmhost",
                    "tiny-model", str(TINY)], check=True, capture_output=True)  # fmt: skip
    return TINY


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
