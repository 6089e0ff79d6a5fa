"""The Debian/Ubuntu packages a host's plan installs (the system layer): each one added where the
decision that needs it is made (the Python the envs are made with, the supervisor, each service's
engine, conda, NVIDIA's repository, the driver's installer)."""

from __future__ import annotations

from llmhost.distros import TCMALLOC_PACKAGE
from llmhost.engines import CPU_ENGINE_PACKAGES, LLAMACPP_BUILD_PACKAGES, OLLAMA_PACKAGES
from llmhost.plan.inputs import HostFacts
from llmhost.plan.types import CondaPlan, CudaRepoPlan, DriverPlan, PlanError, ServicePlan
from llmhost.settings import Settings


class SystemPackages:
    """The package set of one host's plan, as plan_host decides it."""

    def __init__(self, facts: HostFacts, settings: Settings, supervisor: str):
        self.short = ".".join(facts.python_version.split(".")[:2]) if facts.python_version else None
        if settings.env_manager == "conda":
            # conda brings the envs' Python (and its headers); the installer is fetched with curl
            self.names = {"curl", "ca-certificates"}
        elif self.short:
            self.names = {f"python{self.short}-venv"}  # the venv module of the host's own Python
        else:
            self.names = {"python3-venv"}
        if supervisor == "tmux":
            self.names.add("tmux")

    def for_service(self, service: ServicePlan, facts: HostFacts) -> None:
        """What its engine needs: a build's compilers, an archive's tools, vLLM's CPU build's tcmalloc
        and headers (a distribution with no known tcmalloc package is refused)."""
        for engine in (service.engine, *((service.convert.tools,) if service.convert else ())):
            if engine.build:
                self.names.update(LLAMACPP_BUILD_PACKAGES)
        if service.engine.archive:
            self.names.update(OLLAMA_PACKAGES)
        if service.engine.engine == "vllm-cpu":
            tcmalloc = TCMALLOC_PACKAGE.get((facts.os_id, facts.os_version))
            if tcmalloc is None:
                raise PlanError(
                    f"host: no tcmalloc package known for {facts.os_id} {facts.os_version} (llmhost/engines.py)"
                )
            self.names.add(tcmalloc)
            self.names.update(CPU_ENGINE_PACKAGES)
            if service.engine.conda:  # the conda env's Python has its headers
                self.names.discard("python3-dev")
            elif self.short:  # the headers of the venv's own Python
                self.names.discard("python3-dev")
                self.names.add(f"python{self.short}-dev")

    def for_host(self, conda: CondaPlan | None, cuda_repo: CudaRepoPlan | None, driver: DriverPlan | None) -> None:
        """curl for the downloads of Miniforge's installer and NVIDIA's keyring; ubuntu-drivers."""
        if conda or cuda_repo:
            self.names.update(("curl", "ca-certificates"))
        if driver and driver.method == "ubuntu-drivers" and driver.install:
            self.names.add("ubuntu-drivers-common")

    def all(self) -> tuple[str, ...]:
        return tuple(sorted(self.names))
