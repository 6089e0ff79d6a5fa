"""The GPU stack under the engines: the NVIDIA driver their CUDA needs (installed the distribution's
way, never inside WSL; reboots only when allowed), NVIDIA's apt repository and the toolkits side by
side, the /usr/local/cuda link, and the CUDA environment of a service. The compatibility chain is
data (llmhost/gpus.py, llmhost/engines.py); this module reads it."""

from __future__ import annotations

from llmhost.gpus import (
    CUDA_KEYRING,
    CUDA_MIN_DRIVER,
    CUDA_REPO_ARCHS,
    CUDA_REPO_DISTROS,
    CUDA_REPO_WSL,
    DRIVER_BRANCH,
    DRIVER_METHODS,
    architecture,
    compute_capability,
    driver_packages,
    driver_tuple,
)
from llmhost.plan.inputs import HostFacts
from llmhost.plan.types import CudaPlan, CudaRepoPlan, DriverPlan, EnginePlan, PlanError
from llmhost.settings import Settings


def driver(facts: HostFacts, engines: list[EnginePlan]) -> tuple[DriverPlan | None, list[str]]:
    """The compatibility chain, from data (llmhost/gpus.py, llmhost/engines.py): each GPU's
    architecture bounds the CUDA it can run; the engines' CUDA needs a driver at least as new as
    its toolkit's; a driver that is older or missing is installed (branch DRIVER_BRANCH), except
    inside WSL, where the driver is Windows'."""
    needs = [(e, e.cuda) for e in engines if e.cuda]
    if not needs or not facts.gpus:
        return None, []
    engine, cuda = max(needs, key=lambda n: driver_tuple(CUDA_MIN_DRIVER[n[1]]))
    minimum = CUDA_MIN_DRIVER[cuda]
    what = f"CUDA {cuda} of {engine.engine} {engine.version}"
    reasons = []
    for gpu in {g.name: g for g in facts.gpus}.values():
        arch, newest, last_branch = architecture(compute_capability(gpu.name, gpu.compute_capability) or 0)
        if newest and driver_tuple(cuda) > driver_tuple(newest):
            raise PlanError(f"host: {gpu.name} ({arch}) runs CUDA up to {newest}; {what} is newer (llmhost/gpus.py)")
        if last_branch and driver_tuple(last_branch) < driver_tuple(DRIVER_BRANCH):
            raise PlanError(f"host: {gpu.name} ({arch}) is not supported by driver branch {DRIVER_BRANCH} (last: {last_branch})")
        reasons.append(f"gpu {gpu.name}: {arch}" + (f", CUDA up to {newest}, driver branches up to {last_branch}" if newest else ""))
    drivers = {g.driver for g in facts.gpus if g.driver}
    found = min(drivers, key=driver_tuple) if drivers else None
    ok = found is not None and driver_tuple(found) >= driver_tuple(minimum)
    source = "CUDA Toolkit release notes, Table 3"
    if facts.wsl:
        if found is not None and not ok:
            raise PlanError(
                f"driver: inside WSL the NVIDIA driver is Windows' ({found}); {what} needs >= {minimum} ({source}): "
                "update the NVIDIA driver on Windows"
            )
        reasons.append("driver: Windows' (WSL: never installed here; libcuda from /usr/lib/wsl/lib)"
                       + (f", {found} >= {minimum} for {what}" if found else f"; {what} needs >= {minimum}"))  # fmt: skip
        return DriverPlan(cuda, minimum, found, False, DRIVER_BRANCH), reasons
    if found is None:  # a hardware file without gpus[].driver (a live host's GPUs come with theirs)
        reasons.append(f"driver: not known (the hardware file gives none); {what} needs >= {minimum} ({source})")
        return DriverPlan(cuda, minimum, None, False, DRIVER_BRANCH), reasons
    if ok:
        reasons.append(f"driver: {found} satisfies {what} (>= {minimum}, {source}); not touched")
        return DriverPlan(cuda, minimum, found, False, DRIVER_BRANCH), reasons
    plan, install_reasons = driver_install(facts, cuda, minimum, found, f"found {found}; {what} needs >= {minimum}, {source}")
    return plan, reasons + install_reasons


def driver_install(facts: HostFacts, cuda: str | None, minimum: str | None, found: str | None,
                    why: str) -> tuple[DriverPlan, list[str]]:  # fmt: skip
    """Branch DRIVER_BRANCH on a host whose driver is older or missing: installed (or, when an
    earlier run installed it, waiting for its reboot), the way the distribution does it best."""
    if facts.os_id not in DRIVER_METHODS:
        raise PlanError(f"driver: llmhost installs NVIDIA drivers on {', '.join(DRIVER_METHODS)}, not {facts.os_id}")
    method, packages = driver_packages(facts.os_id, DRIVER_BRANCH)
    installed = all(p in facts.nvidia_packages for p in packages)
    headers = f"linux-headers-{facts.kernel}" if method == "nvidia-repo" and facts.kernel else None
    if method == "nvidia-repo" and facts.secure_boot and not facts.dkms_key_enrolled:
        raise PlanError(
            f"driver: Secure Boot is on and branch {DRIVER_BRANCH} from NVIDIA's repository builds its kernel modules "
            "with DKMS, signed by a key the firmware does not trust, so the kernel would refuse to load them; enroll "
            "DKMS's key (mokutil --import /var/lib/dkms/mok.pub, confirm at the next boot) or turn Secure Boot off, "
            "then run again"
        )
    reasons = []
    if installed:
        reasons.append(
            f"driver: branch {DRIVER_BRANCH} is installed ({', '.join(packages)}) but the running kernel module is "
            f"{facts.nvidia_module or 'none'}: it loads at the next reboot ({why})"
        )
    else:
        how = (f"ubuntu-drivers install --gpgpu nvidia:{DRIVER_BRANCH}-server (headless, Canonical's signed prebuilt "
               f"modules) + nvidia-utils-{DRIVER_BRANCH}-server" if method == "ubuntu-drivers" else
               f"cuda-drivers-{DRIVER_BRANCH} from NVIDIA's repository (branch-pinned; DKMS against {headers or 'the kernel headers'})")  # fmt: skip
        reasons.append(f"driver: install branch {DRIVER_BRANCH} by {how} ({why}; {DRIVER_BRANCH} is NVIDIA's long-term "
                       "branch, the last for Volta)")  # fmt: skip
    if facts.secure_boot:
        reasons.append("secure boot: on; " + ("Ubuntu's prebuilt modules are signed by Canonical and load"
                                              if method == "ubuntu-drivers" else "DKMS's key is an enrolled MOK"))  # fmt: skip
    return DriverPlan(cuda, minimum, found, not installed, DRIVER_BRANCH, method, packages, headers, True), reasons


def driver_first(facts: HostFacts) -> tuple[DriverPlan, list[str]]:
    """NVIDIA GPUs on the PCI bus and no working driver (no nvidia-smi, or one that cannot talk to
    the module): the driver comes first; the services are planned once the GPUs can be read."""
    plan, reasons = driver_install(facts, None, None, None, f"{facts.pci_gpus} NVIDIA GPU(s) on PCI, no working driver")
    return plan, [
        f"gpus: {facts.pci_gpus} NVIDIA GPU(s) on the PCI bus and nvidia-smi cannot read them: the services are "
        "planned after the driver runs (their memory, compute capability and engine depend on it)",
        *reasons,
    ]


def reboot(driver: DriverPlan | None, facts: HostFacts, settings: Settings) -> tuple[bool, str | None, list[str]]:
    """(reboot now, why the run stops after the driver layer) for a driver waiting for its reboot."""
    if driver is None or not driver.reboot:
        return False, None, []
    if not settings.allow_reboot:
        why = (f"driver branch {driver.branch} " + ("is installed by this run" if driver.install else "is installed")
               + " and loads only after a reboot: reboot the host (or set llmhost_allow_reboot = true) and run again; "
               "the engine layers wait until then")  # fmt: skip
        return False, why, [f"reboot: needed and not allowed (llmhost_allow_reboot is false); {why}"]
    if not facts.gpus:
        why = "the host reboots onto the driver; run again to plan and serve on its GPUs"
        return True, why, [f"reboot: llmhost_allow_reboot; {why}"]
    return True, None, ["reboot: llmhost_allow_reboot; the host reboots onto the new driver and the run goes on"]


def toolkits(settings: Settings, facts: HostFacts, driver: DriverPlan | None) -> tuple[CudaRepoPlan | None, list[str]]:
    """NVIDIA's repository, where toolkits are asked for (or Debian's driver comes from it)."""
    wants_repo = settings.cuda_toolkits or (driver and driver.install and driver.method == "nvidia-repo")
    if not wants_repo:
        return None, []
    key = "llmhost_cuda_toolkits" if settings.cuda_toolkits else "driver"
    distro = CUDA_REPO_WSL if facts.wsl else CUDA_REPO_DISTROS.get((facts.os_id, facts.os_version))
    if distro is None or (facts.wsl and facts.os_id != "ubuntu"):
        raise PlanError(f"{key}: NVIDIA's CUDA repository has no packages for {facts.os_id} {facts.os_version}"
                        + (" inside WSL (wsl-ubuntu is for Ubuntu)" if facts.wsl else ""))  # fmt: skip
    arch = CUDA_REPO_ARCHS.get(facts.arch)
    if arch is None:
        raise PlanError(f"{key}: NVIDIA's CUDA repository has no packages for {facts.arch}")
    repo = CudaRepoPlan(settings.cuda_repo_url, distro, arch)
    reasons = [f"cuda repository: {repo.url} (its {CUDA_KEYRING}; the source file llmhost writes)"
               + (" — wsl-ubuntu: toolkits without any driver" if facts.wsl else "")]  # fmt: skip
    if settings.cuda_toolkits:
        have = [v for v in settings.cuda_toolkits if v in facts.cuda_toolkits]
        reasons.append(
            f"cuda toolkits: {', '.join(settings.cuda_toolkits)} side by side under /usr/local/cuda-X.Y "
            f"(cuda-toolkit-X-Y packages only, never the meta-packages that pull a driver)"
            + (f"; already there: {', '.join(have)}" if have else "")
        )
    return repo, reasons


def cuda_default(settings: Settings, facts: HostFacts) -> tuple[CudaPlan | None, list[str]]:
    """``/usr/local/cuda`` switched to llmhost_cuda_default (installed, or installed by this run)."""
    want = settings.cuda_default
    if want is None:
        return None, []
    installed = ", ".join(facts.cuda_toolkits) or "none"
    planned = want not in facts.cuda_toolkits and want in settings.cuda_toolkits
    if want not in facts.cuda_toolkits and not planned:
        raise PlanError(
            f"llmhost_cuda_default: CUDA {want} is not installed on this host (toolkits under /usr/local/cuda-X.Y: "
            f"{installed}) nor in llmhost_cuda_toolkits"
        )
    if facts.cuda_link == "directory":
        raise PlanError(
            "llmhost_cuda_default: /usr/local/cuda is a directory (a toolkit installed right there), not a link; "
            "llmhost will not replace it"
        )
    # NVIDIA's toolkit packages register /usr/local/cuda with update-alternatives
    alternatives = facts.cuda_link == "alternatives" or (planned and facts.cuda_link is None)
    how = "update-alternatives --set cuda (NVIDIA's packages manage the link)" if alternatives else "an atomic symlink swap"
    now = f"now {facts.cuda_default}" if facts.cuda_default else "no link yet"
    if planned:
        installed += f"; {want} installed by this run"
    return CudaPlan(want, alternatives, planned), [
        f"cuda: /usr/local/cuda -> /usr/local/cuda-{want} ({now}; installed: {installed}) by {how}; "
        "/etc/profile.d/cuda.sh for login shells"
    ]


def cuda_env(engine: EnginePlan, facts: HostFacts, settings: Settings, reasons: list[str]) -> dict[str, str]:
    """CUDA_HOME / PATH / LD_LIBRARY_PATH of a CUDA engine's service (services do not read
    /etc/profile.d): the toolkit of the engine's own CUDA where there is one, else the default."""
    toolkits = set(facts.cuda_toolkits) | set(settings.cuda_toolkits)
    version = engine.cuda if engine.cuda in toolkits else (settings.cuda_default or facts.cuda_default)
    if version is None:
        reasons.append(f"CUDA_HOME: not set, no CUDA toolkit on the host; vLLM's wheels carry their CUDA {engine.cuda} "
                       "runtime (kernels that compile with nvcc at start-up are not available: llmhost_cuda_toolkits)")  # fmt: skip
        return {}
    home = f"/usr/local/cuda-{version}"
    libraries = (["/usr/lib/wsl/lib"] if facts.wsl else []) + [f"{home}/lib64"]
    reasons.append(f"CUDA_HOME={home}: " + ("the toolkit of the engine's CUDA" if version == engine.cuda else
                   f"the default toolkit (none of CUDA {engine.cuda} on the host)")
                   + "; its bin on PATH and lib64 on LD_LIBRARY_PATH, explicitly (services do not read profile.d)")  # fmt: skip
    return {"CUDA_HOME": home, "PATH": f"{engine.link}/bin:{home}/bin:/usr/local/bin:/usr/bin:/bin",
            "LD_LIBRARY_PATH": ":".join(libraries)}  # fmt: skip
