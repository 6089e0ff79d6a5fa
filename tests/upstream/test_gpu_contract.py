"""The GPU path held against the pinned vLLM releases' own code, with no GPU: each release is
installed as a host installs it (its wheel and dependencies from PyPI, into a venv), and

- every vLLM service llmhost plans on GPUs (the golden scenarios, and every seed's `llmhost plan`
  cases and test-hub models, with its driver kept and upgraded) is checked by llmhost-hosttool's vllm-check, the check a
  new venv passes before it becomes current: vLLM's own argument parser and serve-argument checks,
  its quantization registry after the general plugins load (method present, get_min_capability
  against the planned GPUs), its CUDA platform's dtype rule (check_if_supports_dtype), the GPUs'
  compute capability answered from the plan (tests/upstream/vllm_planned_gpu.py);
- llmhost's table of quantization kernels' lowest compute capability equals each release's;
- torch's own verdict on a driver (Debian's libcuda1 of branches 535 and 550, loaded with no GPU)
  equals the minimum llmhost plans for each release's CUDA (minor-version compatibility).

Cost (measured on this project's machines, 2026-12-07): a first run installs vLLM 0.14.1 (10 GB
with torch 2.9.1's CUDA 12.8 libraries) and 0.33.0 (9.5 GB) from PyPI, ~3 min each, and fetches two
~3 MB .debs; all cached by version under ~/.cache/llmhost/upstream (or LLMHOST_UPSTREAM_CACHE).
Later runs: the checks alone (see the timings printed)."""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from llmhost.engines import VLLM_CU128, VLLM_CUDA
from llmhost.gpus import driver_tuple, wheel_min_driver
from llmhost.plan.sizing.vllm_gpu import QUANT_MIN_CC
from llmhost.resources import hostside_tool
from tests import golden
from tests.helpers import record_timing, require

pytestmark = pytest.mark.upstream

CACHE = Path(os.environ.get("LLMHOST_UPSTREAM_CACHE") or Path.home() / ".cache" / "llmhost" / "upstream")
WRAPPER = Path(__file__).with_name("vllm_planned_gpu.py")
RELEASES = (VLLM_CU128, VLLM_CUDA)
DEBIAN = "http://deb.debian.org/debian"
# Debian's NVIDIA driver libraries by branch: the suite whose non-free section has that branch
LIBCUDA_SUITES = {"535": "bookworm", "550": "trixie"}


def _digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:8]


def _pip(python: Path, *args: str, timeout: int = 1800) -> None:
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"pip install {' '.join(args)}:\n{done.stderr[-3000:]}"


def venv_path(requirements: tuple[str, ...]) -> Path:
    """Where the venv of ``requirements`` is cached (it is complete once it holds .llmhost-complete)."""
    return CACHE / f"{requirements[0].replace('==', '-')}-{_digest(requirements)}"


def venv_of(requirements: tuple[str, ...]) -> Path:
    """A venv with ``requirements`` and their dependencies from the index pip is configured with,
    made once per set (a marker says it finished)."""
    path = venv_path(requirements)
    if not (path / ".llmhost-complete").exists():
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
        _pip(path / "bin" / "python", *requirements)
        record_timing(f"install {' '.join(requirements)} (first run)", time.monotonic() - started)
        (path / ".llmhost-complete").write_text("\n".join(requirements) + "\n")
    return path


def overlay_of(venv: Path, extras: tuple[str, ...]) -> Path | None:
    """``extras`` (a plan's packages beyond the release's own) in a directory of their own, put on
    PYTHONPATH for that plan's check only: the plan's exact set, never another plan's additions."""
    if not extras:
        return None
    path = CACHE / "overlays" / f"{venv.name}-{_digest(extras)}"
    if not (path / ".llmhost-complete").exists():
        shutil.rmtree(path, ignore_errors=True)
        _pip(venv / "bin" / "python", "--no-deps", "--target", str(path), *extras)
        (path / ".llmhost-complete").write_text("\n".join(extras) + "\n")
    return path


def libcuda(branch: str) -> tuple[str, Path]:
    """(driver version, directory holding its libcuda.so.1) of Debian's libcuda1 of ``branch``: the
    version the suite's non-free index lists now, the .deb checked against the index's sha256."""
    suite = LIBCUDA_SUITES[branch]
    with urllib.request.urlopen(f"{DEBIAN}/dists/{suite}/non-free/binary-amd64/Packages.xz", timeout=60) as r:
        index = lzma.decompress(r.read()).decode()
    stanza = next(s for s in index.split("\n\n") if s.startswith("Package: libcuda1\n"))
    fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
    version = fields["Version"].split("-")[0]
    assert version.startswith(f"{branch}."), f"Debian {suite}'s libcuda1 is {version}, not branch {branch}"
    path = CACHE / f"libcuda1-{fields['Version']}"
    if not (path / "libcuda.so.1").exists():
        with urllib.request.urlopen(f"{DEBIAN}/{fields['Filename']}", timeout=120) as r:
            deb = r.read()
        assert hashlib.sha256(deb).hexdigest() == fields["SHA256"], f"{fields['Filename']}: sha256 differs"
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "p.deb").write_bytes(deb)
            subprocess.run(["dpkg-deb", "-x", str(Path(tmp) / "p.deb"), str(Path(tmp) / "x")], check=True)
            (lib,) = Path(tmp, "x").rglob("libcuda.so.1")
            path.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib.resolve(), path / "libcuda.so.1")
    return version, path


@pytest.fixture(scope="module")
def fetched():
    require(shutil.which("dpkg-deb") is not None, "dpkg-deb extracts Debian's libcuda1 (a Debian or Ubuntu machine)")
    missing = [r for r in RELEASES if not (venv_path(r.requirements) / ".llmhost-complete").exists()]
    CACHE.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(CACHE).free / 2**30
    require(
        not missing or free >= 12 * len(missing),
        f"installing {', '.join(r.requirements[0] for r in missing)} needs ~{12 * len(missing)} GiB under {CACHE}; "
        f"{free:.1f} GiB free",
    )
    try:
        drivers = {branch: libcuda(branch) for branch in LIBCUDA_SUITES}
        venvs = {r.version: venv_of(r.requirements) for r in RELEASES}
    except OSError as e:
        require(False, f"PyPI and deb.debian.org must answer: {e}")
    return drivers, venvs


def planned(hub: str) -> dict[tuple[str, ...], dict[str, tuple[dict, list[str]]]]:
    """The checks of every vLLM GPU venv llmhost plans (tests/golden.py every_plan, with the test
    hub at ``hub``), by its requirements: each distinct service check (argv and compute capability)
    with where it was planned."""
    checks: dict[tuple[str, ...], dict[str, tuple[dict, list[str]]]] = {}
    for where, plan in golden.every_plan(hub):
        for engine in plan.engines:
            if engine.engine == "vllm" and engine.serves:
                for text in engine.serves:
                    spec = json.loads(text)
                    key = json.dumps({**spec, "name": ""}, sort_keys=True)
                    checks.setdefault(engine.requirements, {}).setdefault(key, (spec, []))[1].append(where)
    return checks


def test_every_planned_vllm_gpu_service_is_accepted_by_its_release(fetched):
    drivers, venvs = fetched
    started = time.monotonic()
    with golden.workdir() as base, golden.test_hub(base) as hub:
        checks = planned(hub)
    record_timing("plan every case", time.monotonic() - started)
    assert {reqs[0] for reqs in checks} == {r.requirements[0] for r in RELEASES}, "both releases are planned"
    assert any("vllm-bnb-plugin" in r for reqs in checks for r in reqs), "a 4-bit plan on vLLM 0.33.0 is checked"
    _, lib = drivers["550"]
    failures = []
    for requirements, specs in sorted(checks.items()):
        release = next(r for r in RELEASES if r.requirements[0] == requirements[0])
        overlay = overlay_of(venvs[release.version], requirements[len(release.requirements) :])
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "specs.json").write_text(json.dumps([spec for spec, _ in specs.values()]))
            env = {**os.environ, "LD_LIBRARY_PATH": str(lib), "VLLM_LOGGING_LEVEL": "ERROR"}
            if overlay:
                env["PYTHONPATH"] = str(overlay)
            done = subprocess.run(
                [
                    str(venvs[release.version] / "bin" / "python"),
                    str(WRAPPER),
                    hostside_tool(),
                    tmp + "/specs.json",
                    tmp + "/out.json",
                ],
                check=False,
                capture_output=True,
                text=True,
                env=env,
                timeout=900,
            )
            assert done.returncode == 0, done.stderr[-3000:]
            results = json.loads((Path(tmp) / "out.json").read_text())
        record_timing(f"vllm-check {len(specs)} service(s) on {' '.join(requirements)}", time.monotonic() - started)
        for (spec, wheres), result in zip(specs.values(), results):
            failures += [
                f"{' '.join(requirements)}: {p} (planned by {wheres[0]}, and {len(wheres) - 1} more)"
                for p in result["problems"]
            ]
    assert not failures, "\n".join(failures)


MIN_CAPABILITY = """
import json, sys
sys.path.insert(0, {wrapper!r})
import vllm_planned_gpu
vllm_planned_gpu.planned_platform()
vllm_planned_gpu.PLANNED["cc"] = 8.0  # (what modules probe as they import)
from vllm.model_executor.layers.quantization import QUANTIZATION_METHODS, get_quantization_config
print(json.dumps({{m: get_quantization_config(m).get_min_capability() / 10 for m in {methods!r} if m in QUANTIZATION_METHODS}}))
"""


@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.version)
def test_quantized_kernels_lowest_compute_capability_is_the_releases(fetched, release):
    drivers, venvs = fetched
    code = MIN_CAPABILITY.format(wrapper=str(WRAPPER.parent), methods=sorted(QUANT_MIN_CC))
    done = subprocess.run(
        [str(venvs[release.version] / "bin" / "python"), "-c", code],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "LD_LIBRARY_PATH": str(drivers["550"][1]), "VLLM_LOGGING_LEVEL": "ERROR"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.splitlines()[-1]) == QUANT_MIN_CC


TORCH_VERDICT = """
import json, warnings
import torch
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    torch.cuda.device_count()
print(json.dumps({"cuda": torch.version.cuda, "too_old": [str(w.message) for w in seen if "too old" in str(w.message)]}))
"""


@pytest.mark.parametrize("branch", sorted(LIBCUDA_SUITES))
@pytest.mark.parametrize("release", RELEASES, ids=lambda r: r.version)
def test_torch_judges_a_driver_as_llmhost_plans_it(fetched, release, branch):
    """torch's CUDA runtime asks libcuda its version first (cudaGetDeviceCount: "The NVIDIA driver on
    your system is too old (found version 12040)"); with no GPU, a driver it accepts fails later,
    quietly. Its verdict must be llmhost's: below the release's planned minimum (on Ampere and Ada,
    where the wheels' cubins run) exactly when torch says too old."""
    drivers, venvs = fetched
    version, lib = drivers[branch]
    done = subprocess.run(
        [str(venvs[release.version] / "bin" / "python"), "-c", TORCH_VERDICT],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, "LD_LIBRARY_PATH": str(lib)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    verdict = json.loads(done.stdout.splitlines()[-1])
    assert verdict["cuda"] == release.cuda
    minimum, why = wheel_min_driver(release.cuda, False, 8.0)
    assert bool(verdict["too_old"]) == (driver_tuple(version) < driver_tuple(minimum)), (
        f"torch {release.torch} (CUDA {release.cuda}) on libcuda {version}: {verdict['too_old'] or 'accepted'}; "
        f"llmhost plans >= {minimum} ({why})"
    )
