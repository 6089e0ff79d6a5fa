"""llmhost.operations.files.directories at the command level (one PathStates read for them all),
and PathStates' own command run for real on this machine."""

from __future__ import annotations

import os
import pwd
import subprocess
from types import SimpleNamespace

import pytest
from pyinfra.api import OperationError

from llmhost.facts.files import Account, FileState, PathStates
from llmhost.operations import files
from tests.helpers import FakeHost

DIRS = [("/opt/l", "755", None, True), ("/opt/l/logs", "755", "llmhost", True), ("/etc/l", "700", None, True)]


def run(monkeypatch, states, directories=DIRS):
    fake = FakeHost(states)
    monkeypatch.setattr(files, "host", fake)
    return [str(c.get_raw_value()) for c in files.directories._inner(directories=directories)], fake


def test_missing_directories_are_made_with_mode_and_owner(monkeypatch):
    commands, fake = run(monkeypatch, {})
    assert commands == [
        (
            "mkdir -p /opt/l && chmod 755 /opt/l && mkdir -p /opt/l/logs && chmod 755 /opt/l/logs && "
            "chown llmhost:llmhost /opt/l/logs && mkdir -p /etc/l && chmod 700 /etc/l"
        )
    ]
    assert fake.kwargs == {"paths": ("/opt/l", "/opt/l/logs", "/etc/l")}


def test_only_what_differs_is_changed_and_none_is_a_noop(monkeypatch):
    ok = {
        "/opt/l": {"type": "directory", "mode": 0o755, "user": "root", "group": "root"},
        "/opt/l/logs": {"type": "directory", "mode": 0o755, "user": "llmhost", "group": "llmhost"},
        "/etc/l": {"type": "directory", "mode": 0o700, "user": "root", "group": "root"},
    }
    commands, fake = run(monkeypatch, ok)
    assert commands == [] and fake.noops == ["3 directories are as planned"]
    drift = {**ok, "/opt/l/logs": {**ok["/opt/l/logs"], "user": "root"}, "/etc/l": {**ok["/etc/l"], "mode": 0o755}}
    # an existing directory of another owner (root's, from a tmux host before its engines ran as the
    # service user) is the service user's with everything in it, no symlink followed
    assert run(monkeypatch, drift)[0] == ["chown -RP llmhost:llmhost /opt/l/logs && chmod 700 /etc/l"]


def test_a_directory_llmhost_did_not_make_keeps_its_mode_and_owner(monkeypatch):
    theirs = {
        "/opt/l": {"type": "directory", "mode": 0o770, "user": "alice", "group": "lab"},
        "/opt/l/logs": {"type": "directory", "mode": 0o700, "user": "llmhost", "group": "lab"},
    }
    foreign = [(path, mode, owner, False) for path, mode, owner, _ in DIRS[:2]] + DIRS[2:]
    # nothing for the two that exist and are not llmhost's; the missing one is made (and is then its)
    assert run(monkeypatch, theirs, foreign)[0] == ["mkdir -p /etc/l && chmod 700 /etc/l"]
    # the same directories, llmhost's by its record: their mode and owner are set
    fixed = (
        "chmod 755 /opt/l && chmod 755 /opt/l/logs && chown -RP llmhost:llmhost /opt/l/logs && "
        "mkdir -p /etc/l && chmod 700 /etc/l"
    )
    assert run(monkeypatch, theirs)[0] == [fixed]


def test_a_path_that_is_not_a_directory_stops_the_operation(monkeypatch):
    with pytest.raises(OperationError, match="^/etc/l is a file, not a directory$"):
        run(monkeypatch, {"/etc/l": {"type": "file", "mode": 0o644, "user": "root", "group": "root"}})


def test_path_states_and_account_read_this_machine(tmp_path):
    (tmp_path / "d").mkdir(mode=0o750)
    (tmp_path / "f").write_text("x")
    (tmp_path / "l").symlink_to(tmp_path / "d")
    os.mkfifo(tmp_path / "p")
    (tmp_path / "a b").mkdir()
    (tmp_path / "a b").chmod(0o1777)
    fact = PathStates()
    paths = tuple(str(tmp_path / n) for n in ("d", "f", "l", "absent", "p", "a b"))
    out = subprocess.run(["sh", "-c", fact.command(paths=paths)], capture_output=True, text=True, check=True).stdout
    states = fact.process(out.splitlines())
    assert {p.rsplit("/", 1)[1]: s["type"] for p, s in states.items()} == {
        "d": "directory",
        "f": "file",
        "l": "link",
        "p": "other",
        "a b": "directory",
    }
    assert states[paths[0]]["mode"] == 0o750 and states[paths[0]]["user"] == "root"
    assert states[paths[2]]["mode"] == 0 and states[paths[5]]["mode"] == 0o1777
    account = Account()
    out = subprocess.run(["sh", "-c", account.command(user="root")], capture_output=True, text=True, check=True).stdout
    root = pwd.getpwnam("root")
    assert account.process(out.splitlines()) == {"uid": 0, "home": root.pw_dir, "shell": root.pw_shell, "group": "root"}
    out = subprocess.run(
        ["sh", "-c", account.command(user="no-such-user")], capture_output=True, text=True, check=False
    ).stdout
    assert account.process(out.splitlines()) is None


def test_content_uploads_what_differs_and_fixes_a_mode(monkeypatch, tmp_path):
    import hashlib
    import io

    body = b"KEY=value\n"
    sha1 = hashlib.sha1(body).hexdigest()

    monkeypatch.setattr(files, "state", SimpleNamespace(config=SimpleNamespace(DIFF=False)))

    def ops(remote):
        fake = FakeHost(remote)
        monkeypatch.setattr(files, "host", fake)
        fake.get_temp_filename = lambda dest: f"/tmp/pyinfra-{len(dest)}"
        return [
            type(c).__name__ if not hasattr(c, "get_raw_value") else str(c.get_raw_value())
            for c in files.content._inner(src=io.BytesIO(body), dest="/etc/l/a.env", mode="600")
        ], fake

    assert ops(None)[0] == ["FileUploadCommand", "chmod 600 /etc/l/a.env"]
    assert ops({"type": "file", "mode": 0o600, "sha1": "0" * 40})[0] == ["FileUploadCommand", "chmod 600 /etc/l/a.env"]
    assert ops({"type": "file", "mode": 0o644, "sha1": sha1})[0] == ["chmod 600 /etc/l/a.env"]
    same, fake = ops({"type": "file", "mode": 0o600, "sha1": sha1})
    assert same == [] and fake.noops == ["/etc/l/a.env is as planned"]
    with pytest.raises(OperationError, match="^/etc/l/a.env is a link, not a file$"):
        ops({"type": "link"})
    # the fact, for real
    f = tmp_path / "x"
    f.write_bytes(body)
    f.chmod(0o640)
    fact = FileState()
    run = lambda p: fact.process(
        subprocess.run(
            ["sh", "-c", fact.command(path=str(p))],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    )
    assert run(f) == {"type": "file", "mode": 0o640, "sha1": sha1}
    assert run(tmp_path / "absent") is None and run(tmp_path) == {"type": "other"}


def test_a_diff_of_a_file_only_its_owner_reads_shows_keys_never_values():
    lines = ["# rendered by llmhost\n", "VLLM_API_KEY=sk-secret\n", 'export HF_TOKEN="hf_x"\n', "master_key: sk-1\n"]
    assert files._masked(lines, "600") == [
        "# rendered by llmhost\n",
        "VLLM_API_KEY=***\n",
        "export HF_TOKEN=***\n",
        "master_key: ***\n",
    ]
    assert files._masked(lines, "644") == lines  # a file others may read holds no secret: shown as it is
    assert files._masked(["A=1\n", "B=2\n", "C=3\n"], "600", ["A=1\n", "B=0\n"]) == [
        "A=***\n",
        "B=*** (changed)\n",
        "C=***\n",  # new: the diff shows it added
    ]


def test_diff_shows_the_change_of_a_rendered_file_with_its_values_masked(monkeypatch):
    """pyinfra --diff: llmhost's files show their change as files.put's do (an env file's values masked)."""
    import io

    logged = []
    fake = FakeHost(
        by_class={"FileState": {"type": "file", "mode": 0o600, "sha1": "0" * 40}, "FileContents": ["A=1", "K=old"]}
    )
    fake.log = lambda message, _: logged.append(message)
    fake.get_temp_filename = lambda dest: "/tmp/t"
    monkeypatch.setattr(files, "host", fake)
    monkeypatch.setattr(files, "state", SimpleNamespace(config=SimpleNamespace(DIFF=True)))
    monkeypatch.setattr(files, "logger", SimpleNamespace(info=lambda fmt, *a: logged.append(fmt % a if a else fmt)))
    body = io.BytesIO(b"A=2\nK=new-secret\n")
    list(files.content._inner(src=body, dest="/etc/l/a.env", mode="600"))
    text = "\n".join(logged)
    assert logged[0] == "Will modify /etc/l/a.env"
    assert "+ A=*** (changed)" in text and "- K=***" in text and "+ K=*** (changed)" in text
    assert "secret" not in text and "old" not in text


def test_under_pyinfra_a_directory_llmhost_did_not_make_is_left_as_it_is(tmp_path):
    """The real pyinfra CLI on this machine (@local, ~3 s): theirs/ (nobody's, 2750) stays as it is;
    ours/ (llmhost's, at 700) is set to 755; new/ is made."""
    from tests.helpers import pyinfra

    theirs, ours, new = tmp_path / "theirs", tmp_path / "ours", tmp_path / "new"
    for path in (theirs, ours):
        path.mkdir()
    os.chmod(theirs, 0o2750)
    os.chown(theirs, pwd.getpwnam("nobody").pw_uid, -1)
    os.chmod(ours, 0o700)
    deploy = tmp_path / "deploy.py"
    deploy.write_text(
        "from llmhost.operations import files\n"
        f"files.directories(name='dirs', directories=[({str(theirs)!r}, '755', None, False), "
        f"({str(ours)!r}, '755', None, True), ({str(new)!r}, '755', None, True)])\n"
    )
    result = pyinfra("@local", str(deploy))
    assert result.rc == 0, result.stderr[-3000:]
    mode = lambda p: oct(os.stat(p).st_mode & 0o7777)
    assert (mode(theirs), pwd.getpwuid(os.stat(theirs).st_uid).pw_name) == ("0o2750", "nobody")
    assert mode(ours) == "0o755" and mode(new) == "0o755"
    assert pyinfra("@local", str(deploy)).changed == []  # and a second run changes nothing
