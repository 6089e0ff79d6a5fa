"""End-to-end fixtures: real pyinfra runs against this machine (@local)."""

from __future__ import annotations

import os
import shutil

import pytest

from tests.helpers import require


@pytest.fixture(scope="session")
def local_host_ready():
    """This machine can be deployed to: root (apt, /opt/llmhost)."""
    require(os.geteuid() == 0, "deploying to @local needs root (apt packages, /opt/llmhost)")
    require(shutil.which("apt-get") is not None, "deploying to @local needs apt (Debian/Ubuntu)")
