"""llmhost_cuda_default: the plan, the switch operation at the command level (facts in, commands or a
no-op out), and the profile.d script run by a real shell. The switch itself runs for real on a
fleet host (tests/fleet/test_cuda.py)."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess

import pytest

from llmhost.operations import cuda as cuda_ops
from llmhost.plan import PlanError, plan_host
from llmhost.render import cuda_profile_vars
from llmhost.settings import DataError, load
from tests.helpers import FakeHost
from tests.unit.common import DEVBOX, render

# the rtx4060 seed: 12.9 and 12.6 side by side, /usr/local/cuda a plain link to 12.9
RTX = dataclasses.replace(DEVBOX, cuda_toolkits=("12.6", "12.9"), cuda_default="12.9", cuda_link="link")
MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def plan(facts=RTX, **data):
    return plan_host(facts, load({"llmhost_services": [{"name": "m", "model": MODEL}], **data}))


def test_the_plan_switches_to_an_installed_toolkit():
    c = plan(llmhost_cuda_default="12.6").cuda
    assert (c.version, c.alternatives, c.toolkit) == ("12.6", False, "/usr/local/cuda-12.6")
    assert any(
        r.startswith("cuda: /usr/local/cuda -> /usr/local/cuda-12.6 (now 12.9; installed: 12.6, 12.9) by an atomic")
        for r in plan(llmhost_cuda_default="12.6").reasons
    )
    nvidia = dataclasses.replace(RTX, cuda_link="alternatives")
    assert plan(nvidia, llmhost_cuda_default="12.6").cuda.alternatives
    assert plan().cuda is None  # not asked: /usr/local/cuda is left alone


def test_refusals_are_one_line_before_any_change():
    with pytest.raises(
        PlanError,
        match=r"^llmhost_cuda_default: CUDA 12\.4 is not installed on this host \(toolkits "
        r"under /usr/local/cuda-X\.Y: 12\.6, 12\.9\) nor in llmhost_cuda_toolkits$",
    ):
        plan(llmhost_cuda_default="12.4")
    with pytest.raises(PlanError, match=r"is not installed on this host \(toolkits under /usr/local/cuda-X\.Y: none\)"):
        plan(DEVBOX, llmhost_cuda_default="12.6")
    with pytest.raises(PlanError, match=r"^llmhost_cuda_default: /usr/local/cuda is a directory"):
        plan(dataclasses.replace(RTX, cuda_link="directory"), llmhost_cuda_default="12.6")
    with pytest.raises(DataError, match=r"^llmhost_cuda_default: expected a CUDA toolkit version like 12\.6"):
        load({"llmhost_cuda_default": "cuda-12"})
    assert load({"llmhost_cuda_default": 12.6}).cuda_default == "12.6"  # a YAML/--data number works too


def _commands(monkeypatch, fact, **kwargs):
    fake = FakeHost(fact)
    monkeypatch.setattr(cuda_ops, "host", fake)
    return [shlex.split(str(c.get_raw_value())) for c in cuda_ops.default._inner(**kwargs)], fake


FACT = {"toolkits": ["12.6", "12.9"], "default": "12.9", "link": "link"}


def test_a_plain_link_is_swapped_atomically(monkeypatch):
    commands, _ = _commands(monkeypatch, FACT, version="12.6")
    assert commands == [
        ["ln", "-sfn", "/usr/local/cuda-12.6", "/usr/local/cuda.llmhost-new"],
        ["mv", "-Tf", "/usr/local/cuda.llmhost-new", "/usr/local/cuda"],
    ]


def test_update_alternatives_manages_the_link_where_nvidia_packages_made_it(monkeypatch):
    commands, _ = _commands(monkeypatch, {**FACT, "link": "alternatives"}, version="12.6", alternatives=True)
    assert commands == [
        ["update-alternatives", "--install", "/usr/local/cuda", "cuda", "/usr/local/cuda-12.6", "126"],
        ["update-alternatives", "--set", "cuda", "/usr/local/cuda-12.6"],
    ]


def test_already_there_is_a_noop(monkeypatch):
    commands, fake = _commands(monkeypatch, FACT, version="12.9")
    assert commands == [] and fake.noops == ["/usr/local/cuda -> /usr/local/cuda-12.9"]


def test_profile_puts_the_default_toolkit_on_login_shells_once():
    text = render("cuda.sh.j2", cuda_profile_vars(plan(llmhost_cuda_default="12.6").cuda))
    assert text == render("cuda.sh.j2", cuda_profile_vars(plan(llmhost_cuda_default="12.6").cuda))
    script = text + "\n" + text + '\necho "$CUDA_HOME|$PATH|$LD_LIBRARY_PATH"\n'  # sourced twice: no duplicates
    out = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}
    ).stdout.strip()
    assert out == "/usr/local/cuda|/usr/local/cuda/bin:/usr/bin:/bin|/usr/local/cuda/lib64"


def test_the_tuna_preset_takes_nvidias_cuda_repository_from_aliyuns_copy_unless_one_is_given():
    """TUNA mirrors no CUDA repository ("we only mirror open source"): the preset's is Aliyun's copy of
    NVIDIA's, same layout, same signing key; a llmhost_cuda_repo_url of the data wins."""
    ubuntu = dataclasses.replace(RTX, os_id="ubuntu", os_version="24.04")
    repo = plan(ubuntu, llmhost_mirror="tuna", llmhost_cuda_toolkits=["12.8"]).cuda_repo
    assert repo.url == "https://mirrors.aliyun.com/nvidia-cuda/ubuntu2404/x86_64/"
    assert repo.keyring_url.startswith("https://mirrors.aliyun.com/nvidia-cuda/ubuntu2404/x86_64/cuda-keyring_")
    given = plan(
        ubuntu,
        llmhost_mirror="tuna",
        llmhost_cuda_toolkits=["12.8"],
        llmhost_cuda_repo_url="https://cuda.example.com/repos",
    ).cuda_repo
    assert given.url == "https://cuda.example.com/repos/ubuntu2404/x86_64/"
    default = plan(ubuntu, llmhost_cuda_toolkits=["12.8"]).cuda_repo
    assert default.url == "https://developer.download.nvidia.com/compute/cuda/repos/ubuntu2404/x86_64/"


def test_the_keyring_is_checked_against_the_pin_or_the_datas_sha256_and_a_repository_without_one_is_refused():
    """dpkg installs the keyring's signing key as root: llmhost's pin for the host's repository holds
    for a mirror's copy too; a repository llmhost pins none for (debian13: its copies disagree)
    needs llmhost_cuda_keyring_sha256, named with where to read it."""
    ubuntu = dataclasses.replace(RTX, os_id="ubuntu", os_version="24.04")
    mirrored = plan(ubuntu, llmhost_mirror="tuna", llmhost_cuda_toolkits=["12.8"]).cuda_repo
    assert mirrored.keyring_sha256 == "d2a6b11c096396d868758b86dab1823b25e14d70333f1dfa74da5ddaf6a06dba"
    trixie = dataclasses.replace(RTX, os_id="debian", os_version="13")
    with pytest.raises(PlanError) as e:
        plan(trixie, llmhost_cuda_toolkits=["12.8"])
    assert str(e.value) == (
        "llmhost_cuda_keyring_sha256: llmhost pins no sha256 for debian13/x86_64's cuda-keyring_1.1-1_all.deb "
        "(dpkg installs its signing key as root): give the one its repository lists (the SHA256: line under "
        "Package: cuda-keyring in https://developer.download.nvidia.com/compute/cuda/repos/debian13/x86_64/Packages)"
    )
    given = plan(trixie, llmhost_cuda_toolkits=["12.8"], llmhost_cuda_keyring_sha256="AB" * 32).cuda_repo
    assert given.keyring_sha256 == "ab" * 32
    assert any(
        "sha256 abababababab... llmhost_cuda_keyring_sha256" in r
        for r in plan(trixie, llmhost_cuda_toolkits=["12.8"], llmhost_cuda_keyring_sha256="AB" * 32).reasons
    )
