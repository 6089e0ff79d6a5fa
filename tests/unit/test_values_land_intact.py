"""Every string value of the data lands where it is read intact, or is refused in one line
(issue 37): hypothesis generates values from all of Unicode (controls, quotes, backslashes, `$`,
`%`, spaces included), puts them into the data keys that reach a process, and

- renders the tmux launcher from the real plan, runs it with bash and llmhost-hosttool exec, and
  reads back what the process received (its argv and environment: the web UI's title and admin
  name, a host: model path, the served model name, the API key from the 0600 env file);
- renders pip.conf and reads it with configparser, as pip does (the find-links paths).

The systemd side (the unit and its EnvironmentFile= read by systemd itself) is
tests/fleet/test_values_land_intact.py, on a fleet host."""

from __future__ import annotations

import configparser
import dataclasses
import json
import subprocess
import sys

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from llmhost.plan import plan_host
from llmhost.render import env_file_vars, launcher_vars, pip_conf_vars
from llmhost.resources import hostside_tool
from llmhost.settings import DataError, load
from llmhost.settings.values import TOKEN
from tests.unit.common import DEVBOX, render

# anything a YAML or Python group-data file can hold: every code point but lone surrogates
TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=24)
PROBE = "import json, os, sys; print('PROBE ' + json.dumps([sys.argv[1:], dict(os.environ)]))"
EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def wish(title: str, admin: str, path: str, served: str, key: str) -> dict:
    return {
        "llmhost_services": [
            {
                "name": "t",
                "model": f"host:/srv/{path}",
                "engine": "vllm-cpu",
                "max_model_len": 1024,
                "served_model_name": served,
                "api_key": key,
            }
        ],
        "llmhost_webui": {"title": title, "admin_name": admin},
    }


def planned_or_refused(wish: dict):
    """The plan of ``wish``, or None where the data is refused (in one line naming a key)."""
    try:
        return plan_host(DEVBOX, load(wish))
    except DataError as e:
        assert "\n" not in str(e) and str(e).startswith(f"{e.key}: "), str(e)
        return None


def received(process, tmp_path) -> tuple[list[str], dict]:
    """What ``process`` (a service or the web UI of a plan) gets from its launcher: its argv after
    the program, and its environment, read by the program itself."""
    env_file = tmp_path / f"{process.name}.env"
    env_file.write_text(render("service.env.j2", env_file_vars(process)))
    env_file.chmod(0o600)
    log = tmp_path / f"{process.name}.log"
    log.unlink(missing_ok=True)
    probe = dataclasses.replace(
        process, argv=(sys.executable, "-c", PROBE, *process.argv[1:]), env_file=str(env_file), log=str(log)
    )
    launcher = tmp_path / "launch.sh"
    launcher.write_text(render("launcher.sh.j2", launcher_vars(probe, 4096, sys.executable, hostside_tool(), None)))
    subprocess.run(["bash", str(launcher)], check=True, timeout=30, env={"PATH": "/usr/bin:/bin"})
    line = next(x for x in log.read_text(encoding="utf-8").splitlines() if x.startswith("PROBE "))
    argv, env = json.loads(line.removeprefix("PROBE "))
    return argv, env


VALID = {"title": "Lab", "admin": "Admin", "path": "m", "served": "t", "key": "k3y"}
# a key's values: any text, and text of the bearer-token characters (the charset keys are held to)
FIELDS = {
    "title": TEXT,
    "admin": TEXT,
    "path": TEXT,
    "served": st.one_of(TEXT, st.from_regex(r"[\w.:/-]{1,24}", fullmatch=True)),
    "key": st.one_of(
        TEXT,
        st.text(st.sampled_from("AZaz09-._~+/= '\"$%\\;"), min_size=1, max_size=24),
        st.from_regex(TOKEN, fullmatch=True),
    ),
}


@EXAMPLES
@given(st.data())
def test_what_a_launched_process_receives_is_the_data_or_the_data_is_refused(tmp_path, data):
    field = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
    values = {**VALID, field: data.draw(FIELDS[field], label=field)}
    plan = planned_or_refused(wish(**values))
    event(f"{field}: {'refused' if plan is None else 'read back'}")
    if plan is None:
        return
    (svc,) = plan.services
    argv, env = received(svc, tmp_path)
    assert argv == list(svc.argv[1:])
    assert argv[argv.index("--model") + 1] == f"/srv/{values['path']}".rstrip("/")
    assert argv[argv.index("--served-model-name") + 1] == values["served"]
    assert env == {**dict(svc.env), "VLLM_API_KEY": values["key"]}
    _, env = received(plan.webui, tmp_path)
    assert (env["WEBUI_NAME"], env["WEBUI_ADMIN_NAME"]) == (values["title"], values["admin"])


@EXAMPLES
@given(paths=st.lists(TEXT, min_size=1, max_size=3))
def test_pip_reads_the_find_links_the_data_gives_or_the_data_is_refused(paths):
    links = [f"/srv/{p}" for p in paths]
    plan = planned_or_refused(
        {"llmhost_services": [{"name": "t", "model": "./build/models/tiny-qwen2"}], "llmhost_pip_find_links": links}
    )
    if plan is None:
        return
    parser = configparser.RawConfigParser()  # pip's own reader (pip._internal.configuration)
    parser.read_string(render("pip.conf.j2", pip_conf_vars(plan.engines[0])))
    # pip splits an append option's value on whitespace (pip._internal.cli.parser._update_defaults)
    assert parser.get("global", "find-links").split() == [p.rstrip("/") for p in links]
