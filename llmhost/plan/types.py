"""The planner's output: frozen plan objects, which the layers read and never change. No decisions
here: properties only name paths a decision already fixed."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyinfra.api.exceptions import DeployError

from llmhost.engines import Archive, SourceBuild
from llmhost.gpus import CUDA_KEYRING

GiB = 1024**3


def gib(n: float) -> str:
    return f"{n / GiB:.2f} GiB"


def bind_url(bind: str, port: int) -> str:
    """Where a client on the host reaches a server bound to ``bind`` (a wildcard: loopback)."""
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(bind, bind)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class PlanError(DeployError):
    """A wish that cannot be satisfied; the message is one line naming the key and the numbers."""


@dataclass(frozen=True)
class AptPlan:
    """The host's apt sources: a mirror (``uri``), or the distribution's own (``uri`` None: the
    original is restored from the backup llmhost made, if it made one)."""

    file: str
    template: str
    uri: str | None
    codename: str
    suites: tuple[str, ...]
    components: str
    keyring: str
    security_uri: str
    security_suite: str
    mirror_name: str

    @property
    def backup(self) -> str:
        return f"{self.file}.llmhost-orig"


@dataclass(frozen=True)
class DriverPlan:
    """The NVIDIA driver the planned engines need: ``minimum`` for their ``cuda`` (None: GPUs seen
    only on PCI, no driver yet, so the branch whatever they run); ``install`` the ``branch`` by
    ``method`` (ubuntu-drivers | nvidia-repo) when the host's driver (``found``) is older or missing
    (never inside WSL). ``packages``: what the installed branch leaves on the host (the install's
    no-op check); ``headers``: the kernel headers DKMS builds against. ``reboot``: the new module
    loads only after a reboot (installed by this run, or by an earlier one)."""

    cuda: str | None
    minimum: str | None
    found: str | None
    install: bool
    branch: str
    method: str = ""
    packages: tuple[str, ...] = ()
    headers: str | None = None
    reboot: bool = False
    command: tuple[str, ...] = ()  # ubuntu-drivers' arguments, or NVIDIA's packages in install order
    flavour: str = ""  # server | desktop, open | proprietary kernel modules (said in the reasons)
    fabric: tuple[str, ...] = ()  # the NVSwitch fabric manager's packages (none: no NVSwitch)


@dataclass(frozen=True)
class CudaRepoPlan:
    """NVIDIA's apt repository for the host's distribution (``distro``: ubuntu2404, wsl-ubuntu, ...)."""

    base: str
    distro: str
    arch: str
    driver_pin: str | None = None  # Ubuntu: the apt preferences file holding its driver packages to Ubuntu's
    keyring_sha256: str = ""  # what its cuda-keyring package must hash to before dpkg installs it

    @property
    def url(self) -> str:
        return f"{self.base}/{self.distro}/{self.arch}/"

    @property
    def keyring_url(self) -> str:
        return f"{self.url}{CUDA_KEYRING}"

    @property
    def sources_file(self) -> str:
        # the name NVIDIA's cuda-keyring package gives it, so llmhost's file replaces its own
        return f"/etc/apt/sources.list.d/cuda-{self.distro}-{self.arch}.list"


@dataclass(frozen=True)
class CudaPlan:
    """``/usr/local/cuda`` -> ``/usr/local/cuda-<version>``, through update-alternatives when
    ``alternatives`` (NVIDIA's packages manage the link), else a plain symlink."""

    version: str
    alternatives: bool
    installing: bool = False  # the toolkit is installed earlier in the same run
    link: str = "/usr/local/cuda"
    profile: str = "/etc/profile.d/cuda.sh"

    @property
    def toolkit(self) -> str:
        return f"/usr/local/cuda-{self.version}"


@dataclass(frozen=True)
class ShmPlan:
    """``/dev/shm`` remounted at ``size_bytes`` (a tmpfs takes memory only as it fills), and kept so
    in ``/etc/fstab`` (systemd applies it to the API file system at boot)."""

    size_bytes: int
    path: str = "/dev/shm"

    @property
    def option(self) -> str:
        """The size as the kernel shows it in the mount's options."""
        return f"size={self.size_bytes // 1024}k"

    @property
    def fstab_line(self) -> str:
        return f"tmpfs {self.path} tmpfs rw,nosuid,nodev,{self.option} 0 0"


@dataclass(frozen=True)
class CondaPlan:
    """Miniforge under ``prefix``, installed from ``installer`` (checked against ``sha256``, or the
    ``.sha256`` published beside it), with a ``.condarc`` of conda-forge only (``forge_base``: the
    mirror host serving conda-forge; None: conda.anaconda.org)."""

    prefix: str
    version: str
    installer: str
    sha256: str | None
    forge_base: str | None
    installer_key: str = "llmhost_conda_installer_url"  # the data key that set ``installer``

    @property
    def condarc(self) -> str:
        return f"{self.prefix}/.condarc"


@dataclass(frozen=True)
class EnginePlan:
    """One versioned venv (``venv``: its requirements and Python decide its name) and the stable
    ``link`` (``<engine>-current``) that services and tools run through."""

    engine: str
    version: str
    variant: str
    venv: str
    python: str
    requirements: tuple[str, ...]
    remove: tuple[str, ...]
    pip_index_url: str | None
    pip_extra_index_urls: tuple[str, ...]
    pip_find_links: tuple[str, ...]
    pip_no_index: bool
    link: str = ""
    module: str = ""  # imported by the new venv's Python before the link switches to it
    keep: int = 2  # versioned venvs of this engine kept, the current one included
    conda: str | None = None  # the conda that creates this env (``python`` is then a version: "3.10")
    cuda: str | None = None  # the CUDA the engine's wheels are built with (None: not a CUDA build)
    build: SourceBuild | None = None  # built from source with cmake into ``venv`` (llama.cpp)
    source_url: str | None = None  # where the host fetches the build's source archive
    build_flags: tuple[str, ...] = ()  # cmake -D flags (the release's and the backend's)
    build_jobs: int = 1
    archive: Archive | None = None  # unpacked from a release archive into ``venv`` (Ollama)
    # what the host fetches it from (URL, the data key that sets it), probed before an install
    reach: tuple[tuple[str, str], ...] = ()
    python_version: str | None = None  # the env's Python ("3.12"; a venv: the host's, None where unknown)
    python_range: str | None = None  # the release's Requires-Python
    host_python: str | None = None  # the host's Python, where it is outside python_range (a conda env instead)
    driver_minimum: str | None = None  # the oldest NVIDIA driver its CUDA runs on (inside WSL: Windows')
    # vLLM: what its check runs beyond the import: llmhost-hosttool's vllm-check with each service's
    # arguments (JSON), so a venv becomes current only where its vLLM accepts the planned options
    check_tool: str | None = None
    serves: tuple[str, ...] = ()
    pip_timeout: int = 20  # seconds pip waits for each request (pip.conf), and
    pip_retries: int = 2  # its retries: an unreachable index cannot hold a run for long

    def summary(self) -> dict:
        """What an engine is, to hold a plan against upstream: its env's Python, its CUDA, the driver it needs."""
        return {"engine_python": self.python_version, "engine_cuda": self.cuda, "driver_minimum": self.driver_minimum}

    @property
    def binary(self) -> str | None:
        """A built or unpacked engine's server binary (None: a Python engine)."""
        return self.build.binary if self.build else self.archive.binary if self.archive else None

    @property
    def server_bin(self) -> str:
        """A built or unpacked engine's server binary, through the link."""
        return f"{self.link}/bin/{self.binary}"

    @property
    def check(self) -> tuple[str, ...]:
        """What proves a new env works before the link moves to it."""
        if self.binary:
            return (f"{self.venv}/bin/{self.binary}", "--version")
        if self.serves and self.check_tool:
            return (
                f"{self.venv}/bin/python",
                self.check_tool,
                "vllm-check",
                *(arg for service in self.serves for arg in ("--service", service)),
            )
        return (f"{self.venv}/bin/python", "-c", f"import {self.module}")

    @property
    def python_bin(self) -> str:
        """The Python services and tools run: through the link, so an upgrade never edits them."""
        return f"{self.link}/bin/python"

    @property
    def pip_bin(self) -> str:
        return f"{self.venv}/bin/pip"


@dataclass(frozen=True)
class ModelPlan:
    spec: str  # recorded as the manifest's source (see settings.ModelSource.spec)
    source: str  # "hf" | "modelscope" | "controller" | "host"
    ref: str
    revision: str | None  # as asked for; a lock entry pins the resolved commit in ``locked``
    path: str  # directory on the host
    manifest: str  # manifest path on the host
    locked: dict | None = None  # hub models: the controller's lock entry (revision + hashes)
    lock_file: str | None = None  # hub models: where the host's manifest is kept on the controller
    size_bytes: int | None = None  # what the whole model takes on disk, where known before fetching
    file: str | None = None  # hub models: the one file fetched (a GGUF), else the whole repository

    @property
    def fetch_revision(self) -> str | None:
        """The revision a fetch asks the hub for: the locked commit, else the one written."""
        return self.locked["revision"] if self.locked else self.revision


@dataclass(frozen=True)
class ConvertPlan:
    """A GGUF made on the host from the service's HF checkpoint with llama.cpp's converter and
    llama-quantize (the service asks with ``gguf``)."""

    source: str  # the checkpoint's directory
    source_manifest: str
    output: str  # the GGUF; its directory is a model directory of its own, with a manifest beside it
    manifest: str
    quant: str
    outtype: str  # what convert_hf_to_gguf.py writes before llama-quantize
    python: str  # the converter venv's
    script: str
    quantize: str
    spec: str  # the GGUF's manifest source
    threads: int
    tools: EnginePlan  # the llama.cpp build whose converter and llama-quantize make it


def unit_of(name: str) -> str:
    """The systemd unit (without .service) or tmux session of what llmhost supervises as ``name``."""
    return f"llmhost-{name}"


@dataclass(frozen=True, kw_only=True)
class SupervisedProcess:
    """A process llmhost supervises, as a systemd unit or a tmux session: an engine service, the
    gateway, the web UI. The unit and launcher templates, the env file, the restart, the verify
    layer and `llmhost status` read these fields alone."""

    name: str
    engine: EnginePlan  # the venv (or build) it runs from
    bind: str
    port: int
    served_model_name: str  # what its unit's header names (a service's model; the gateway's groups)
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    secret_env: tuple[tuple[str, str], ...] = field(repr=False)  # in the env file only
    unit: str  # tmux session / systemd unit name (without .service)
    launcher: str  # tmux: the script the session runs
    unit_file: str  # systemd: the unit file
    env_file: str  # its secrets (API keys, passwords), mode 0600
    log: str
    health_url: str
    reasons: tuple[str, ...]
    errors: tuple[str, ...] = ()  # regular expressions of its log lines that name why it died
    health_path: str = "/health"
    key_file: str | None = None  # an API key generated on the host once, when none is given

    @staticmethod
    def files(name: str, root: str, env_dir: str) -> dict[str, str]:
        """Its name, unit and the paths of its files: where every supervised process's are made."""
        unit = unit_of(name)
        return {
            "name": name,
            "unit": unit,
            "launcher": f"{root}/run/{name}.sh",
            "unit_file": f"/etc/systemd/system/{unit}.service",
            "env_file": f"{env_dir}/{name}.env",
            "log": f"{root}/logs/{name}.log",
        }

    @property
    def secret_files(self) -> tuple[str, ...]:
        return tuple(f for f in (self.env_file, self.key_file) if f)

    def supervisor_file(self, supervisor: str) -> str:
        """What its supervisor runs it from: the unit file (systemd) or the launcher (tmux)."""
        return self.unit_file if supervisor == "systemd" else self.launcher


@dataclass(frozen=True, kw_only=True)
class ServicePlan(SupervisedProcess):
    """An engine serving one model (Ollama's services share its daemon's unit and files)."""

    model: ModelPlan
    dtype: str
    quantization: str | None
    tensor_parallel_size: int
    pipeline_parallel_size: int
    gpu_memory_utilization: float | None
    max_model_len: int | None  # None: the engine reads the model's own from its config.json
    max_num_seqs: int
    api_key_var: str  # the variable the engine reads its API key from (VLLM_API_KEY, LLAMA_API_KEY)
    health_path: str = "/health"  # Ollama: "/" ("Ollama is running")
    modelfile: str | None = None  # Ollama: where the model's Modelfile is kept on the host
    modelfile_text: str | None = None
    model_file: str | None = None  # the GGUF file served (llama.cpp, Ollama)
    convert: ConvertPlan | None = None  # the GGUF is made on the host from the HF checkpoint
    gpus: tuple[int, ...] = ()  # the GPUs it computes on, by index (none: the CPU)
    nodes: tuple[str, ...] = ()  # a service across hosts: its nodes' inventory names, the head first
    node_rank: int = 0  # this host's index in nodes

    @property
    def headless(self) -> bool:
        """A worker node of a service across hosts: no API server here (the head serves, and is checked)."""
        return self.node_rank > 0

    def summary(self) -> dict:
        """The JSON shape of `llmhost plan --json` (secrets left out)."""
        return {
            "name": self.name,
            "engine": self.engine.engine,
            "engine_version": self.engine.version,
            **self.engine.summary(),
            "dtype": self.dtype,
            "quantization": self.quantization,
            "tensor_parallel_size": self.tensor_parallel_size,
            "pipeline_parallel_size": self.pipeline_parallel_size,
            **({"nodes": list(self.nodes), "node_rank": self.node_rank} if self.nodes else {}),
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "max_model_len": self.max_model_len,
            "max_num_seqs": self.max_num_seqs,
            "argv": list(self.argv),
            "env": dict(self.env),
            "reasons": list(self.reasons),
        }


@dataclass(frozen=True)
class OllamaPlan:
    """The one Ollama daemon of a host: its install, the official unit, every setting in the
    drop-in (or the tmux launcher's environment), and the models its services import."""

    engine: EnginePlan
    bind: str
    port: int
    env: tuple[tuple[str, str], ...]  # OLLAMA_* (and CUDA) settings: override.conf's Environment=
    cpu_affinity: str | None  # CPUAffinity= of the daemon (a CPU share among CPU services)
    models_dir: str
    user: str = "ollama"
    home: str = "/usr/share/ollama"  # the official install's home of the ollama user
    bin_link: str = "/usr/local/bin/ollama"  # where the official unit runs it from
    unit: str = "ollama"
    unit_file: str = "/etc/systemd/system/ollama.service"
    dropin: str = "/etc/systemd/system/ollama.service.d/override.conf"
    launcher: str = ""  # tmux
    log: str = ""

    @property
    def url(self) -> str:
        return bind_url(self.bind, self.port)


@dataclass(frozen=True)
class Teardown:
    """Something llmhost created that the plan no longer wants: its unit or tmux session stopped
    (``stop``; systemd: disabled too) and ``files`` removed."""

    unit: str
    supervisor: str
    stop: bool
    files: tuple[str, ...]
