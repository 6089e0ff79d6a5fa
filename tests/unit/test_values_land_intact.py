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

from llmhost.render import env_file_vars, launcher_vars, pip_conf_vars
from llmhost.resources import hostside_tool
from tests.unit.common import render
from tests.values import FIELDS, PROBE, TEXT, VALID, assert_received, planned_or_refused, wish

EXAMPLES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


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


@EXAMPLES
@given(st.data())
def test_what_a_launched_process_receives_is_the_data_or_the_data_is_refused(tmp_path, data):
    field = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
    values = {**VALID, field: data.draw(FIELDS[field], label=field)}
    plan = planned_or_refused(wish(**values))
    event(f"{field}: {'refused' if plan is None else 'read back'}")
    if plan is None:
        return
    assert_received(plan, values, lambda process: received(process, tmp_path))


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
