"""Which of the ports llmhost is to listen on something already listens on, and what."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

# Listening TCP sockets from /proc/net/tcp{,6} (state 0A) with the user that opened them, their
# processes from /proc/<pid>/fd: no iproute2 (`ss`) needed, which minimal images lack. Root in a
# container without CAP_SYS_PTRACE (Docker's default) cannot read another user's /proc/<pid>/fd:
# the socket's user still tells. Python's standard library only (the host's python3, read before
# any change). Only the ports asked about are reported.
_SCRIPT = r"""
import json, os, pwd, sys
wanted = set(json.loads(sys.argv[1]))
inodes, users = {}, {}
for table in ("/proc/net/tcp", "/proc/net/tcp6"):
    try:
        lines = open(table).read().splitlines()[1:]
    except OSError:
        continue
    for line in lines:
        f = line.split()
        port = int(f[1].rsplit(":", 1)[1], 16)
        if f[3] == "0A" and port in wanted:
            inodes[f[9]] = port
            try:
                users.setdefault(port, pwd.getpwuid(int(f[7])).pw_name)
            except KeyError:
                users.setdefault(port, f[7])
found = {}
if inodes:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink("/proc/%s/fd/%s" % (pid, fd))
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                port = inodes[link[8:-1]]
                try:
                    exe = os.readlink("/proc/%s/exe" % pid)
                except OSError:
                    exe = ""
                try:
                    cmd = open("/proc/%s/cmdline" % pid, "rb").read().replace(b"\0", b" ").decode("utf-8", "replace")
                except OSError:
                    cmd = ""
                found.setdefault(port, [int(pid), exe, cmd.strip()[:300]])
    for port in set(inodes.values()) - set(found):
        found[port] = [0, "", ""]
print(json.dumps(sorted([p] + rest + [users.get(p, "")] for p, rest in found.items())))
"""


class ListeningPorts(FactBase[list]):
    """
    Of ``ports``, those a TCP socket on the host listens on: ``[port, pid, executable, command
    line, user]`` (pid 0 and "" where this run may not see the process: another user's, in a
    container without CAP_SYS_PTRACE; the user that opened the socket is always read).

    + ports: the ports to look at

    .. code:: python

        [[8000, 0, "", "", "llmhost"], [4000, 4242, "/usr/bin/python3.11", "python3 -m http.server 4000", "root"]]
    """

    def command(self, ports: tuple[int, ...]) -> str:
        return (
            f"python3 -c {shlex.quote(_SCRIPT)} {shlex.quote(json.dumps(sorted(set(ports))))} 2>/dev/null || echo '[]'"
        )

    @staticmethod
    def default() -> list:
        return []

    def process(self, output) -> list:
        for line in output:
            if line.startswith("["):
                return [
                    [int(p), int(pid), str(exe), str(cmd), str(user)] for p, pid, exe, cmd, user in json.loads(line)
                ]
        return []
