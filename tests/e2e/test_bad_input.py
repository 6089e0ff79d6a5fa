"""Bad input stops `pyinfra ... deploys/serve.py` with one line naming the key, before any change."""

from __future__ import annotations

import pytest

from tests.helpers import REPO, pyinfra


def _assert_refused(run, line: str):
    assert run.rc != 0
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout
    errors = [l for l in run.stderr.splitlines() if l.startswith("--> pyinfra error")]
    assert len(errors) == 1, run.stderr
    assert errors[0].endswith(line) or line in errors[0], errors[0]
    # Nothing was executed: the run never reached the operation phase.
    assert "Beginning operation run" not in run.stderr
    assert run.results is None


@pytest.mark.parametrize(
    "data, line",
    [
        ("llmhost_bogus=1", "llmhost_bogus: unknown key (documented keys are in group_data/all.py)"),
        (
            "lmhost_mirror=tuna",  # its first letter missing: not left unread
            "lmhost_mirror: unknown key; did you mean llmhost_mirror? (documented keys are in group_data/all.py)",
        ),
        ("llmhost_health_timeout=abc", "llmhost_health_timeout: expected an integer 10..86400, got 'abc' (str)"),
        (
            'llmhost_services=[{"name": "t", "model": "./build/no-such-model"}]',
            "llmhost_services[0].model: model directory ./build/no-such-model does not exist on the controller",
        ),
        (
            'llmhost_services=[{"name": "t", "model": "a/b", "port": "80"}]',
            "llmhost_services[0].port: expected an integer 1..65535, got '80' (str)",
        ),
        (
            'llmhost_services=[{"name": "t", "model": "Qwen/Qwen2.5-1.5B-Instruct", "engine": "llamacpp"}]',
            (
                "llmhost_services[0].model: llama.cpp serves a GGUF, not the repository of Qwen/Qwen2.5-1.5B-Instruct; name "
                'the GGUF file as the model ("hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf", the one '
                "planned) or give a directory holding one .gguf"
            ),
        ),
        (
            'llmhost_services=[{"name": "t", "model": "Qwen/Qwen2.5-1.5B-Instruct", "engine": "ollama"}]',
            (
                "llmhost_services[0].model: Ollama serves a GGUF, not the repository of Qwen/Qwen2.5-1.5B-Instruct; name "
                'the GGUF file as the model ("hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf", the one '
                "planned) or give a directory holding one .gguf"
            ),
        ),
        (
            'llmhost_services=[{"name": "t", "model": "a/b", "engine": "ollama", "api_key": "k"}]',
            "llmhost_services[0].api_key: Ollama has no API key; leave it out (bind 127.0.0.1, or put a proxy in front)",
        ),
    ],
)
def test_bad_data_is_one_line(tiny_model, data, line):
    _assert_refused(pyinfra("inventories/local.py", "deploys/serve.py", "--data", data), line)


def test_missing_model_directory_in_an_inventory(tmp_path):
    inventory = tmp_path / "inv.py"
    inventory.write_text('hosts = [("@local", {"llmhost_services": [{"name": "t", "model": "./models/absent"}]})]\n')
    run = pyinfra(str(inventory), "deploys/serve.py", cwd=REPO)
    _assert_refused(run, "llmhost_services[0].model: model directory ./models/absent does not exist")


def test_no_way_to_the_torch_index_stops_a_fresh_install_before_any_change(tiny_model, tmp_path):
    """A new venv whose torch index does not answer from the host: one line naming the key and what
    to set instead, before anything runs (the venv lives under a root of its own: none exists yet)."""
    run = pyinfra(
        "inventories/local.py",
        "deploys/serve.py",
        "--data",
        f"llmhost_root={tmp_path}/root",
        "--data",
        "llmhost_torch_index_url=http://127.0.0.1:9/simple/",
    )
    _assert_refused(run, "llmhost_torch_index_url: http://127.0.0.1:9/simple is not reachable from this host (")
    assert "set llmhost_torch_index_url to an index of the same torch builds that is reachable" in run.stderr
    assert not (tmp_path / "root").exists()
