"""The environments engines and tools live in: versioned venvs (or conda envs) named by what is
installed into them, with the release's pins and the user's; built engines' sources and cmake
flags (CPU native, or CUDA with a toolkit the GPUs run); Ollama's release archive; Miniforge."""

from __future__ import annotations

import hashlib
import json
import re

from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from llmhost.distros import MINIFORGE_INSTALLERS, MINIFORGE_VERSION, PYPI_SIMPLE, PYTORCH_WHEELS
from llmhost.engines import (
    OLLAMA,
    EngineRelease,
    SourceBuild,
    ToolsRelease,
    merge_pins,
    ollama_archive,
)
from llmhost.gpus import (
    CUDA_MIN_DRIVER,
    architecture,
    compute_capability,
    driver_tuple,
    min_driver,
    wheel_min_driver,
)
from llmhost.pins import MINIFORGE_SHA256, ollama_sha256
from llmhost.plan.inputs import HostFacts
from llmhost.plan.releases import gpus_cc
from llmhost.plan.types import CondaPlan, EnginePlan, PlanError
from llmhost.settings import Settings


def conda_python(settings: Settings) -> str:
    """The Python version a conda env is made with: llmhost_python as a version (python3.10 -> 3.10)."""
    version = settings.python.rsplit("/", 1)[-1].removeprefix("python")
    if not re.fullmatch(r"3\.\d{1,2}", version):
        raise PlanError(f"llmhost_python: conda envs need a Python version (3.10), got {settings.python!r}")
    return version


def miniforge(root: str) -> str:
    """Where llmhost's Miniforge lives on a host (llmhost_env_manager = "conda")."""
    return f"{root}/miniforge"


def conda(settings: Settings, facts: HostFacts, engines: list[EnginePlan]) -> tuple[CondaPlan, str]:
    """Miniforge for the conda envs (llmhost_env_manager = "conda", or ``engines`` whose release
    needs a Python the host does not have): the installer (a mirror's where one is asked for),
    conda-forge as the only channel, the envs' Python versions."""
    if settings.wheelhouse or settings.pip_no_index:
        raise PlanError(
            "llmhost_env_manager: conda needs a conda channel to make its envs; offline hosts "
            "(llmhost_wheelhouse, llmhost_pip_no_index) use venv"
        )
    arch = {"x86_64": "x86_64", "aarch64": "aarch64"}.get(facts.arch)
    if arch is None:
        raise PlanError(f"llmhost_env_manager: no Miniforge installer for {facts.arch}")
    mirror = dict(settings.mirror)
    installer = settings.conda_installer_url or MINIFORGE_INSTALLERS[
        "tuna" if settings.mirror_name == "tuna" else "none"
    ].format(v=MINIFORGE_VERSION, arch=arch)
    # llmhost's pin holds for the release's file from any mirror; another file needs the data's (root runs it)
    pinned = MINIFORGE_SHA256.get((MINIFORGE_VERSION, arch))
    default_name = MINIFORGE_INSTALLERS["none"].format(v=MINIFORGE_VERSION, arch=arch).rsplit("/", 1)[-1]
    sha256 = settings.conda_installer_sha256 or (pinned if installer.rsplit("/", 1)[-1] == default_name else None)
    if settings.conda_installer_url and not sha256:
        raise PlanError(
            f"llmhost_conda_installer_sha256: llmhost_conda_installer_url names {installer.rsplit('/', 1)[-1]}, "
            f"not {default_name} whose sha256 llmhost pins: give its sha256 (root runs it)"
        )
    plan = CondaPlan(
        prefix=miniforge(settings.root),
        version=MINIFORGE_VERSION,
        installer=installer,
        sha256=sha256,
        forge_base=mirror.get("conda"),
        installer_key="llmhost_conda_installer_url"
        if settings.conda_installer_url
        else "llmhost_mirror (tuna)"
        if settings.mirror_name == "tuna"
        else "llmhost_conda_installer_url (unset: GitHub)",
    )
    return plan, (
        f"conda: Miniforge {plan.version} in {plan.prefix} from {plan.installer} ("
        + (f"sha256 {plan.sha256[:12]}..." if plan.sha256 else "no pin: checked against the .sha256 beside it")
        + "); channel conda-forge only"
        + (f", from {plan.forge_base}" if plan.forge_base else "")
        + (
            f"; envs with Python {conda_python(settings)} (llmhost_python)"
            if settings.env_manager == "conda"
            else "; envs with Python " + ", ".join(f"{e.python} for {e.engine} {e.version}" for e in engines)
        )
    )


# The Python a conda env gets where the host's is outside a release's Requires-Python: the first of
# these it admits (3.12: what the seeds' engines are built and tested with most).
CONDA_PYTHONS = ("3.12", "3.11", "3.13", "3.10")


def _fitting_python(release: EngineRelease, settings: Settings, facts: HostFacts) -> str | None:
    """None where the venv's Python fits ``release``; else the Python of a conda env that does, or
    a refusal (llmhost_python pinned, or an offline host that cannot reach conda-forge)."""
    admits = SpecifierSet(release.python)
    if not facts.python_version or Version(facts.python_version) in admits:
        return None
    what = (
        f"{settings.python} is Python {facts.python_version}, outside {release.engine} {release.version}'s "
        f"Requires-Python {admits}"
    )
    if settings.python_pinned:
        raise PlanError(
            f"llmhost_python: {what}; name a Python the host has in that range, or leave llmhost_python "
            "unset to get one from conda-forge"
        )
    if settings.wheelhouse or settings.pip_no_index:
        raise PlanError(
            f"llmhost_python: {what}, and an offline host cannot get one from conda-forge: install one "
            "on the host and name it in llmhost_python"
        )
    return next(v for v in CONDA_PYTHONS if Version(v) in admits)


def venvs_dir(root: str) -> str:
    """Where every engine's versioned venvs (or conda envs, or builds) and their links are."""
    return f"{root}/venvs"


def versioned(root: str, engine: str, version: str, identity: list) -> str:
    """An engine's versioned directory: named by its version and a digest of what makes it what it
    is (a new identity is a new directory; the link moves to it once it works)."""
    digest = hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:8]
    return f"{venvs_dir(root)}/{engine}-{version}-{digest}"


def env_link(root: str, engine: str) -> str:
    """The stable path of an engine's current venv (a symlink to a versioned one)."""
    return f"{venvs_dir(root)}/{engine}-current"


def pinned(release: EngineRelease, pins: tuple[str, ...]) -> tuple[tuple[str, ...], str]:
    """The release's requirements with the user's pins (a pin replaces the release's pin of the same
    distribution), and the engine version they mean."""
    requirements = merge_pins(release.requirements, pins)
    version = release.version
    own = Requirement(requirements[0])
    exact = [s.version for s in own.specifier if s.operator == "=="]
    if requirements[0] != release.requirements[0] and not isinstance(release, ToolsRelease):
        version = exact[0] if len(exact) == 1 else f"{release.version}+pinned"
    return requirements, version


def source_url(build: SourceBuild, settings: Settings) -> tuple[str, str | None]:
    """Where the host fetches a source archive, and the data key that sets it (None: the shipped
    wheelhouse): the pip index's file host (a mirror's /packages/ beside its /simple/), else PyPI's."""
    if settings.wheelhouse:
        return f"file://{settings.root}/wheelhouse/{build.filename}", None
    mirror = dict(settings.mirror).get("pip")
    key = (
        "llmhost_pip_index_url"
        if settings.pip_index_url
        else f"llmhost_mirror ({settings.mirror_name})"
        if mirror
        else "llmhost_pip_index_url (unset: PyPI)"
    )
    return build.url(settings.pip_index_url or mirror), key


def build_flags(
    release: EngineRelease, settings: Settings, facts: HostFacts
) -> tuple[tuple[str, ...], str | None, str]:
    """(cmake flags, the CUDA toolkit it builds with, why) of a source-built engine on this host."""
    if not facts.gpus:
        return release.build.cmake_flags + ("-DGGML_NATIVE=ON",), None, "CPU backend, for this host's CPU (GGML_NATIVE)"
    toolkits = sorted(set(facts.cuda_toolkits) | set(settings.cuda_toolkits), key=driver_tuple)
    ccs = sorted({compute_capability(g.name, g.compute_capability) or 0 for g in facts.gpus})
    newest = min((architecture(cc)[1] for cc in ccs if architecture(cc)[1]), key=driver_tuple, default=None)
    if not toolkits:  # nvcc is needed: the newest toolkit the GPUs and their driver run (the plan installs it)
        chosen = buildable_cuda(facts, newest)
        if chosen is None:
            raise PlanError(
                f"driver: llama.cpp's CUDA backend is compiled on the host and no CUDA toolkit llmhost knows "
                f"runs on driver {facts.gpu_driver}; update the NVIDIA driver"
            )
        toolkits = [chosen]
    usable = [t for t in toolkits if newest is None or driver_tuple(t) <= driver_tuple(newest)]
    if not usable:
        raise PlanError(
            f"llmhost_cuda_toolkits: the GPUs build with CUDA up to {newest}; the toolkits are {', '.join(toolkits)}"
        )
    chosen = settings.cuda_default if settings.cuda_default in usable else usable[-1]
    archs = ";".join(str(round(cc * 10)) for cc in ccs)
    return (
        release.build.cmake_flags
        + (
            "-DGGML_CUDA=ON",
            f"-DCMAKE_CUDA_COMPILER=/usr/local/cuda-{chosen}/bin/nvcc",
            f"-DCMAKE_CUDA_ARCHITECTURES={archs}",
        ),
        chosen,
        f"CUDA backend with toolkit {chosen} for compute capability {', '.join(str(c) for c in ccs)}",
    )


def buildable_cuda(facts: HostFacts, newest: str | None) -> str | None:
    """The newest CUDA toolkit llmhost knows whose minimum driver the host's driver meets (inside WSL:
    Windows' minimum; no driver yet: the branch llmhost installs runs them all) and that the GPUs'
    architecture still builds for (``newest``)."""
    driver = facts.gpu_driver
    fits = [
        v
        for v in CUDA_MIN_DRIVER
        if (newest is None or driver_tuple(v) <= driver_tuple(newest))
        and (driver is None or driver_tuple(min_driver(v, facts.wsl)) <= driver_tuple(driver))
    ]
    return max(fits, key=driver_tuple, default=None)


def engine_plan(release: EngineRelease, settings: Settings, facts: HostFacts) -> EnginePlan:
    if release.build:
        flags, cuda, _ = build_flags(release, settings, facts)
        # what is built is its identity: the source, the flags, the targets and the tools kept
        identity = [release.build.sha256, flags, release.build.targets, release.build.tools]
        url, key = source_url(release.build, settings)
        return EnginePlan(
            engine=release.engine,
            version=release.version,
            variant=release.variant,
            venv=versioned(settings.root, release.engine, release.version, identity),
            python=settings.python,
            requirements=(),
            remove=(),
            pip_index_url=None,
            pip_extra_index_urls=(),
            pip_find_links=(),
            pip_no_index=False,
            link=env_link(settings.root, release.engine),
            module=release.module,
            keep=settings.keep_envs,
            cuda=cuda,
            build=release.build,
            source_url=url,
            build_flags=flags,
            build_jobs=max(1, facts.cores),
            reach=((url, key),) if key else (),
            driver_minimum=min_driver(cuda, facts.wsl) if cuda else None,
        )
    requirements, version = pinned(release, settings.pins(release.engine))
    # The venv's identity: what is installed into it and the Python it is made with.
    conda = settings.env_manager == "conda"
    python = conda_python(settings) if conda else settings.python
    if conda and Version(python) not in SpecifierSet(release.python):
        raise PlanError(
            f"llmhost_python: conda envs get Python {python}, outside {release.engine} {release.version}'s "
            f"Requires-Python {release.python}"
        )
    fitting = None if conda else _fitting_python(release, settings, facts)
    if fitting:  # the host's Python does not fit this release: a conda env with one that does
        conda, python = True, fitting
    identity = [
        requirements,
        release.remove,
        "conda" if conda else settings.python,
        python if conda else facts.python_version,
    ]
    extra = list(settings.pip_extra_index_urls)
    torch = torch_index(settings, release)
    if torch:
        extra.append(torch[0])
    no_index = settings.pip_no_index or settings.wheelhouse is not None
    return EnginePlan(
        engine=release.engine,
        version=version,
        variant=release.variant,
        venv=versioned(settings.root, release.engine, version, identity),
        python=python,
        requirements=requirements,
        remove=release.remove,
        pip_index_url=settings.pip_index_url or dict(settings.mirror).get("pip"),
        pip_extra_index_urls=tuple(dict.fromkeys(extra)),
        pip_find_links=((f"{settings.root}/wheelhouse",) if settings.wheelhouse else ()) + settings.pip_find_links,
        pip_no_index=no_index,
        link=env_link(settings.root, release.engine),
        module=release.module,
        keep=settings.keep_envs,
        conda=f"{miniforge(settings.root)}/bin/conda" if conda else None,
        cuda=release.cuda,
        python_version=python if conda else facts.python_version,
        driver_minimum=wheel_min_driver(release.cuda, facts.wsl, gpus_cc(facts))[0] if release.cuda else None,
        python_range=release.python,
        host_python=facts.python_version if fitting else None,
        reach=pip_reach(settings, release, no_index),
    )


def pip_reach(settings: Settings, release: EngineRelease, no_index: bool) -> tuple[tuple[str, str], ...]:
    """What pip fetches from for a venv, each with the data key that sets it: the host probes them
    (in bounded time) before it installs, so an unreachable one fails naming its key."""
    mirror = dict(settings.mirror)
    reach: list[tuple[str, str]] = []
    if no_index:  # wheels from directories on the host only (llmhost_pip_find_links are paths)
        return ()
    if settings.pip_index_url:
        reach.append((settings.pip_index_url, "llmhost_pip_index_url"))
    elif mirror.get("pip"):
        reach.append((mirror["pip"], f"llmhost_mirror ({settings.mirror_name})"))
    else:
        reach.append((PYPI_SIMPLE, "llmhost_pip_index_url (unset: PyPI)"))
    reach += [(url, f"llmhost_pip_extra_index_urls[{i}]") for i, url in enumerate(settings.pip_extra_index_urls)]
    torch = torch_index(settings, release)
    if torch:
        reach.append(torch)
    return tuple(dict.fromkeys(reach))


def torch_index(settings: Settings, release: EngineRelease) -> tuple[str, str] | None:
    """Where the torch build of ``release`` comes from, and the data key that sets it (None: no
    index of its own, PyPI's torch): llmhost_torch_index_url; "auto": the release's variant on
    download.pytorch.org, or that variant on the mirror's copy of it (llmhost_mirror's torch)."""
    if settings.torch_index_url not in (None, "auto"):
        return settings.torch_index_url, "llmhost_torch_index_url"
    if settings.torch_index_url is None or not release.torch_index:
        return None
    mirror = dict(settings.mirror).get("torch")
    if mirror and release.torch_index.startswith(PYTORCH_WHEELS + "/"):
        return mirror + release.torch_index[len(PYTORCH_WHEELS) :], f"llmhost_mirror ({settings.mirror_name})"
    return release.torch_index, "llmhost_torch_index_url (auto)"


def ollama_engine(settings: Settings, host: HostFacts) -> EnginePlan:
    root = settings.root
    archive = ollama_archive(
        settings.ollama_version,
        host.arch,
        settings.ollama_url,
        settings.ollama_sha256 or ollama_sha256(settings.ollama_version, host.arch),
        f"{root}/wheelhouse" if settings.wheelhouse else None,
    )
    if settings.ollama_url and not archive.sha256:  # root unpacks and installs it
        raise PlanError(
            f"llmhost_ollama_sha256: llmhost_ollama_url names {archive.filename}, and llmhost pins none for Ollama "
            f"{settings.ollama_version} there: give its sha256"
        )
    # its identity: the release and its bytes (not where they come from: a mirror is the same Ollama;
    # llmhost's pin is the release's own bytes)
    identity = [settings.ollama_version, archive.filename, settings.ollama_sha256]
    key = (
        "llmhost_ollama_url"
        if settings.ollama_url
        else None
        if settings.wheelhouse
        else "llmhost_ollama_url (unset: Ollama's GitHub releases)"
    )
    return EnginePlan(
        engine=OLLAMA.engine,
        version=settings.ollama_version,
        variant=archive.filename,
        venv=versioned(root, OLLAMA.engine, settings.ollama_version, identity),
        python=settings.python,
        requirements=(),
        remove=(),
        pip_index_url=None,
        pip_extra_index_urls=(),
        pip_find_links=(),
        pip_no_index=False,
        link=env_link(root, OLLAMA.engine),
        module=OLLAMA.module,
        keep=settings.keep_envs,
        archive=archive,
        reach=((archive.url, key),) if key else (),
    )


def engine_reason(engine: EnginePlan, settings: Settings) -> str:
    if engine.archive:
        a = engine.archive
        return (
            f"engine {engine.venv}: Ollama {engine.version} unpacked from {a.url} ("
            + (f"sha256 {a.sha256[:12]}..." if a.sha256 else f"no pin: checked against {a.sums_url}")
            + f"; never its install.sh, which may install a driver); {engine.link} switches to it once "
            f"`ollama --version` runs; /usr/local/bin/ollama links to it; {engine.keep} release(s) kept"
        )
    if engine.build:
        return (
            f"engine {engine.venv}: {engine.build.binary} built with cmake ({' '.join(engine.build_flags[-3:])}, "
            f"-j{engine.build_jobs}) from {engine.build.filename} (sha256 {engine.build.sha256[:12]}...) at "
            f"{engine.source_url}; {engine.link} switches to it once `{engine.build.binary} --version` runs; "
            f"{engine.keep} build(s) kept"
        )
    where = []
    if engine.pip_no_index:
        shipped = f" (llmhost_wheelhouse {settings.wheelhouse}, shipped)" if settings.wheelhouse else ""
        where.append(f"offline: no index, wheels only from {', '.join(engine.pip_find_links)}{shipped}")
    elif engine.pip_extra_index_urls:
        where.append(f"extra indexes {', '.join(engine.pip_extra_index_urls)}")
    fitted = (
        f"; a conda env with Python {engine.python}: the host's Python {engine.host_python} is outside "
        f"{engine.engine} {engine.version}'s Requires-Python {engine.python_range}"
        if engine.host_python
        else ""
    )
    return (
        f"engine {'conda env' if engine.conda else 'venv'} {engine.venv}: {', '.join(engine.requirements)}"
        + (f" ({'; '.join(where)})" if where else "")
        + fitted
        + f"; {engine.link} switches to it once "
        + (
            "its vLLM accepts the planned services' arguments (llmhost-hosttool vllm-check: vLLM's own parser, "
            "the quantization registered and supported by the GPUs, the dtype)"
            if engine.engine.startswith("vllm")
            else f"its Python imports {engine.module}"
        )
        + f"; {engine.keep} venv(s) kept"
    )
