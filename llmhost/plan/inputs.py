"""The planner's input: what a host is (HostFacts), built from its live facts (llmhost.facts) or
from a hardware file (llmhost.hardware)."""

from __future__ import annotations

from dataclasses import dataclass, field

from llmhost.gpus import driver_tuple


def owned_record(root: str) -> str:
    """Where llmhost keeps its record of what it created on a host."""
    return f"{root}/owned.json"


def directories_record(root: str) -> str:
    """Where llmhost keeps its record of the directories it made on a host (the system layer writes
    it as soon as they are made: a run that stops after the driver has made them too)."""
    return f"{root}/owned-directories.json"


def webui_data_dir(root: str) -> str:
    """Open WebUI's database and uploads (the service user's, kept across upgrades)."""
    return f"{root}/webui"


# vLLM's API key on every route (llmhost/hostside/llmhost_vllm_auth.py): the module llmhost installs
# into <root>/lib, and the class vLLM's --middleware names
VLLM_AUTH = "llmhost_vllm_auth.KeyOnEveryRoute"


def lib_dir(root: str) -> str:
    """Where llmhost's host-side Python modules are, for an engine's PYTHONPATH (root's, mode 755)."""
    return f"{root}/lib"


@dataclass(frozen=True)
class Owned:
    """A supervised process llmhost created on a host and the files it wrote for it, as its record
    there says (``<llmhost_root>/owned.json``): only these are ever stopped and removed."""

    unit: str  # the systemd unit (without .service) or tmux session
    supervisor: str  # systemd | tmux
    files: tuple[str, ...]

    def as_record(self) -> dict:
        return {"supervisor": self.supervisor, "files": list(self.files)}


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_mib: int
    compute_capability: str | None
    driver: str | None = None  # the NVIDIA driver version nvidia-smi reports (None: unknown)
    memory_used_mib: int = 0  # taken by processes that are not llmhost's engines (a desktop, another job)


@dataclass(frozen=True)
class HostFacts:
    """What the planner knows about a host (built from facts, or from a hardware file)."""

    os_id: str
    os_version: str
    wsl: bool
    systemd: bool
    arch: str
    cores: int
    cpu_online: str
    cpu_flags: frozenset[str]
    memory_bytes: int
    numa_nodes: int = 1
    gpus: tuple[Gpu, ...] = ()
    disk_free_bytes: int | None = None
    disk_mount: str | None = None  # the mount point of the file system that holds the model store
    # bytes already under each model directory on the host (path -> bytes; missing: nothing there)
    model_bytes: tuple[tuple[str, int], ...] = ()
    os_codename: str = ""
    apt_source_files: tuple[str, ...] = ()  # which of the distribution's apt sources files exist
    # version of llmhost_python on the host ("3.11.2"); "" when the host has no such interpreter;
    # None when unknown (a plan from a hardware file)
    python_version: str | None = None
    # where others may not enter on the way to llmhost_python ("/root (mode 700)"; "": open to the service user)
    python_unreachable: str = ""
    # of the ports the data names, those something listens on: (port, pid, executable, command
    # line, user); pid 0 where the process is not to be seen (another user's, in a container)
    listening: tuple[tuple[int, int, str, str, str], ...] = ()
    cuda_toolkits: tuple[str, ...] = ()  # CUDA toolkits under /usr/local/cuda-X.Y
    cuda_default: str | None = None  # the one /usr/local/cuda resolves to
    cuda_link: str | None = None  # what /usr/local/cuda is: link | alternatives | directory | None
    pci_gpus: int = 0  # NVIDIA GPUs on the PCI bus (seen with or without a driver)
    nvidia_module: str | None = None  # the NVIDIA kernel module loaded now
    secure_boot: bool | None = None  # UEFI Secure Boot enforcing (None: not an EFI boot, or unknown)
    dkms_key_enrolled: bool = False  # DKMS's signing key is an enrolled MOK (its modules load)
    kernel: str = ""  # uname -r (the headers DKMS builds against)
    nvidia_packages: frozenset[str] = frozenset()  # installed Debian packages of NVIDIA's (nvidia-*, cuda-*)
    deb_packages: frozenset[str] = (
        frozenset()
    )  # every installed Debian package (what the system layer need not install)
    memory_limit_bytes: int | None = None  # the cgroup limit of a container, below memory_bytes (None: none)
    shm_bytes: int | None = None  # the size of /dev/shm (None: unknown, e.g. a hardware file)
    shm_growable: bool = False  # llmhost may remount /dev/shm larger (root with CAP_SYS_ADMIN, a tmpfs)
    nofile_hard: int | None = None  # the hard open-files limit tmux sessions inherit (None: unknown or unlimited)
    owned: tuple[Owned, ...] = ()  # what llmhost's record on the host says it created (None recorded: nothing)
    # the directories llmhost may make that exist: (path, type, permission bits, owner); type is
    # directory | file | link | other (a link not followed)
    paths: tuple[tuple[str, str, int, str], ...] = ()
    # the directories llmhost's record says it made; None: a host provisioned before that record
    # (its owned.json is there, and llmhost made what it finds of its directories)
    made_directories: tuple[str, ...] | None = ()
    nvidia_smi: str | None = None  # the nvidia-smi that read the GPUs (WSL's is in /usr/lib/wsl/lib)
    pci_gpu_devices: tuple[str, ...] = ()  # PCI device ids of the NVIDIA GPUs ("0x2684")
    nvswitches: int = 0  # NVSwitch bridges on PCI (HGX boards: they need the fabric manager)
    nvidia_displays: int = 0  # connected display outputs of NVIDIA GPUs (a desktop runs on them)
    # (interface, its IPv4 addresses) of every network interface; None: not read (only the nodes of a
    # service across hosts read them)
    interfaces: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    @property
    def gpu_driver(self) -> str | None:
        """The oldest NVIDIA driver its GPUs report (inside WSL: Windows'); None: not known."""
        drivers = {g.driver for g in self.gpus if g.driver}
        return min(drivers, key=driver_tuple) if drivers else None

    @property
    def usable_memory_bytes(self) -> int:
        """What the host's processes may use: the machine's memory, or a container's limit below it."""
        return min(self.memory_bytes, self.memory_limit_bytes or self.memory_bytes)


@dataclass(frozen=True)
class Backend:
    """A service of a host of the inventory, as a gateway plans to reach it: from that host's data
    (the controller has every host's data; a gateway never reads another host's facts)."""

    host: str  # the inventory name of the host that serves it
    local: bool  # served on the gateway's own host
    address: str  # where that host is reached (its llmhost_address, ssh_hostname, or name)
    index: int  # its index in that host's llmhost_services
    name: str
    engine: str
    bind: str
    port: int
    served_model_name: str
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GatewayInputs:
    """What a gateway's or a web UI's plan reads beyond its own host: the inventory's services (from
    the data of every host), the hosts' names, and the secrets kept on the controller (the data's, or
    generated there once): the gateway's master key, the web UI's admin password and session secret."""

    host: str  # this host's inventory name
    inventory: tuple[str, ...]
    backends: tuple[Backend, ...]
    master_key: str = field(default="", repr=False)
    webui_password: str = field(default="", repr=False)
    webui_secret: str = field(default="", repr=False)
    # every host's gateway (a Backend named "gateway", its master key as api_key), for monitoring
    gateways: tuple[Backend, ...] = field(default=(), repr=False)
    # (host, service) -> (the slowest p99 TTFT of its newest benchmark record, s; the record's path)
    first_tokens: tuple[tuple[tuple[str, str], tuple[float, str]], ...] = ()
    grafana_password: str = field(default="", repr=False)  # llmhost_monitoring.grafana's admin's
