"""llmhost.facts.prefetch under the real pyinfra CLI on this machine (@local): the facts that
llmhost's operations will read are read in one command while nothing has changed, and read again
after a change, so that every operation decides on what is there now. ~3 s."""

from __future__ import annotations

import re

import pytest

from tests.helpers import pyinfra

DEPLOY = """\
import io
from pyinfra import host
from llmhost.facts import prefetch
from llmhost.facts.files import Account
from llmhost.operations import files

prefetch.expect(host, Account, user="root")  # a read at deploy time shares the first round trip
assert prefetch.get(host, Account, user="root")["uid"] == 0
files.directories(name="dirs", directories=[("{d}/a", "755", None, True), ("{d}/b", "700", None, True)])
for name in ("one", "two", "three"):
    files.content(name=f"file {{name}}", src=io.StringIO(f"{{name}}\\n"), dest=f"{d}/a/{{name}}", mode="644")
"""
COMMAND = re.compile(r"Running command on localhost: (.*)")


def run(deploy, *args):
    result = pyinfra("@local", str(deploy), "--debug", *args)
    assert result.rc == 0, result.stderr[-3000:]
    commands = COMMAND.findall(result.stderr)
    reads = [c for c in commands if "@@llmhost-fact" in c or "sha1sum" in c or "stat -c" in c]
    return result, commands, reads


def test_reads_are_batched_while_nothing_changed_and_read_again_after_a_change(tmp_path):
    deploy = tmp_path / "deploy.py"
    deploy.write_text(DEPLOY.format(d=tmp_path))

    # a bare run: the first read (deploy time) takes every read expected so far; each operation
    # that changes something makes the next operation's read a new one
    first, _commands, reads = run(deploy)
    assert len(first.changed) == 4, first.changed
    assert [(tmp_path / "a" / n).read_text() for n in ("one", "two", "three")] == ["one\n", "two\n", "three\n"]
    # deploy time (the account), the first operation's (all four), then one after each change
    assert len(reads) == 5, reads

    # converged: the deploy-time read, then one command answers every operation
    again, _commands, reads = run(deploy)
    assert again.changed == [] and len(reads) == 2, reads
    assert "getent passwd root" in reads[0] and "/a/three" not in reads[0]
    assert all(p in reads[1] for p in ("/a/one", "/a/two", "/a/three", "/b")), reads[1]

    # a change in the middle: the operations after it read what is there now, in one command
    (tmp_path / "a" / "one").write_text("drift\n")
    (tmp_path / "a" / "three").write_text("drift\n")
    fixed, _commands, reads = run(deploy)
    assert sorted(fixed.changed) == ["file one", "file three"], fixed.changed
    assert [(tmp_path / "a" / n).read_text() for n in ("one", "three")] == ["one\n", "three\n"]
    # the deploy-time read, all four, then "two" and "three" again after "one" changed
    assert len(reads) == 3, reads
    assert "/a/two" in reads[2] and "/a/three" in reads[2] and "/a/one" not in reads[2]


HELD = """\
import io
from pyinfra import host
from pyinfra.api import StringCommand, operation
from llmhost.facts import prefetch
from llmhost.facts.files import FileState
from llmhost.facts.prefetch import reads
from llmhost.operations import files


@reads(lambda path, **_: [(FileState, {{"path": path}})])
@operation()
def report(path):
    yield StringCommand("echo", "held" if prefetch.held(host, FileState, path=path) else "not-held")


files.content(name="file", src=io.StringIO("x\\n"), dest="{d}/f", mode="644")
report(name="report", path="{d}/f")
"""


def test_a_read_ahead_answer_is_held_only_while_nothing_has_changed(tmp_path):
    deploy = tmp_path / "deploy.py"
    deploy.write_text(HELD.format(d=tmp_path))
    _, commands, _ = run(deploy)  # the file was written: what was read ahead is not held
    assert commands[-1] == "sh -c 'echo not-held'", commands
    _, commands, reads = run(deploy)  # nothing changed before it: held, and one read in all
    assert commands[-1] == "sh -c 'echo held'" and len(reads) == 1, commands


PASSED = {"ok": True, "health_seconds": 0.0, "chat_seconds": 0.01, "reply": "hi", "error": None, "log_tail": []}


@pytest.mark.parametrize(
    ("ahead", "reads"),
    [(PASSED, 0), ({**PASSED, "ok": False, "error": "not healthy after 0s"}, 1), (None, 1)],
    ids=["passed", "failed", "none"],
)
def test_the_endpoint_check_read_ahead_is_taken_only_when_it_passed(monkeypatch, ahead, reads):
    from llmhost.operations import endpoint
    from tests.helpers import FakeHost

    args = {
        "url": "http://127.0.0.1:8000",
        "model": "m",
        "python": "p",
        "tool": "t",
        "env_files": ["/e"],
        "log": "/l",
        "timeout": 300,
    }
    fake = FakeHost(PASSED)
    fake.state = type("State", (), {"is_executing": True})()
    monkeypatch.setattr(endpoint, "host", fake)
    monkeypatch.setattr(
        endpoint.prefetch, "held", lambda host, cls, **kw: ahead if kw["ahead"] and kw["timeout"] == 0 else None
    )
    assert list(endpoint.ready._inner(**args)) == [] and len(fake.noops) == 1
    assert bool(fake.kwargs) == bool(reads) and fake.kwargs.get("timeout", 300) == 300  # read again, waiting


@pytest.mark.parametrize(
    "data",
    [
        {"llmhost_services": [{"name": "tiny", "model": "TINY"}]},
        {
            "llmhost_services": [
                {"name": "a", "model": "TINY"},
                {"name": "b", "model": "TINY", "port": 8001, "engine": "llamacpp", "gguf": "Q8_0"},
            ],
            "llmhost_gateway": {},
        },
        {"llmhost_services": [], "llmhost_root": "/srv/llm"},
    ],
    ids=["one-service", "two-services-and-a-gateway", "none"],
)
def test_the_reads_the_data_foretells_are_the_ones_the_layers_make(tiny, data):
    """What the service and system layers read while the deploy is prepared is read with the
    planner's facts, guessed from the data (llmhost.plan.supervised): the guess must be exactly
    what they ask for under systemd, or the run reads again (no harm, one round trip more)."""
    from dataclasses import replace

    from llmhost.deploys import service, system
    from llmhost.plan import plan_host
    from llmhost.settings import load
    from tests.unit.common import DEVBOX

    services = [{**s, "model": tiny} for s in data["llmhost_services"]]
    settings = load({**data, "llmhost_services": services})
    plan = plan_host(replace(DEVBOX, systemd=True), settings)
    assert service.reads(plan) == service.reads_ahead(settings)
    assert system.reads(plan) == system.reads_ahead(settings)
