"""The GPU stack under the engines: the NVIDIA driver their CUDA needs (installed the distribution's
way, never inside WSL; reboots only when allowed), NVIDIA's apt repository and the toolkits side by
side, the /usr/local/cuda link, and the CUDA environment of a service. The compatibility chain is
data (llmhost/gpus.py, llmhost/engines.py); this module reads it."""

from __future__ import annotations

import re
from dataclasses import replace

from llmhost.gpus import (
    CUDA_KEYRING,
    CUDA_REPO_ARCHS,
    CUDA_REPO_DISTROS,
    CUDA_REPO_WSL,
    DRIVER_BRANCH,
    DRIVER_METHODS,
    DRIVER_PIN_FILE,
    DRIVER_PIN_PACKAGES,
    DRIVER_PIN_PRIORITY,
    FABRIC_MANAGER_SERVICE,
    OPEN_MODULES_MIN_CC,
    OPEN_MODULES_MIN_PCI_DEVICE,
    architecture,
    compute_capability,
    driver_recipe,
    driver_tuple,
    fabric_manager,
    min_driver,
    wheel_min_driver,
)
from llmhost.pins import CUDA_KEYRING_SHA256
from llmhost.plan.inputs import HostFacts
from llmhost.plan.releases import gpus_cc
from llmhost.plan.types import CudaPlan, CudaRepoPlan, DriverPlan, EnginePlan, PlanError
from llmhost.settings import Settings


def driver(facts: HostFacts, engines: list[EnginePlan], settings: Settings) -> tuple[DriverPlan | None, list[str]]:
    """The compatibility chain, from data (llmhost/gpus.py, llmhost/engines.py): each GPU's
    architecture bounds the CUDA it can run; the engines' CUDA needs a driver at least as new as
    their driver_minimum (pip wheels: their CUDA major's minor-version-compatible driver; a build:
    its toolkit's; inside WSL: the Windows driver, against Windows' minimums). A working driver is
    kept by default (the engines were chosen to run on it, vllm_release); with llmhost_driver =
    "upgrade", or where there is none, branch DRIVER_BRANCH is installed, except inside WSL, where
    the driver is Windows'. NVSwitch boards get the fabric manager with it."""
    needs = [(e, e.cuda, e.driver_minimum) for e in engines if e.cuda and e.driver_minimum]
    if not needs or not facts.gpus:
        return None, []
    engine, cuda, minimum = max(needs, key=lambda n: driver_tuple(n[2]))
    what = f"CUDA {cuda} of {engine.engine} {engine.version}"
    reasons = []
    for gpu in {g.name: g for g in facts.gpus}.values():
        arch, newest, last_branch = architecture(compute_capability(gpu.name, gpu.compute_capability) or 0)
        if newest and driver_tuple(cuda) > driver_tuple(newest):
            raise PlanError(f"host: {gpu.name} ({arch}) runs CUDA up to {newest}; {what} is newer (llmhost/gpus.py)")
        if last_branch and driver_tuple(last_branch) < driver_tuple(DRIVER_BRANCH):
            raise PlanError(
                f"host: {gpu.name} ({arch}) is not supported by driver branch {DRIVER_BRANCH} (last: {last_branch})"
            )
        reasons.append(
            f"gpu {gpu.name}: {arch}"
            + (f", CUDA up to {newest}, driver branches up to {last_branch}" if newest else "")
        )
    if facts.nvidia_smi and facts.nvidia_smi != "nvidia-smi":
        reasons.append(
            f"gpus: read with {facts.nvidia_smi}"
            + (" (WSL's: it is not on the PATH of an SSH session)" if facts.wsl else "")
        )
    found = facts.gpu_driver
    ok = found is not None and driver_tuple(found) >= driver_tuple(minimum)
    if engine.build:
        source = "CUDA Toolkit release notes, Table 3"
    else:  # the wheels' rule (wheel_min_driver): their major's first driver, or on cc >= 9.0 their toolkit's
        why = wheel_min_driver(cuda, facts.wsl, gpus_cc(facts))[1]
        source = "pip wheels: " + ("CUDA minor-version compatibility" if why.endswith("compatibility") else why)
    source += ", Windows" if facts.wsl else ""
    if facts.wsl:
        if found is not None and not ok:
            raise PlanError(
                f"driver: inside WSL the NVIDIA driver is Windows' ({found}); {what} needs >= {minimum} ({source}): "
                "update the NVIDIA driver on Windows"
            )
        reasons.append(
            "driver: Windows' (WSL: never installed here; libcuda from /usr/lib/wsl/lib)"
            + (f", {found} >= {minimum} for {what}" if found else f"; {what} needs >= {minimum}")
        )
        return DriverPlan(cuda, minimum, found, False, DRIVER_BRANCH), reasons
    if found is None:  # a hardware file without gpus[].driver (a live host's GPUs come with theirs)
        reasons.append(f"driver: not known (the hardware file gives none); {what} needs >= {minimum} ({source})")
        plan, fabric_reasons = _with_fabric(facts, DriverPlan(cuda, minimum, None, False, DRIVER_BRANCH))
        return plan, reasons + fabric_reasons
    if ok:
        reasons.append(f"driver: {found} satisfies {what} (>= {minimum}, {source}); not touched")
        # a kept driver keeps its branch: an NVSwitch board's fabric manager is that branch's (535's
        # packages depend on a 535 driver; 580's would pull the driver up with them)
        kept = found.split(".")[0]
        plan, fabric_reasons = _with_fabric(facts, DriverPlan(cuda, minimum, found, False, kept))
        return plan, reasons + fabric_reasons
    if settings.driver == "keep":
        raise PlanError(
            f'llmhost_driver: "keep", and the host\'s driver {found} is older than {what} needs (>= {minimum}, '
            f'{source}); set llmhost_driver = "upgrade" to install branch {DRIVER_BRANCH} (a reboot)'
        )
    plan, install_reasons = driver_install(
        facts, cuda, minimum, found, f'found {found}; {what} needs >= {minimum}, {source}; llmhost_driver = "upgrade"'
    )
    return plan, reasons + install_reasons


def _open_modules(facts: HostFacts) -> tuple[bool, str]:
    """NVIDIA's open kernel modules where every GPU is Turing or newer, else the proprietary ones."""
    if facts.gpus:
        ccs = [compute_capability(g.name, g.compute_capability) or 0 for g in facts.gpus]
        if min(ccs) >= OPEN_MODULES_MIN_CC:
            return (
                True,
                f"open kernel modules: the GPUs are Turing or newer (cc {min(ccs)}; NVIDIA's default since 560)",
            )
        return False, (
            f"proprietary kernel modules: cc {min(ccs)} ({architecture(min(ccs))[0]}) has no open ones "
            "(they start at Turing)"
        )
    devices = [int(d, 16) for d in facts.pci_gpu_devices if d.startswith("0x")]
    if devices and min(devices) >= OPEN_MODULES_MIN_PCI_DEVICE:
        return True, (
            f"open kernel modules: PCI device {hex(min(devices))} is Turing or newer (no nvidia-smi yet: "
            "its id says so)"
        )
    return False, (
        "proprietary kernel modules: "
        + (
            f"PCI device {hex(min(devices))} is older than Turing"
            if devices
            else "the GPUs' architecture is not known yet"
        )
        + " (open ones start at Turing)"
    )


def _desktop(facts: HostFacts) -> str | None:
    """Why the host is a desktop whose NVIDIA driver is the desktop one (None: a server)."""
    installed = sorted(p for p in facts.nvidia_packages if re.fullmatch(r"nvidia-driver-\d+(-open)?", p))
    if installed:
        return f"{', '.join(installed)} installed"
    if facts.nvidia_displays:
        return f"{facts.nvidia_displays} display(s) connected to its NVIDIA GPU"
    return None


def _with_fabric(facts: HostFacts, plan: DriverPlan) -> tuple[DriverPlan, list[str]]:
    """An NVSwitch board's fabric manager, at the driver branch's version, installed and running."""
    if not facts.nvswitches or facts.wsl:
        return plan, []
    packages = fabric_manager(facts.os_id, plan.branch)
    missing = [p for p in packages if p not in facts.nvidia_packages]
    return replace(plan, fabric=packages), [
        f"fabric manager: {facts.nvswitches} NVSwitch(es) on PCI: {', '.join(packages)}"
        + (f" installed ({', '.join(missing)} missing)" if missing else " (installed)")
        + f" and {FABRIC_MANAGER_SERVICE} running, at exactly the driver's version (the packages depend on it, so "
        'an upgrade moves both); without it CUDA reports "system not yet initialized"'
    ]


def driver_install(
    facts: HostFacts, cuda: str | None, minimum: str | None, found: str | None, why: str
) -> tuple[DriverPlan, list[str]]:
    """Branch DRIVER_BRANCH on a host whose driver is older or missing: installed (or, when an
    earlier run installed it, waiting for its reboot), the way the distribution does it best, in the
    flavour the host needs (server or desktop; open or proprietary kernel modules)."""
    if facts.os_id not in DRIVER_METHODS:
        raise PlanError(f"driver: llmhost installs NVIDIA drivers on {', '.join(DRIVER_METHODS)}, not {facts.os_id}")
    desktop = _desktop(facts) if facts.os_id == "ubuntu" else None
    open_modules, modules_why = _open_modules(facts)
    method, command, packages = driver_recipe(facts.os_id, DRIVER_BRANCH, bool(desktop), open_modules)
    installed = all(p in facts.nvidia_packages for p in packages)
    headers = f"linux-headers-{facts.kernel}" if method == "nvidia-repo" and facts.kernel else None
    if method == "nvidia-repo" and facts.secure_boot and not facts.dkms_key_enrolled:
        raise PlanError(
            f"driver: Secure Boot is on and branch {DRIVER_BRANCH} from NVIDIA's repository builds its kernel modules "
            "with DKMS, signed by a key the firmware does not trust, so the kernel would refuse to load them; make "
            "DKMS's key and enroll it (dkms makes /var/lib/dkms/mok.pub on its first signed build; to have it now: "
            "openssl req -new -x509 -nodes -days 36500 -subj '/CN=DKMS module signing key' -newkey rsa:2048 -keyout "
            "/var/lib/dkms/mok.key -outform DER -out /var/lib/dkms/mok.pub, as dkms does), then mokutil --import "
            "/var/lib/dkms/mok.pub and confirm at the next boot; or turn Secure Boot off; then run again"
        )
    flavour = ("desktop" if desktop else "server") + (", open" if open_modules else ", proprietary") + " kernel modules"
    reasons = [
        f"driver flavour: {'desktop (' + desktop + ': the headless server driver would remove it)' if desktop else 'server'}; {modules_why}"
    ]
    if installed:
        reasons.append(
            f"driver: branch {DRIVER_BRANCH} is installed ({', '.join(packages)}) but the running kernel module is "
            f"{facts.nvidia_module or 'none'}: it loads at the next reboot ({why})"
        )
    else:
        how = (
            f"ubuntu-drivers {' '.join(command)} (Canonical's signed prebuilt modules)"
            + (f" + nvidia-utils-{DRIVER_BRANCH}-server" if "--gpgpu" in command else "")
            if method == "ubuntu-drivers"
            else f"{' then '.join(command)} from NVIDIA's repository (the branch pinned; DKMS against "
            f"{headers or 'the kernel headers'})"
        )
        reasons.append(
            f"driver: install branch {DRIVER_BRANCH} by {how} ({why}; {DRIVER_BRANCH} is NVIDIA's long-term "
            "branch, the last for Maxwell, Pascal and Volta)"
        )
    if facts.secure_boot:
        reasons.append(
            "secure boot: on; "
            + (
                "Ubuntu's prebuilt modules are signed by Canonical and load"
                if method == "ubuntu-drivers"
                else "DKMS's key is an enrolled MOK"
            )
        )
    plan = DriverPlan(
        cuda, minimum, found, not installed, DRIVER_BRANCH, method, packages, headers, True, command, flavour
    )
    plan, fabric_reasons = _with_fabric(facts, plan)
    return plan, reasons + fabric_reasons


def driver_first(facts: HostFacts) -> tuple[DriverPlan, list[str]]:
    """NVIDIA GPUs on the PCI bus and no working driver (no nvidia-smi, or one that cannot talk to
    the module): the driver comes first; the services are planned once the GPUs can be read."""
    plan, reasons = driver_install(facts, None, None, None, f"{facts.pci_gpus} NVIDIA GPU(s) on PCI, no working driver")
    return plan, [
        (
            f"gpus: {facts.pci_gpus} NVIDIA GPU(s) on the PCI bus and nvidia-smi cannot read them: the services are "
            "planned after the driver runs (their memory, compute capability and engine depend on it)"
        ),
        *reasons,
    ]


def reboot(driver: DriverPlan | None, facts: HostFacts, settings: Settings) -> tuple[bool, str | None, list[str]]:
    """(reboot now, why the run stops after the driver layer) for a driver waiting for its reboot."""
    if driver is None or not driver.reboot:
        return False, None, []
    if not settings.allow_reboot:
        why = (
            f"driver branch {driver.branch} "
            + ("is installed by this run" if driver.install else "is installed")
            + " and loads only after a reboot: reboot the host (or set llmhost_allow_reboot = true) and run again; "
            "the engine layers wait until then"
        )
        return False, why, [f"reboot: needed and not allowed (llmhost_allow_reboot is false); {why}"]
    if not facts.gpus:
        why = "the host reboots onto the driver; run again to plan and serve on its GPUs"
        return True, why, [f"reboot: llmhost_allow_reboot; {why}"]
    return True, None, ["reboot: llmhost_allow_reboot; the host reboots onto the new driver and the run goes on"]


def toolkits(
    settings: Settings, facts: HostFacts, driver: DriverPlan | None, planned: tuple[tuple[str, str], ...] = ()
) -> tuple[CudaRepoPlan | None, list[str]]:
    """NVIDIA's repository, where toolkits are asked for or ``planned`` (version, for what: an
    engine built with nvcc on a host with none), or Debian's driver comes from it."""
    new = [v for v, _ in planned if v not in facts.cuda_toolkits]
    # Debian's driver and fabric manager come from NVIDIA's repository (Ubuntu's from its own archive)
    nvidia_packages = driver and (
        (driver.method == "nvidia-repo" and driver.install) or (driver.fabric and facts.os_id != "ubuntu")
    )
    wants_repo = settings.cuda_toolkits or new or nvidia_packages
    if not wants_repo:
        return None, []
    key = "llmhost_cuda_toolkits" if settings.cuda_toolkits or new else "driver"
    distro = CUDA_REPO_WSL if facts.wsl else CUDA_REPO_DISTROS.get((facts.os_id, facts.os_version))
    if distro is None or (facts.wsl and facts.os_id != "ubuntu"):
        raise PlanError(
            f"{key}: NVIDIA's CUDA repository has no packages for {facts.os_id} {facts.os_version}"
            + (" inside WSL (wsl-ubuntu is for Ubuntu)" if facts.wsl else "")
        )
    arch = CUDA_REPO_ARCHS.get(facts.arch)
    if arch is None:
        raise PlanError(f"{key}: NVIDIA's CUDA repository has no packages for {facts.arch}")
    mirror = None if settings.cuda_repo_given else dict(settings.mirror).get("cuda")
    ubuntu = facts.os_id == "ubuntu" and not facts.wsl  # the driver is Canonical's (wsl-ubuntu has none)
    keyring_sha256 = settings.cuda_keyring_sha256 or CUDA_KEYRING_SHA256.get((distro, arch), "")
    repo = CudaRepoPlan(
        mirror or settings.cuda_repo_url, distro, arch, DRIVER_PIN_FILE if ubuntu else None, keyring_sha256
    )
    if not keyring_sha256:
        raise PlanError(
            f"llmhost_cuda_keyring_sha256: llmhost pins no sha256 for {distro}/{arch}'s {CUDA_KEYRING} (dpkg "
            f"installs its signing key as root): give the one its repository lists (the SHA256: line under "
            f"Package: cuda-keyring in {repo.url}Packages)"
        )
    reasons = [
        f"cuda repository: {repo.url} (its {CUDA_KEYRING}, sha256 {keyring_sha256[:12]}... "
        + ("llmhost_cuda_keyring_sha256" if settings.cuda_keyring_sha256 else "llmhost's pin")
        + "; the source file llmhost writes)"
        + (f"; llmhost_mirror ({settings.mirror_name}): a copy of NVIDIA's, signed by NVIDIA's key" if mirror else "")
        + (" — wsl-ubuntu: toolkits without any driver" if facts.wsl else "")
    ]
    if repo.driver_pin:
        reasons.append(
            f"apt pin {repo.driver_pin}: NVIDIA's driver packages ({' '.join(DRIVER_PIN_PACKAGES)}) at priority "
            f"{DRIVER_PIN_PRIORITY} from its repository (cuda-keyring pins all of it at 600, above Ubuntu's 500): "
            "the driver and its signed modules stay Canonical's; the toolkits come from NVIDIA"
        )
    if settings.cuda_toolkits:
        have = [v for v in settings.cuda_toolkits if v in facts.cuda_toolkits]
        reasons.append(
            f"cuda toolkits: {', '.join(settings.cuda_toolkits)} side by side under /usr/local/cuda-X.Y "
            f"(cuda-toolkit-X-Y packages only, never the meta-packages that pull a driver)"
            + (f"; already there: {', '.join(have)}" if have else "")
        )
    for version, what in planned:
        if version in new:
            driver_part = (
                f"its driver {facts.gpu_driver} ({'Windows' if facts.wsl else 'Linux'} minimum "
                f"{min_driver(version, facts.wsl)}) and "
                if facts.gpu_driver
                else ""
            )
            reasons.append(
                f"cuda toolkit {version}: {what} is compiled with nvcc and the host has no toolkit: the newest "
                f"CUDA {driver_part}its GPUs run, from {repo.url}"
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
    how = (
        "update-alternatives --set cuda (NVIDIA's packages manage the link)"
        if alternatives
        else "an atomic symlink swap"
    )
    now = f"now {facts.cuda_default}" if facts.cuda_default else "no link yet"
    if planned:
        installed += f"; {want} installed by this run"
    return CudaPlan(want, alternatives, planned), [
        (
            f"cuda: /usr/local/cuda -> /usr/local/cuda-{want} ({now}; installed: {installed}) by {how}; "
            "/etc/profile.d/cuda.sh for login shells"
        )
    ]


def cuda_env(engine: EnginePlan, facts: HostFacts, settings: Settings, reasons: list[str]) -> dict[str, str]:
    """CUDA_HOME / PATH / LD_LIBRARY_PATH of a CUDA engine's service (services do not read
    /etc/profile.d): the toolkit of the engine's own CUDA where there is one, else the newest of its
    major; none of another major (torch's extension builder and FlashInfer's JIT refuse one)."""
    # a built engine's toolkit is there by the time it runs (the plan installs the one it builds with)
    toolkits = sorted(
        set(facts.cuda_toolkits) | set(settings.cuda_toolkits) | ({engine.cuda} if engine.build else set()),
        key=driver_tuple,
    )
    major = engine.cuda.split(".")[0]
    same = [t for t in toolkits if t.split(".")[0] == major]
    version = engine.cuda if engine.cuda in same else (same[-1] if same else None)
    if version is None:
        reasons.append(
            f"CUDA_HOME: not set: no CUDA {major}.x toolkit on the host"
            + (
                f" (it has {', '.join(toolkits)}: "
                "torch's extension builder and FlashInfer's JIT refuse a toolkit of another major)"
                if toolkits
                else ""
            )
            + f"; the engine's wheels carry their CUDA {engine.cuda} runtime (kernels compiled with nvcc at "
            f"start-up need a {major}.x toolkit: llmhost_cuda_toolkits)"
        )
        return {}
    home = f"/usr/local/cuda-{version}"
    # pip wheels load their own nvidia-* libraries; a toolkit's lib64 ahead of them on the search
    # path can hand torch another cuBLAS/nvJitLink (pytorch/pytorch#141063: "undefined symbol:
    # __nvJitLinkComplete_12_4"; vllm-project/vllm#35608 fixed by unsetting LD_LIBRARY_PATH): only
    # an engine built against the toolkit gets its lib64
    libraries = (["/usr/lib/wsl/lib"] if facts.wsl else []) + ([f"{home}/lib64"] if engine.build else [])
    reasons.append(
        f"CUDA_HOME={home}: "
        + (
            "the toolkit of the engine's CUDA"
            if version == engine.cuda
            else f"the newest CUDA {major}.x toolkit on the host (none of CUDA {engine.cuda})"
        )
        + "; its bin on PATH"
        + (
            " and lib64 on LD_LIBRARY_PATH, explicitly (services do not read profile.d)"
            if engine.build
            else ", explicitly (services do not read profile.d); its lib64 not on LD_LIBRARY_PATH: the wheels "
            "load their own CUDA libraries, and a toolkit's ahead of them can be another cuBLAS/nvJitLink"
        )
    )
    return {
        "CUDA_HOME": home,
        "PATH": f"{engine.link}/bin:{home}/bin:/usr/local/bin:/usr/bin:/bin",
        **({"LD_LIBRARY_PATH": ":".join(libraries)} if libraries else {}),
    }
