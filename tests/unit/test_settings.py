"""The data contract: defaults come from group_data/all.py, bad values give one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmhost.settings import DataError, defaults, load
from tests.helpers import REPO


@pytest.fixture
def model_dir(tmp_path) -> Path:
    from llmhost.tinymodel import write_tiny_model

    return write_tiny_model(tmp_path / "tiny")


def _svc(model_dir, **extra):
    return {"name": "tiny", "model": str(model_dir), **extra}


def test_defaults_are_read_from_group_data_all():
    d = defaults()
    assert d["llmhost_root"] == "/opt/llmhost"
    assert d["llmhost_supervisor"] == "auto"
    assert d["llmhost_services"] == []
    assert set(d) >= {"llmhost_pip_index_url", "llmhost_pip_extra_index_urls", "llmhost_pip_find_links"}


def test_every_key_is_documented_with_a_comment_and_an_example():
    text = (REPO / "group_data" / "all.py").read_text()
    blocks = {key: text.split(f"\n{key} = ")[0].rsplit("\n\n", 1)[-1] for key in defaults()}
    assert len(blocks) > 30
    assert [k for k, block in blocks.items() if not block.strip().startswith("#")] == [], "no comment above"
    assert [k for k, block in blocks.items() if "Example" not in block] == [], "no example"


def test_a_valid_service_gets_its_defaults(model_dir):
    s = load({"llmhost_services": [_svc(model_dir)]})
    (svc,) = s.services
    assert (svc.engine, svc.host, svc.port, svc.served_model_name) == ("auto", "127.0.0.1", 8000, "tiny")
    assert svc.model.kind == "controller" and svc.model.info.head_dim == 64
    assert s.root == "/opt/llmhost" and s.supervisor == "auto"


@pytest.mark.parametrize(
    "model, kind, ref, revision",
    [
        ("Qwen/Qwen2.5-1.5B-Instruct", "hf", "Qwen/Qwen2.5-1.5B-Instruct", None),
        ("hf:Qwen/Qwen2-7B-Instruct@main", "hf", "Qwen/Qwen2-7B-Instruct", "main"),
    ],
)
def test_hub_ids(model, kind, ref, revision):
    (svc,) = load({"llmhost_services": [{"name": "q", "model": model}]}).services
    assert (svc.model.kind, svc.model.ref, svc.model.revision) == (kind, ref, revision)
    assert svc.model.slug == ref.replace("/", "--")


@pytest.mark.parametrize(
    "key, meant",
    [
        ("lmhost_mirror", "llmhost_mirror"),  # its first letter missing
        ("llmhost_mirrors", "llmhost_mirror"),
        ("llmhots_root", "llmhost_root"),
        ("llmhost_root_dir", "llmhost_root"),
        ("LLMHOST_ROOT", "llmhost_root"),
        ("llmhost-root", "llmhost_root"),
        ("llmhost_health_timout", "llmhost_health_timeout"),
    ],
)
def test_a_key_meant_for_llmhost_is_refused_with_the_key_it_meant(key, meant):
    with pytest.raises(DataError) as e:
        load({key: "x"})
    assert str(e.value) == f"{key}: unknown key; did you mean {meant}? (documented keys are in group_data/all.py)"


def test_keys_not_meant_for_llmhost_are_left_alone():
    data = {
        "ssh_user": "root",
        "_sudo": True,
        "ssh_port": 22,
        "docker_identifier": "x",
        "my_setting": 1,
        "mirror": "tuna",
        "root": "/x",
    }
    assert load(data).services == ()


def test_an_unknown_key_far_from_every_documented_one_is_refused_without_a_guess():
    with pytest.raises(DataError) as e:
        load({"llmhost_bogus": 1})
    assert str(e.value) == "llmhost_bogus: unknown key (documented keys are in group_data/all.py)"


@pytest.mark.parametrize(
    "data, key, problem",
    [
        ({"llmhost_bogus": 1}, "llmhost_bogus", "unknown key"),
        ({"llmhost_root": "opt/llmhost"}, "llmhost_root", "absolute path"),
        ({"llmhost_supervisor": "runit"}, "llmhost_supervisor", "auto | systemd | tmux"),
        ({"llmhost_health_timeout": "600"}, "llmhost_health_timeout", "expected an integer"),
        ({"llmhost_pip_find_links": "/opt/wheels"}, "llmhost_pip_find_links", "expected a list"),
        ({"llmhost_pip_index_url": "pypi.org"}, "llmhost_pip_index_url", "URL"),
        ({"llmhost_services": {"name": "x"}}, "llmhost_services", "expected a list"),
        ({"llmhost_services": [{"model": "a/b"}]}, "llmhost_services[0].name", "is required"),
        (
            {"llmhost_services": [{"name": "x", "model": "a/b", "prot": 1}]},
            "llmhost_services[0].prot",
            "unknown service key; did you mean port?",
        ),
        (
            {"llmhost_services": [{"name": "x", "model": "a/b", "port": "8000"}]},
            "llmhost_services[0].port",
            "expected an integer",
        ),
        ({"llmhost_services": [{"name": "x", "model": "a/b", "port": 70000}]}, "llmhost_services[0].port", "1..65535"),
        ({"llmhost_services": [{"name": "X Y", "model": "a/b"}]}, "llmhost_services[0].name", "[a-z0-9-]"),
        (
            {"llmhost_services": [{"name": "x", "model": "a/b", "engine": "tgi"}]},
            "llmhost_services[0].engine",
            "auto | vllm",
        ),
        (
            {"llmhost_services": [{"name": "x", "model": "a/b", "host": "localhost"}]},
            "llmhost_services[0].host",
            "IP address",
        ),
        (
            {"llmhost_services": [{"name": "x", "model": "./no/such/dir"}]},
            "llmhost_services[0].model",
            "does not exist",
        ),
        (
            {"llmhost_services": [{"name": "x", "model": "a/b"}, {"name": "x", "model": "a/c", "port": 8001}]},
            "llmhost_services[1].name",
            "already used",
        ),
        (
            {"llmhost_services": [{"name": "x", "model": "a/b"}, {"name": "y", "model": "a/c"}]},
            "llmhost_services[1].port",
            "already used",
        ),
        ({"llmhost_cuda_toolkits": "12.9"}, "llmhost_cuda_toolkits", "expected a list"),
        ({"llmhost_cuda_toolkits": ["12.9", "cuda-12"]}, "llmhost_cuda_toolkits[1]", "like 12.6"),
        ({"llmhost_cuda_repo_url": "developer.download.nvidia.com"}, "llmhost_cuda_repo_url", "URL"),
        ({"llmhost_allow_reboot": "yes"}, "llmhost_allow_reboot", "true or false"),
    ],
)
def test_bad_input_is_one_line_naming_the_key(data, key, problem):
    with pytest.raises(DataError) as err:
        load(data)
    message = str(err.value)
    assert message.startswith(f"{key}: "), message
    assert problem in message
    assert "\n" not in message


def test_model_directory_without_config_is_refused(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(DataError, match=re.escape("llmhost_services[0].model: model directory")):
        load({"llmhost_services": [{"name": "x", "model": str(tmp_path / "m")}]})
