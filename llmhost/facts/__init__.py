"""pyinfra facts of llmhost, and the one place that turns them into the planner's input."""

from __future__ import annotations

from pyinfra.facts.deb import DebPackages
from pyinfra.facts.hardware import NetworkDevices
from pyinfra.facts.server import KernelVersion

from llmhost.distros import DEBIAN_SOURCES
from llmhost.facts import prefetch
from llmhost.facts.batch import read_facts
from llmhost.facts.files import PathStates
from llmhost.facts.host import (
    AptSourceFiles,
    Cpu,
    DiskFree,
    DiskMount,
    LinuxOs,
    Memory,
    NumaNodes,
    OpenFiles,
    SharedMemory,
    SystemdIsPid1,
    Wsl,
)
from llmhost.facts.model import ModelDir
from llmhost.facts.nvidia import (
    CudaToolkits,
    NvidiaComputeApps,
    NvidiaDisplays,
    NvidiaGpus,
    NvidiaModule,
    NvSwitches,
    PciNvidiaGpus,
    SecureBoot,
)
from llmhost.facts.pip import PythonReach, PythonVersion
from llmhost.facts.ports import ListeningPorts
from llmhost.facts.records import OwnedDirectories, OwnedRecord
from llmhost.plan import Gpu, HostFacts, Owned, directories_record, owned_record

# the installed packages the planner reads: NVIDIA's driver, toolkits and repository keyring
NVIDIA_PACKAGE_PREFIXES = ("nvidia-", "cuda-", "libnvidia-")


def host_facts(
    host,
    root: str = "/opt/llmhost",
    model_dirs: tuple[tuple[str, str], ...] = (),
    python: str = "python3",
    network: bool = False,
    also: tuple[tuple[type, dict], ...] = (),
    ports: tuple[int, ...] = (),
    directories: tuple[str, ...] = (),
) -> HostFacts:
    """Read the facts the planner needs from a live pyinfra host (one round trip for most of them).

    ``model_dirs``: (directory, manifest) of the models to be fetched; the bytes already there let
    the planner check a download against the free disk. ``python``: the interpreter the venvs are
    made with (llmhost_python), whose version the planner checks. ``network``: read the IPv4
    addresses of its interfaces too (a node of a service across hosts). ``ports``: those the data
    listens on (who holds them). ``directories``: those the system layer makes (what is there, and
    which of them llmhost's record says it made; the layer's own read of them is answered too). ``also``: facts the
    layers will read, read in the same round trip and handed to them (``prefetch.answered``).
    """
    # one round trip for every fact that does not depend on another (pyinfra 3 caches none)
    (
        os_,
        cpu,
        cuda,
        secure_boot,
        gpus,
        pci,
        memory,
        shm,
        apt_files,
        wsl,
        systemd,
        nofile,
        owned,
        numa,
        disk_free,
        disk_mount,
        python_version,
        python_reach,
        listening,
        paths,
        made_directories,
        nvswitches,
        nvidia_module,
        kernel,
        deb_packages,
        *models,
    ) = read_facts(
        host,
        [
            (LinuxOs, ()),
            (Cpu, ()),
            (CudaToolkits, ()),
            (SecureBoot, ()),
            (NvidiaGpus, ()),
            (PciNvidiaGpus, ()),
            (Memory, ()),
            (SharedMemory, ()),
            (AptSourceFiles, (("paths", DEBIAN_SOURCES),)),
            (Wsl, ()),
            (SystemdIsPid1, ()),
            (OpenFiles, ()),
            (OwnedRecord, (("path", owned_record(root)),)),
            (NumaNodes, ()),
            (DiskFree, (("path", f"{root}/models"),)),
            (DiskMount, (("path", f"{root}/models"),)),
            (PythonVersion, (("python", python),)),
            (PythonReach, (("python", python),)),
            (ListeningPorts, (("ports", tuple(sorted(set(ports)))),)),
            (PathStates, (("paths", directories),)),
            (OwnedDirectories, (("owned", owned_record(root)), ("path", directories_record(root)))),
            (NvSwitches, ()),
            (NvidiaModule, ()),
            (KernelVersion, ()),
            (DebPackages, ()),
            *((ModelDir, (("path", path), ("manifest", manifest))) for path, manifest in model_dirs),
            *(((NetworkDevices, ()),) if network else ()),
            *((cls, tuple(sorted(kwargs.items()))) for cls, kwargs in also),
        ],
    )
    prefetch.answered(host, PathStates, paths, paths=directories)
    for (cls, kwargs), value in zip(also, models[len(models) - len(also) :]):
        prefetch.answered(host, cls, value, **kwargs)
    del models[len(models) - len(also) :]
    devices = models.pop() if network else {}
    ours = host.get_fact(NvidiaComputeApps, root=root) if any(g["memory_used_mib"] for g in gpus) else {}
    return HostFacts(
        os_id=os_["id"],
        os_version=os_["version"],
        os_codename=os_["codename"],
        apt_source_files=tuple(apt_files) if os_["id"] == "debian" else (),
        wsl=wsl,
        systemd=systemd,
        arch=cpu["arch"],
        cores=cpu["cores"],
        cpu_online=cpu["online"],
        cpu_flags=frozenset(cpu["flags"]),
        memory_bytes=memory["total_bytes"],
        memory_limit_bytes=memory["limit_bytes"],
        shm_bytes=shm["size_bytes"],
        shm_growable=shm["can_remount"],
        nofile_hard=nofile["hard"],
        owned=tuple(Owned(unit, entry["supervisor"], tuple(entry["files"])) for unit, entry in sorted(owned.items())),
        numa_nodes=max(1, len(numa)),
        gpus=tuple(
            Gpu(
                g["name"],
                g["memory_mib"],
                g["compute_capability"],
                g["driver_version"] or None,
                max(0, g["memory_used_mib"] - ours.get(g["uuid"] or "", 0)),
            )
            for g in gpus
        ),
        nvidia_smi=gpus[0]["nvidia_smi"] if gpus else None,
        disk_free_bytes=disk_free,
        disk_mount=disk_mount,
        model_bytes=tuple((path, sum(model["sizes"].values())) for (path, _), model in zip(model_dirs, models)),
        python_version=python_version,
        python_unreachable=python_reach,
        listening=tuple(tuple(held) for held in listening),
        paths=tuple((path, p["type"], p["mode"], p["user"]) for path, p in sorted(paths.items())),
        made_directories=None if made_directories is None else tuple(made_directories),
        cuda_toolkits=tuple(cuda["toolkits"]),
        cuda_default=cuda["default"],
        cuda_link=cuda["link"],
        pci_gpus=len(pci),
        pci_gpu_devices=tuple(d["device"] for d in pci),
        nvswitches=len(nvswitches),
        nvidia_displays=len(host.get_fact(NvidiaDisplays)) if gpus or pci else 0,
        nvidia_module=nvidia_module,
        secure_boot=secure_boot["enforcing"],
        dkms_key_enrolled=secure_boot["dkms_key_enrolled"],
        kernel=kernel or "",
        deb_packages=frozenset(deb_packages),
        nvidia_packages=frozenset(name for name in deb_packages if name.startswith(NVIDIA_PACKAGE_PREFIXES)),
        interfaces=tuple(sorted((name, _ipv4(device)) for name, device in (devices or {}).items()))
        if network
        else None,
    )


def _ipv4(device: dict) -> tuple[str, ...]:
    """An interface's IPv4 addresses as pyinfra's NetworkDevices reads them (``ip -j addr``)."""
    ipv4 = device.get("ipv4") or {}
    first = (ipv4["address"],) if ipv4.get("address") else ()
    return first + tuple(more["address"] for more in ipv4.get("additional_ips", ()) if more.get("address"))
