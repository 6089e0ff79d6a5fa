"""Layer: NVIDIA's apt repository, the driver branch, the CUDA toolkits side by side, and the
reboot a new driver needs (only when the plan allows it)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt, files, server, systemd

from llmhost.gpus import (
    CUDA_REPO_LABEL,
    DRIVER_PIN_PACKAGES,
    DRIVER_PIN_PRIORITY,
    FABRIC_MANAGER_SERVICE,
    cuda_toolkit_package,
)
from llmhost.operations import nvidia
from llmhost.plan import HostPlan
from llmhost.resources import template


@deploy("llmhost gpu layer")
def apply(plan: HostPlan) -> None:
    repo, driver = plan.cuda_repo, plan.driver
    if repo:
        pin = None
        if repo.driver_pin:  # before the repository: apt never sees NVIDIA's driver packages above Ubuntu's
            pin = files.template(
                name=f"apt pin: the NVIDIA driver stays Ubuntu's ({repo.driver_pin})",
                src=template("nvidia-driver-pin.j2"),
                dest=repo.driver_pin,
                mode="644",
                packages=" ".join(DRIVER_PIN_PACKAGES),
                label=CUDA_REPO_LABEL,
                priority=DRIVER_PIN_PRIORITY,
            )
        keyring = nvidia.keyring(
            name=f"NVIDIA's cuda-keyring ({repo.distro})",
            url=repo.keyring_url,
            download=f"{plan.root}/cache/{repo.keyring_url.rsplit('/', 1)[-1]}",
            sha256=repo.keyring_sha256,
            source_key="llmhost_cuda_repo_url",
        )
        # the keyring package writes this file too; llmhost's names the repository it was given
        source = files.template(
            name=f"NVIDIA's repository ({repo.sources_file})",
            src=template("cuda-repo.list.j2"),
            dest=repo.sources_file,
            mode="644",
            url=repo.url,
        )
        changed = [keyring.did_change, source.did_change] + ([pin.did_change] if pin else [])
        apt.update(name="Refresh apt package lists (NVIDIA's repository)", _if=changed)
    if driver and driver.method:  # a branch to install, or one installed and waiting for its reboot
        nvidia.driver(
            name=f"NVIDIA driver branch {driver.branch} ({driver.method}: {driver.flavour})",
            branch=driver.branch,
            method=driver.method,
            command=list(driver.command),
            packages=list(driver.packages),
            headers=driver.headers,
        )
    if driver and driver.fabric:  # NVSwitch boards: at the driver's version, running once the module is loaded
        apt.packages(
            name=f"NVSwitch fabric manager ({', '.join(driver.fabric)})",
            packages=list(driver.fabric),
            no_recommends=True,
        )
        systemd.service(
            name=f"{FABRIC_MANAGER_SERVICE}, enabled at boot" + ("" if driver.reboot else ", running"),
            service=f"{FABRIC_MANAGER_SERVICE}.service",
            running=None if driver.reboot else True,
            enabled=True,
        )
    if plan.cuda_toolkits:
        apt.packages(
            name=f"CUDA toolkits {', '.join(plan.cuda_toolkits)} side by side",
            packages=[cuda_toolkit_package(v) for v in plan.cuda_toolkits],
            no_recommends=True,
        )
    if plan.reboot:
        server.reboot(
            name=f"Reboot onto NVIDIA driver {driver.branch} (llmhost_allow_reboot)", delay=30, reboot_timeout=900
        )
