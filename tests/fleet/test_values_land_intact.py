"""systemd reads every value intact, or the data is refused (issue 37): the unit tier's property
test (tests/unit/test_values_land_intact.py) with systemd as the reader. Hypothesis generates the
title, admin name, host: model path, served model name and API key from all of Unicode; the real
plan's unit file (ExecStart=, Environment=, EnvironmentFile= of the 0600 env file) is installed on a
fleet host and started, and the process reports the argv and environment systemd gave it.

Cost: one bare fleet host (~10 s to start) and ~0.4 s an example (one docker exec: write the two
files, daemon-reload, `systemctl start --wait`), 40 examples plus the hostile ones."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from llmhost.render import env_file_vars, unit_vars
from tests.fleet import harness
from tests.unit.common import render
from tests.values import FIELDS, PROBE, VALID, assert_received, planned_or_refused, wish

pytestmark = pytest.mark.fleet

NAME = "llmhost-fleet-values"
UNIT = "/etc/systemd/system/llmhost-probe.service"
ENV_FILE = "/etc/llmhost-probe.env"
LOG = "/var/log/llmhost-probe.log"
SYSTEMD_ADDS = frozenset(
    {
        "INVOCATION_ID",
        "JOURNAL_STREAM",
        "SYSTEMD_EXEC_PID",
        "MANAGERPID",
        "MEMORY_PRESSURE_WATCH",
        "MEMORY_PRESSURE_WRITE",
        "USER",
        "LOGNAME",
        "HOME",
        "SHELL",
        "LANG",
    }
)
# on the host: write the unit and the env file, start the unit and wait for its end, print the log
INSTALL = f"""
import json, os, subprocess, sys
files = json.load(sys.stdin)
for path, (text, mode) in files.items():
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
if os.path.exists({LOG!r}):
    os.unlink({LOG!r})
subprocess.run(["systemctl", "daemon-reload"], check=True)
subprocess.run(["systemctl", "start", "--wait", "llmhost-probe.service"], check=True)
sys.stdout.write(open({LOG!r}, encoding="utf-8").read())
"""


@pytest.fixture(scope="module")
def probe_host(fleet_image):
    if harness.real_hosts():
        pytest.skip("installs throwaway units: a Docker fleet host only")
    host = harness.start_host(NAME)
    yield host
    harness.stop_host(NAME)


def systemd_gives(host, process) -> tuple[list[str], dict]:
    """What systemd hands ``process``'s command (its argv after the program, its environment) from
    the unit llmhost renders for it, with the secrets through EnvironmentFile=."""
    probe = dataclasses.replace(
        process, argv=("/usr/bin/python3", "-c", PROBE, *process.argv[1:]), env_file=ENV_FILE, log=LOG
    )
    unit = render("llmhost.service.j2", unit_vars(probe, user=None, workdir="/", nofile=4096))
    files = {UNIT: (unit, 0o644), ENV_FILE: (render("service.env.j2", env_file_vars(probe)), 0o600)}
    out = harness._run(
        "docker", "exec", "-i", host.name, "python3", "-c", INSTALL, input=json.dumps(files), timeout=60
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("PROBE "))
    argv, env = json.loads(line.removeprefix("PROBE "))
    # systemd's own additions to a service's environment (systemd.exec(5), "Environment Variables
    # in Spawned Processes"), where the plan sets no such variable
    return argv, {k: v for k, v in env.items() if k in dict(process.env) or k not in SYSTEMD_ADDS}


HOSTILE = "Lab\nExecStartPre=/bin/touch /tmp/pwned\n#"


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@example(data=None, hostile=True)
@given(data=st.data(), hostile=st.just(False))
def test_systemd_gives_the_process_the_data_or_the_data_is_refused(probe_host, data, hostile):
    if hostile:  # a line break meant to add ExecStartPre= (as root: "+") to the web UI's unit
        values = {**VALID, "title": HOSTILE}
    else:
        field = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
        values = {**VALID, field: data.draw(FIELDS[field], label=field)}
    plan = planned_or_refused(wish(**values))
    event("hostile" if hostile else f"{field}: {'refused' if plan is None else 'read back'}")
    if plan is None:
        assert "pwned" not in probe_host.sh("ls /tmp")
        return
    assert not hostile, "the hostile title was accepted"
    assert_received(plan, values, lambda process: systemd_gives(probe_host, process))
