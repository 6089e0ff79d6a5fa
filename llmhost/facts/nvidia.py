"""What a host's NVIDIA stack is: the GPUs, driver, CUDA toolkits and Secure Boot the planner reads.

The GPUs nvidia-smi reports and the memory llmhost's own engines hold on them, the NVIDIA functions on
the PCI bus (GPUs and NVSwitches, there before any driver is), displays driven by an NVIDIA GPU, the
kernel module loaded now, the CUDA toolkits under /usr/local, and Secure Boot with DKMS's signing key
(whether a DKMS-built driver module loads). Like llmhost.facts.host, each fact is one round trip,
parses plain text from /sys or a command, and has fixture tests in tests/unit/test_facts.py built
from real captured outputs.
"""

from __future__ import annotations

from typing import TypedDict

from pyinfra.api import FactBase


class GpuDict(TypedDict):
    index: int
    name: str
    memory_mib: int
    memory_used_mib: int
    compute_capability: str | None
    driver_version: str
    uuid: str | None
    nvidia_smi: str


# nvidia-smi on the PATH, else WSL's: inside WSL it lives in /usr/lib/wsl/lib, which is not on the
# PATH of root or of an SSH session (NVIDIA's and Microsoft's WSL docs).
NVIDIA_SMI = ("nvidia-smi", "/usr/lib/wsl/lib/nvidia-smi")


class NvidiaGpus(FactBase[list[GpuDict]]):
    """
    NVIDIA GPUs from ``nvidia-smi --query-gpu``: the one on the PATH, else WSL's
    (``/usr/lib/wsl/lib/nvidia-smi``); which one answered is in each entry. No nvidia-smi: no GPUs.
    Old drivers that do not know the ``compute_cap`` field are queried again without it (compute
    capability ``None``; the planner then looks the name up). ``memory_used_mib`` is all that is in
    use (the planner subtracts llmhost's own engines, NvidiaComputeApps).

    .. code:: python

        [{"index": 0, "name": "NVIDIA A800-SXM4-80GB", "memory_mib": 81920, "memory_used_mib": 0,
          "compute_capability": "8.0", "driver_version": "535.161.08",
          "uuid": "GPU-8a7f...", "nvidia_smi": "nvidia-smi"}]
    """

    _fields = "index,name,memory.total,memory.used,compute_cap,driver_version,uuid"
    _old = "index,name,memory.total,memory.used,driver_version,uuid"

    def command(self) -> str:
        candidates = " ".join(NVIDIA_SMI)
        return (
            f'for s in {candidates}; do command -v "$s" >/dev/null 2>&1 || continue; echo "nvidia-smi: $s"; '
            f'"$s" --query-gpu={self._fields} --format=csv,noheader,nounits 2>/dev/null '
            f'|| "$s" --query-gpu={self._old} --format=csv,noheader,nounits 2>/dev/null; break; done; true'
        )

    @staticmethod
    def default() -> list[GpuDict]:
        return []

    def process(self, output) -> list[GpuDict]:
        gpus: list[GpuDict] = []
        smi = "nvidia-smi"
        for line in output:
            if line.startswith("nvidia-smi: "):
                smi = line.removeprefix("nvidia-smi: ").strip()
                continue
            parts = [p.strip() for p in line.split(", ")]
            if len(parts) == 7:
                index, name, memory, used, cap, driver, uuid = parts
            elif len(parts) == 6:
                index, name, memory, used, driver, uuid = parts
                cap = None
            else:
                continue
            if not index.isdigit():
                continue
            gpus.append(
                {
                    "index": int(index),
                    "name": name,
                    "memory_mib": int(float(memory)) if memory not in ("N/A", "[N/A]", "") else 0,
                    "memory_used_mib": int(float(used)) if used not in ("N/A", "[N/A]", "") else 0,
                    "compute_capability": None if cap in (None, "N/A", "[N/A]") else cap,
                    "driver_version": driver,
                    "uuid": uuid if uuid.startswith("GPU-") else None,
                    "nvidia_smi": smi,
                }
            )
        return gpus


class NvidiaComputeApps(FactBase[dict[str, int]]):
    """
    GPU memory (MiB) held by llmhost's own engines, per GPU uuid: the compute processes
    ``nvidia-smi --query-compute-apps`` lists whose executable lies under ``root``/venvs (vLLM's
    Python, llama-server, Ollama's runner). The planner counts the rest of a GPU's used memory as
    taken by others (a desktop, another job), so a re-run never plans around its own engines.

    .. code:: python

        {"GPU-8a7f...": 74210}
    """

    def command(self, root: str) -> str:
        import shlex

        candidates = " ".join(NVIDIA_SMI)
        return (
            f'for s in {candidates}; do command -v "$s" >/dev/null 2>&1 || continue; '
            '"$s" --query-compute-apps=gpu_uuid,pid,used_memory --format=csv,noheader,nounits 2>/dev/null '
            "| while IFS=', ' read -r uuid pid used; do exe=$(readlink \"/proc/$pid/exe\" 2>/dev/null); "
            f'case "$exe" in {shlex.quote(root.rstrip("/") + "/venvs/")}*) echo "$uuid $used";; esac; done; break; done; true'
        )

    @staticmethod
    def default() -> dict[str, int]:
        return {}

    def process(self, output) -> dict[str, int]:
        ours: dict[str, int] = {}
        for line in output:
            parts = line.split()
            if len(parts) == 2 and parts[0].startswith("GPU-") and parts[1].isdigit():
                ours[parts[0]] = ours.get(parts[0], 0) + int(parts[1])
        return ours


class CudaDict(TypedDict):
    toolkits: list[str]
    default: str | None
    link: str | None


class CudaToolkits(FactBase[CudaDict]):
    """
    CUDA toolkits installed side by side under ``/usr/local/cuda-X.Y``, the version the
    ``/usr/local/cuda`` link resolves to (None when there is no link), and what ``/usr/local/cuda``
    is: ``link`` (a plain symlink), ``alternatives`` (a symlink to ``/etc/alternatives/cuda``, as
    NVIDIA's packages make it), ``directory`` (a toolkit installed right there) or None (absent).
    Symlinks like NVIDIA's ``/usr/local/cuda-12`` are not toolkits.

    .. code:: python

        {"toolkits": ["12.6", "12.9"], "default": "12.9", "link": "alternatives"}
    """

    def command(self) -> str:
        return (
            'for d in /usr/local/cuda-*; do [ -d "$d" ] && [ ! -L "$d" ] && echo "toolkit ${d#/usr/local/cuda-}"; done; '
            'if [ -L /usr/local/cuda ]; then echo "link $(readlink /usr/local/cuda)"; '
            'echo "default $(readlink -f /usr/local/cuda)"; elif [ -d /usr/local/cuda ]; then echo directory; fi; true'
        )

    @staticmethod
    def default() -> CudaDict:
        return {"toolkits": [], "default": None, "link": None}

    def process(self, output) -> CudaDict:
        toolkits, default, link = [], None, None
        for line in output:
            kind, _, value = line.strip().partition(" ")
            if kind == "toolkit" and value:
                toolkits.append(value)
            elif kind == "default" and value.startswith("/usr/local/cuda-"):
                default = value.removeprefix("/usr/local/cuda-")
            elif kind == "link":
                link = "alternatives" if value == "/etc/alternatives/cuda" else "link"
            elif kind == "directory":
                link = "directory"
        return {
            "toolkits": sorted(toolkits, key=lambda v: tuple(int(x) for x in v.split(".") if x.isdigit())),
            "default": default,
            "link": link,
        }


# NVIDIA's functions on the PCI bus: "<slot> <device> <class>" each. Read with the shell's own `read`: a
# server has a few hundred PCI functions, and a `cat` each cost ~1 ms of a fork and exec (a planner read
# at every run). PciNvidiaGpus and NvSwitches read the same lines, run once in a batch (facts.batch).
NVIDIA_PCI = (
    'for d in /sys/bus/pci/devices/*; do [ -r "$d/vendor" ] && read -r v < "$d/vendor" || continue; '
    '[ "$v" = 0x10de ] || continue; read -r dev < "$d/device"; read -r cls < "$d/class"; echo "${d##*/} $dev $cls"; '
    "done; true"
)


class PciGpuDict(TypedDict):
    slot: str
    device: str
    pci_class: str


class PciNvidiaGpus(FactBase[list[PciGpuDict]]):
    """
    NVIDIA display and 3D controllers on the PCI bus (vendor ``0x10de``, class ``0x03xxxx``), read
    from ``/sys``: they are there before any driver is, when ``nvidia-smi`` is not. Audio functions
    of the same cards (class ``0x0403``) are not GPUs.

    .. code:: python

        [{"slot": "0000:01:00.0", "device": "0x28e0", "pci_class": "0x030000"}]
    """

    def command(self) -> str:
        return NVIDIA_PCI

    @staticmethod
    def default() -> list[PciGpuDict]:
        return []

    def process(self, output) -> list[PciGpuDict]:
        gpus: list[PciGpuDict] = []
        for line in output:
            parts = line.split()
            if len(parts) == 3 and parts[2].startswith("0x03"):
                gpus.append({"slot": parts[0], "device": parts[1], "pci_class": parts[2]})
        return gpus


class NvSwitches(FactBase[list[str]]):
    """
    NVIDIA NVSwitch bridges on the PCI bus (vendor ``0x10de``, class ``0x0680``: HGX 8-GPU boards
    such as A100/A800/H100 SXM), by slot: such a board needs the fabric manager beside the driver.

    .. code:: python

        ["0000:07:00.0", "0000:08:00.0"]
    """

    def command(self) -> str:
        return NVIDIA_PCI

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output) -> list[str]:
        return [
            parts[0] for parts in (line.split() for line in output) if len(parts) == 3 and parts[2].startswith("0x0680")
        ]


class NvidiaDisplays(FactBase[list[str]]):
    """
    Display outputs connected to an NVIDIA GPU (``/sys/class/drm/card*-*/status`` of cards whose
    vendor is ``0x10de``): a desktop runs on it, so its driver is the desktop one.

    .. code:: python

        ["card1-eDP-1"]
    """

    def command(self) -> str:
        return (
            'for c in /sys/class/drm/card*-*; do [ -r "$c/status" ] || continue; card=${c%%-*}; '
            '[ "$(cat "$card/device/vendor" 2>/dev/null)" = 0x10de ] && [ "$(cat "$c/status")" = connected ] '
            '&& echo "${c##*/}"; done; true'
        )

    @staticmethod
    def default() -> list[str]:
        return []

    def process(self, output) -> list[str]:
        return [line.strip() for line in output if line.strip().startswith("card")]


class NvidiaModule(FactBase[str | None]):
    """
    The version of the NVIDIA kernel module loaded now (``/sys/module/nvidia/version``); None when
    none is loaded. After a driver upgrade and before the reboot it is the old one.

    .. code:: python

        "580.95.05"
    """

    def command(self) -> str:
        return "cat /sys/module/nvidia/version 2>/dev/null; true"

    @staticmethod
    def default() -> str | None:
        return None

    def process(self, output) -> str | None:
        for line in output:
            if line.strip():
                return line.strip()
        return None


class SecureBootDict(TypedDict):
    enforcing: bool | None
    dkms_key_enrolled: bool


class SecureBoot(FactBase[SecureBootDict]):
    """
    Whether UEFI Secure Boot is enforcing (the last byte of the ``SecureBoot`` EFI variable, what
    ``mokutil --sb-state`` reads; None on a host booted without EFI, as most VMs and containers
    are), and whether DKMS's signing key (``/var/lib/dkms/mok.pub``, Debian's dkms signs the modules
    it builds with it) is enrolled as a Machine Owner Key, so DKMS-built modules load.

    .. code:: python

        {"enforcing": True, "dkms_key_enrolled": False}
    """

    def command(self) -> str:
        return (
            "if [ -d /sys/firmware/efi ]; then echo efi; "
            'for f in /sys/firmware/efi/efivars/SecureBoot-*; do [ -r "$f" ] && od -An -tu1 "$f"; done; fi; '
            "[ -r /var/lib/dkms/mok.pub ] && command -v mokutil >/dev/null && mokutil --test-key /var/lib/dkms/mok.pub; "
            "true"
        )

    @staticmethod
    def default() -> SecureBootDict:
        return {"enforcing": None, "dkms_key_enrolled": False}

    def process(self, output) -> SecureBootDict:
        lines = [line.strip() for line in output if line.strip()]
        enrolled = any("is already enrolled" in line for line in lines)
        if not lines or lines[0] != "efi":
            return {"enforcing": None, "dkms_key_enrolled": enrolled}
        values = [v for line in lines[1:] if line[0].isdigit() for v in line.split()]
        return {"enforcing": bool(values) and values[-1] == "1", "dkms_key_enrolled": enrolled}
