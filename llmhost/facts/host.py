"""What a host is: the hardware and OS facts the planner reads (its NVIDIA stack: llmhost.facts.nvidia).

Each fact is one round trip, parses plain text from /proc, /sys or a command, and has fixture
tests in tests/unit/test_facts.py built from real captured outputs.
"""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase


class OsDict(TypedDict):
    id: str
    version: str
    codename: str
    id_like: list[str]


class LinuxOs(FactBase[OsDict]):
    """
    The distribution from ``/etc/os-release``.

    .. code:: python

        {"id": "ubuntu", "version": "24.04", "codename": "noble", "id_like": ["debian"]}
    """

    def command(self) -> str:
        return "cat /etc/os-release"

    @staticmethod
    def default() -> OsDict:
        return {"id": "unknown", "version": "", "codename": "", "id_like": []}

    def process(self, output) -> OsDict:
        values = {}
        for line in output:
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"').strip("'")
        return {
            "id": values.get("ID", "unknown").lower(),
            "version": values.get("VERSION_ID", ""),
            "codename": values.get("VERSION_CODENAME") or values.get("UBUNTU_CODENAME", ""),
            "id_like": values.get("ID_LIKE", "").split(),
        }


class SystemdIsPid1(FactBase[bool]):
    """
    Whether systemd runs as PID 1 (what ``sd_booted()`` checks): false in most containers and
    in WSL without ``systemd=true``.

    .. code:: python

        True
    """

    def command(self) -> str:
        return (
            'if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; '
            "then echo yes; else echo no; fi"
        )

    @staticmethod
    def default() -> bool:
        return False

    def process(self, output) -> bool:
        return "".join(output).strip() == "yes"


class Wsl(FactBase[bool]):
    """
    Whether the host is a WSL kernel (``microsoft`` in the kernel release, e.g.
    ``5.15.167.4-microsoft-standard-WSL2``).

    .. code:: python

        False
    """

    def command(self) -> str:
        return "cat /proc/sys/kernel/osrelease"

    @staticmethod
    def default() -> bool:
        return False

    def process(self, output) -> bool:
        return "microsoft" in "".join(output).lower()


class CpuDict(TypedDict):
    cores: int
    online: str
    flags: list[str]
    model: str
    arch: str


class Cpu(FactBase[CpuDict]):
    """
    Usable CPUs (``nproc``: honours cgroup and affinity limits), the online CPU list, the ISA
    flags of the first processor, its model name and the machine architecture.

    .. code:: python

        {"cores": 2, "online": "0-1", "flags": ["avx2", "fma", ...], "model": "AMD EPYC",
         "arch": "x86_64"}
    """

    def command(self) -> str:
        return (
            'echo "nproc: $(nproc)"; echo "online: $(cat /sys/devices/system/cpu/online)"; '
            'echo "arch: $(uname -m)"; '
            "grep -m1 -E '^(flags|Features)' /proc/cpuinfo; grep -m1 '^model name' /proc/cpuinfo; true"
        )

    @staticmethod
    def default() -> CpuDict:
        return {"cores": 1, "online": "0", "flags": [], "model": "", "arch": ""}

    def process(self, output) -> CpuDict:
        result = self.default()
        for line in output:
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "nproc":
                result["cores"] = int(value)
            elif key == "online":
                result["online"] = value
            elif key == "arch":
                result["arch"] = value
            elif key in ("flags", "Features"):
                result["flags"] = sorted(set(value.split()))
            elif key == "model name":
                result["model"] = value
        return result


class MemoryDict(TypedDict):
    total_bytes: int
    available_bytes: int
    limit_bytes: int | None


class Memory(FactBase[MemoryDict]):
    """
    Host memory from ``/proc/meminfo`` in bytes, and the memory limit of the cgroup the host's
    processes run in where it is below that (a container started with ``--memory``: cgroup v2's
    ``memory.max`` or v1's ``memory.limit_in_bytes`` at the root of its cgroup namespace; None: no
    limit). ``/proc/meminfo`` shows the machine's memory inside a container too.

    .. code:: python

        {"total_bytes": 25276514304, "available_bytes": 24638918656, "limit_bytes": 4294967296}
    """

    def command(self) -> str:
        return (
            "grep -E '^(MemTotal|MemAvailable):' /proc/meminfo; "
            "for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do "
            '[ -r "$f" ] && echo "cgroup-limit: $(cat "$f")" && break; done; true'
        )

    @staticmethod
    def default() -> MemoryDict:
        return {"total_bytes": 0, "available_bytes": 0, "limit_bytes": None}

    def process(self, output) -> MemoryDict:
        values: dict[str, int] = {}
        limit = None
        for line in output:
            key, _, rest = line.partition(":")
            if key == "cgroup-limit":
                limit = int(rest.strip()) if rest.strip().isdigit() else None  # "max": none
            elif rest.split():
                values[key.strip()] = int(rest.split()[0]) * 1024
        total = values.get("MemTotal", 0)
        return {
            "total_bytes": total,
            "available_bytes": values.get("MemAvailable", total),
            # cgroup v1 writes "no limit" as a page-rounded 2^63
            "limit_bytes": limit if limit is not None and limit < total else None,
        }


class SharedMemoryDict(TypedDict):
    size_bytes: int | None
    free_bytes: int | None
    fstype: str | None
    options: list[str]
    can_remount: bool


class SharedMemory(FactBase[SharedMemoryDict]):
    """
    ``/dev/shm``, where engines share memory between their processes (vLLM's message queues, NCCL):
    its size and free bytes, its mount, and whether the connecting user may remount it (root with
    ``CAP_SYS_ADMIN``; a container started without it may not).

    .. code:: python

        {"size_bytes": 67108864, "free_bytes": 67108864, "fstype": "tmpfs",
         "options": ["rw", "nosuid", "nodev", "noexec", "relatime", "size=65536k", "inode64"],
         "can_remount": True}
    """

    def command(self) -> str:
        return (
            "df -Pk /dev/shm 2>/dev/null | tail -n 1 | sed 's/^/df: /'; "
            'awk \'$2 == "/dev/shm" {print "mount: " $3 " " $4}\' /proc/mounts; '
            "grep '^CapEff:' /proc/self/status; echo \"uid: $(id -u)\""
        )

    @staticmethod
    def default() -> SharedMemoryDict:
        return {"size_bytes": None, "free_bytes": None, "fstype": None, "options": [], "can_remount": False}

    def process(self, output) -> SharedMemoryDict:
        result = self.default()
        caps, uid = 0, None
        for line in output:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if key == "df" and len(parts) >= 6 and parts[1].isdigit() and parts[3].isdigit():
                result["size_bytes"], result["free_bytes"] = int(parts[1]) * 1024, int(parts[3]) * 1024
            elif key == "mount" and len(parts) == 2:  # the last one: the mount on top
                result["fstype"], result["options"] = parts[0], parts[1].split(",")
            elif key == "CapEff" and parts:
                caps = int(parts[0], 16)
            elif key == "uid" and parts:
                uid = parts[0]
        # CAP_SYS_ADMIN is capability 21 (linux/capability.h): mount and remount need it
        result["can_remount"] = uid == "0" and bool(caps & (1 << 21)) and result["fstype"] == "tmpfs"
        return result


class OpenFilesDict(TypedDict):
    soft: int | None
    hard: int | None


class OpenFiles(FactBase[OpenFilesDict]):
    """
    The open-files limit (``ulimit -n``) of the connecting shell, soft and hard: what a tmux
    session started from it inherits (None: unlimited).

    .. code:: python

        {"soft": 1024, "hard": 524288}
    """

    def command(self) -> str:
        return 'echo "soft $(ulimit -Sn)"; echo "hard $(ulimit -Hn)"'

    @staticmethod
    def default() -> OpenFilesDict:
        return {"soft": None, "hard": None}

    def process(self, output) -> OpenFilesDict:
        result = self.default()
        for line in output:
            key, _, value = line.strip().partition(" ")
            if key in result and value.isdigit():
                result[key] = int(value)
        return result


class NumaNodeDict(TypedDict):
    node: int
    cpus: str
    memory_bytes: int


class NumaNodes(FactBase[list[NumaNodeDict]]):
    """
    NUMA nodes from ``/sys/devices/system/node``: CPU list and memory of each. Empty where the
    kernel exposes no nodes.

    .. code:: python

        [{"node": 0, "cpus": "0-1", "memory_bytes": 5060648960}]
    """

    def command(self) -> str:
        return (
            'for d in /sys/devices/system/node/node[0-9]*; do [ -d "$d" ] || continue; '
            'echo "$(basename "$d") $(cat "$d/cpulist") $(grep MemTotal "$d/meminfo")"; done'
        )

    @staticmethod
    def default() -> list[NumaNodeDict]:
        return []

    def process(self, output) -> list[NumaNodeDict]:
        nodes: list[NumaNodeDict] = []
        for line in output:
            # node0 0-1 Node 0 MemTotal:        4942040 kB
            parts = line.split()
            if len(parts) < 6 or not parts[0].startswith("node"):
                continue
            nodes.append({"node": int(parts[0][4:]), "cpus": parts[1], "memory_bytes": int(parts[5]) * 1024})
        return sorted(nodes, key=lambda n: n["node"])


class DiskFree(FactBase[int | None]):
    """
    Free bytes on the filesystem that holds ``path`` (or its nearest existing parent, so it can be
    asked before llmhost has created the directory).

    .. code:: python

        53687091200
    """

    def command(self, path: str) -> str:
        import shlex

        return (
            f'p={shlex.quote(path)}; while [ ! -e "$p" ] && [ "$p" != / ]; do p=$(dirname "$p"); done; '
            'df -Pk "$p" | tail -n 1'
        )

    @staticmethod
    def default() -> int | None:
        return None

    def process(self, output) -> int | None:
        for line in output:
            parts = line.split()
            if len(parts) >= 6 and parts[3].isdigit():
                return int(parts[3]) * 1024
        return None


class DiskMount(DiskFree):
    """
    The mount point of the filesystem that holds ``path`` (or its nearest existing parent), as the
    node exporter labels it (``mountpoint``).

    .. code:: python

        "/"
    """

    def process(self, output) -> str | None:  # type: ignore[override]
        for line in output:
            parts = line.split()
            if len(parts) >= 6 and parts[3].isdigit():
                return " ".join(parts[5:])
        return None


class AptSourceFiles(FactBase[list[str]]):
    """
    Which of the given apt sources files exist and are not empty (Debian 12 hosts list their
    sources in ``/etc/apt/sources.list`` or, in containers and newer installs, in deb822
    ``/etc/apt/sources.list.d/debian.sources``).

    .. code:: python

        ["/etc/apt/sources.list.d/debian.sources"]
    """

    def command(self, paths) -> str:
        import shlex

        return f'for f in {" ".join(shlex.quote(p) for p in paths)}; do [ -s "$f" ] && echo "$f"; done; true'

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output) -> list[str]:
        return [line.strip() for line in output if line.strip()]
