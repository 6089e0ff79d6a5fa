"""deploys/cuda.py on a systemd fleet host, for real: /usr/local/cuda switched among two toolkit
directories, as a plain link (the seed's hand-made layout) and as update-alternatives' `cuda`
group (NVIDIA's packages' layout, registered with the host's own update-alternatives).

No CUDA can be installed here (no NVIDIA repository, no GPU): the two toolkits are directories
with a stand-in `bin/nvcc` that prints its version, which is all the switch and a login shell see.
"""

from __future__ import annotations

import pytest

from tests.fleet import harness
from tests.fleet.serving import DATA
from tests.helpers import pyinfra, record_timing

pytestmark = pytest.mark.fleet

TOOLKITS = ("12.9", "12.6")


def nvcc(host) -> str:
    """What a login shell's nvcc says (PATH from /etc/profile.d/cuda.sh)."""
    return host.sh("bash -lc 'nvcc --version'").strip()


def switch(inv: str, version: str | None, label: str):
    extra = ("--data", f"llmhost_cuda_default={version}") if version else ()
    run = pyinfra(inv, "deploys/cuda.py", *extra)
    record_timing(f"fleet cuda: {label} ({len(run.changed)} operations changed)", run.seconds)
    return run


@pytest.fixture(scope="module")
def cuda_host(fleet):
    if harness.real_hosts():
        pytest.skip("the CUDA switch test rewrites /usr/local/cuda: Docker hosts only")
    host = fleet("llmhost-fleet-cuda")
    for v in TOOLKITS:
        host.sh(
            f"mkdir -p /usr/local/cuda-{v}/bin /usr/local/cuda-{v}/lib64 && "
            f"printf '#!/bin/sh\\necho \"Cuda compilation tools, release {v} (stand-in)\"\\n' > /usr/local/cuda-{v}/bin/nvcc && "
            f"chmod 755 /usr/local/cuda-{v}/bin/nvcc"
        )
    inv = str(harness.write_inventory(harness.STATE / "cuda.py", [host], DATA))
    return host, inv


def test_a_plain_link_is_switched_and_login_shells_follow(cuda_host):
    host, inv = cuda_host
    host.sh("ln -sfn /usr/local/cuda-12.9 /usr/local/cuda")  # the seed's layout: 12.9 installed last
    run = switch(inv, "12.6", "plain link 12.9 -> 12.6")
    assert run.rc == 0, run.stderr[-3000:]
    assert sorted(run.changed) == [
        "llmhost cuda layer | /usr/local/cuda -> /usr/local/cuda-12.6",
        "llmhost cuda layer | Login shells' CUDA (/etc/profile.d/cuda.sh)",
    ]
    assert host.sh("readlink /usr/local/cuda").strip() == "/usr/local/cuda-12.6"
    assert nvcc(host) == "Cuda compilation tools, release 12.6 (stand-in)"
    assert host.sh("bash -lc 'echo $CUDA_HOME'").strip() == "/usr/local/cuda"
    again = switch(inv, "12.6", "plain link, again")
    assert again.rc == 0 and again.changed == []


def test_a_toolkit_that_is_not_installed_is_refused_in_one_line(cuda_host):
    host, inv = cuda_host
    before = host.sh("readlink /usr/local/cuda", check=False)  # (run alone: no link yet)
    for version, message in (
        (
            "12.4",
            (
                "llmhost_cuda_default: CUDA 12.4 is not installed on this host (toolkits under "
                "/usr/local/cuda-X.Y: 12.6, 12.9)"
            ),
        ),
        (None, "llmhost_cuda_default: not set; name the toolkit"),
    ):
        run = switch(inv, version, f"refused ({version or 'not set'})")
        out = run.stdout + run.stderr
        assert run.rc != 0 and message in out and "Traceback" not in out, out[-2000:]
    assert host.sh("readlink /usr/local/cuda", check=False) == before


def test_update_alternatives_keeps_managing_the_link(cuda_host):
    host, inv = cuda_host
    host.sh(
        "rm -f /usr/local/cuda && "
        "update-alternatives --install /usr/local/cuda cuda /usr/local/cuda-12.9 129 && "
        "update-alternatives --install /usr/local/cuda cuda /usr/local/cuda-12.6 126"
    )
    assert nvcc(host).endswith("release 12.9 (stand-in)")  # auto mode: the highest priority
    run = switch(inv, "12.6", "update-alternatives 12.9 -> 12.6")
    assert run.rc == 0, run.stderr[-3000:]
    assert run.changed == ["llmhost cuda layer | /usr/local/cuda -> /usr/local/cuda-12.6 (update-alternatives)"]
    query = host.sh("update-alternatives --query cuda")
    assert "Value: /usr/local/cuda-12.6" in query and "Status: manual" in query
    assert host.sh("readlink /usr/local/cuda").strip() == "/etc/alternatives/cuda"  # still apt's link
    assert nvcc(host).endswith("release 12.6 (stand-in)")
    assert switch(inv, "12.6", "update-alternatives, again").changed == []
    back = switch(inv, "12.9", "update-alternatives 12.6 -> 12.9")
    assert back.rc == 0 and len(back.changed) == 2  # the link and the profile's comment (it names the version)
    assert nvcc(host).endswith("release 12.9 (stand-in)")
