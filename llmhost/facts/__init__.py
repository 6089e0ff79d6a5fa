"""pyinfra facts of llmhost, and the one place that turns them into the planner's input."""

from __future__ import annotations

from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import KernelVersion

from llmhost.engines import DEBIAN_SOURCES
from llmhost.facts.host import (
    AptSourceFiles,
    Cpu,
    CudaToolkits,
    DiskFree,
    LinuxOs,
    Memory,
    NumaNodes,
    NvidiaComputeApps,
    NvidiaDisplays,
    NvidiaGpus,
    NvidiaModule,
    NvSwitches,
    OpenFiles,
    OwnedRecord,
    PciNvidiaGpus,
    SecureBoot,
    SharedMemory,
    SystemdIsPid1,
    Wsl,
)
from llmhost.facts.model import ModelDir
from llmhost.facts.pip import PythonVersion
from llmhost.plan import Gpu, HostFacts, Owned, owned_record

# the installed packages the planner reads: NVIDIA's driver, toolkits and repository keyring
NVIDIA_PACKAGE_PREFIXES = ("nvidia-", "cuda-", "libnvidia-")


def host_facts(
    host, root: str = "/opt/llmhost", model_dirs: tuple[tuple[str, str], ...] = (), python: str = "python3"
) -> HostFacts:
    """Read the facts the planner needs from a live pyinfra host (one round trip per fact).

    ``model_dirs``: (directory, manifest) of the models to be fetched; the bytes already there let
    the planner check a download against the free disk. ``python``: the interpreter the venvs are
    made with (llmhost_python), whose version the planner checks.
    """
    os_ = host.get_fact(LinuxOs)
    cpu = host.get_fact(Cpu)
    cuda = host.get_fact(CudaToolkits)
    secure_boot = host.get_fact(SecureBoot)
    gpus = host.get_fact(NvidiaGpus)
    ours = host.get_fact(NvidiaComputeApps, root=root) if any(g["memory_used_mib"] for g in gpus) else {}
    pci = host.get_fact(PciNvidiaGpus)
    memory = host.get_fact(Memory)
    shm = host.get_fact(SharedMemory)
    return HostFacts(
        os_id=os_["id"],
        os_version=os_["version"],
        os_codename=os_["codename"],
        apt_source_files=tuple(host.get_fact(AptSourceFiles, paths=DEBIAN_SOURCES)) if os_["id"] == "debian" else (),
        wsl=host.get_fact(Wsl),
        systemd=host.get_fact(SystemdIsPid1),
        arch=cpu["arch"],
        cores=cpu["cores"],
        cpu_online=cpu["online"],
        cpu_flags=frozenset(cpu["flags"]),
        memory_bytes=memory["total_bytes"],
        memory_limit_bytes=memory["limit_bytes"],
        shm_bytes=shm["size_bytes"],
        shm_growable=shm["can_remount"],
        nofile_hard=host.get_fact(OpenFiles)["hard"],
        owned=tuple(
            Owned(unit, entry["supervisor"], tuple(entry["files"]))
            for unit, entry in sorted(host.get_fact(OwnedRecord, path=owned_record(root)).items())
        ),
        numa_nodes=max(1, len(host.get_fact(NumaNodes))),
        gpus=tuple(
            Gpu(g["name"], g["memory_mib"], g["compute_capability"], g["driver_version"] or None,
                max(0, g["memory_used_mib"] - ours.get(g["uuid"] or "", 0)))
            for g in gpus
        ),
        nvidia_smi=gpus[0]["nvidia_smi"] if gpus else None,
        disk_free_bytes=host.get_fact(DiskFree, path=f"{root}/models"),
        model_bytes=tuple(
            (path, sum(host.get_fact(ModelDir, path=path, manifest=manifest)["sizes"].values()))
            for path, manifest in model_dirs
        ),
        python_version=host.get_fact(PythonVersion, python=python),
        cuda_toolkits=tuple(cuda["toolkits"]),
        cuda_default=cuda["default"],
        cuda_link=cuda["link"],
        pci_gpus=len(pci),
        pci_gpu_devices=tuple(d["device"] for d in pci),
        nvswitches=len(host.get_fact(NvSwitches)),
        nvidia_displays=len(host.get_fact(NvidiaDisplays)) if gpus or pci else 0,
        nvidia_module=host.get_fact(NvidiaModule),
        secure_boot=secure_boot["enforcing"],
        dkms_key_enrolled=secure_boot["dkms_key_enrolled"],
        kernel=host.get_fact(KernelVersion) or "",
        nvidia_packages=frozenset(
            name for name in host.get_fact(DebPackages) if name.startswith(NVIDIA_PACKAGE_PREFIXES)
        ),
    )
