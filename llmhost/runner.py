"""Running llmhost's deploys with pyinfra for the `llmhost` command: the deploy files it carries
(a source checkout's deploys/, or the wheel's copy), the group data found where the inventory is,
pyinfra's flags, its output read for the one line that says why a run failed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from llmhost.inventory import group_data_dirs
from llmhost.resources import deploy_file


def _argv(inventory: str, deploy: str, flags: tuple[str, ...]) -> list[str]:
    pyinfra = Path(sys.executable).with_name("pyinfra")
    group_data = [a for d in group_data_dirs(inventory) for a in ("--group-data", d)]
    return [str(pyinfra), *flags, *group_data, inventory, str(deploy_file(deploy))]


def _why(command: str, lines: list[str], inventory: str) -> list[str]:
    """The lines that say why a pyinfra run failed: llmhost's own, else pyinfra's."""
    unmatched = [line.split(": ", 1)[1] for line in lines if "No host matches found for --limit pattern" in line]
    if unmatched:
        return [f"--limit: no host of {inventory} matches {unmatched[0]!r}"]
    ours = [line.split(f"llmhost {command}: ", 1)[1] for line in lines if f"llmhost {command}: " in line]
    errors = [line.split(": ", 1)[-1] for line in lines if line.startswith("--> pyinfra error")]
    errors = [e for e in errors if e != "No hosts remaining!"]
    unreachable = [line.strip() for line in lines if "Could not connect" in line]
    return ours or unreachable or errors[-1:] or lines[-1:] or ["pyinfra failed"]


def read(command: str, inventory: str, deploy: str, *flags: str, env: dict | None = None) -> str | None:
    """Run one of llmhost's read-only deploys over an inventory: its stdout, or None after the lines
    that say why it could not run."""
    proc = subprocess.run(
        _argv(inventory, deploy, flags),
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
        check=False,
    )
    lines = proc.stderr.splitlines()
    if proc.returncode != 0 or any("Could not connect" in line for line in lines):
        for why in _why(command, lines, inventory):
            print(f"llmhost {command}: {why}", file=sys.stderr)
        return None
    return proc.stdout


def shown(line: str, running: bool, everything: bool, progress: bool) -> bool:
    """Whether a line of pyinfra's stderr is shown: once its operations run, each operation and its
    result per host, and (``progress``) what the commands print as they print it (a download's
    progress, pip's, a build's), not the commands themselves; ``everything``: all of it."""
    if everything or "Press enter to execute" in line:
        return True
    if not running:
        return False
    if line.startswith(("--> Starting operation", "    [")):
        return True
    return progress and line.startswith("[") and "] >>> " not in line


def streamed(
    command: str,
    inventory: str,
    deploy: str,
    *flags: str,
    env: dict | None = None,
    everything: bool = False,
    progress: bool = False,
) -> tuple[bool, str]:
    """Run one of llmhost's deploys that change hosts, showing pyinfra's progress once its
    operations run (``everything``: all of pyinfra's output, its --diff and --dry listings too;
    ``progress``: the commands' own output as it comes, pyinfra -vvv) and reading stdin from the
    terminal (pyinfra's confirmation without -y); (whether it succeeded, its stdout). A failure is
    the lines that say why."""
    proc = subprocess.Popen(
        _argv(inventory, deploy, (*flags, *(("-vvv",) if progress else ()))),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    out: list[str] = []  # the deploys' own lines (their JSON), read beside stderr
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    lines, running = [], False
    for line in proc.stderr:
        line = line.rstrip("\n")
        lines.append(line)
        running = running or line.startswith("--> Beginning operation run")
        if shown(line, running, everything, progress):
            print(line, file=sys.stderr, flush=True)
    proc.wait()
    reader.join()
    if proc.returncode == 0:
        return True, "".join(out)
    for why in _why(command, lines, inventory):
        print(f"llmhost {command}: {why}", file=sys.stderr)
    return False, "".join(out)
