"""Hardware description files for `llmhost plan --hardware FILE`: the planner's input without a host.

YAML or JSON::

    os: {id: ubuntu, version: "22.04"}
    wsl: false
    systemd: true
    cpu: {cores: 64, flags: [avx2, avx512f]}
    memory_gib: 1024
    disk_free_gib: 2000
    gpus:
      - {name: NVIDIA A800-SXM4-80GB, memory_mib: 81920, compute_capability: "8.0", count: 8,
         driver: "550.54.15",      # optional: the driver nvidia-smi reports (the plan checks it)
         memory_used_mib: 0}       # optional: GPU memory other processes hold (a desktop)
    python: "3.10.12"              # optional: the version of python3 on the host
    nvswitches: 6                  # optional: NVSwitch bridges on PCI (HGX boards)
    packages: [nvidia-driver-550]  # optional: NVIDIA's Debian packages installed (a desktop driver)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from llmhost.plan import GiB, Gpu, HostFacts

TOP_KEYS = (
    "os",
    "wsl",
    "systemd",
    "cpu",
    "memory_gib",
    "disk_free_gib",
    "gpus",
    "arch",
    "python",
    "nvswitches",
    "packages",
)


class HardwareError(ValueError):
    """One line: ``<field>: <problem>``."""


def _need(mapping: dict, key: str, types, where: str) -> Any:
    if key not in mapping:
        raise HardwareError(f"{where}{key}: is required")
    value = mapping[key]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise HardwareError(f"{where}{key}: expected {getattr(types, '__name__', types)}, got {value!r}")
    if not isinstance(value, types):
        raise HardwareError(f"{where}{key}: expected {getattr(types, '__name__', types)}, got {value!r}")
    return value


def parse_hardware(data: Any) -> HostFacts:
    if not isinstance(data, dict):
        raise HardwareError("hardware: expected a mapping with os, cpu, memory_gib, ...")
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise HardwareError(f"{unknown[0]}: unknown field (known: {', '.join(TOP_KEYS)})")
    os_ = _need(data, "os", dict, "")
    cpu = _need(data, "cpu", dict, "")
    cores = _need(cpu, "cores", int, "cpu.")
    if cores < 1:
        raise HardwareError(f"cpu.cores: expected >= 1, got {cores}")
    flags = cpu.get("flags", [])
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise HardwareError("cpu.flags: expected a list of strings")
    memory = _need(data, "memory_gib", (int, float), "")
    if memory <= 0:
        raise HardwareError(f"memory_gib: expected > 0, got {memory}")
    gpus = []
    raw_gpus = data.get("gpus", [])
    if not isinstance(raw_gpus, list):
        raise HardwareError("gpus: expected a list")
    for i, g in enumerate(raw_gpus):
        where = f"gpus[{i}]."
        if not isinstance(g, dict):
            raise HardwareError(f"gpus[{i}]: expected a mapping with name and memory_mib")
        name = _need(g, "name", str, where)
        mib = _need(g, "memory_mib", int, where)
        cc = g.get("compute_capability")
        if cc is not None:
            cc = str(cc)
            try:
                float(cc)
            except ValueError:
                raise HardwareError(f"{where}compute_capability: expected a number like 8.0, got {cc!r}")
        count = g.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise HardwareError(f"{where}count: expected an integer >= 1, got {count!r}")
        driver = g.get("driver")
        if driver is not None and not (isinstance(driver, str) and driver.replace(".", "").isdigit()):
            raise HardwareError(f'{where}driver: expected a driver version like "550.54.14", got {driver!r}')
        used = g.get("memory_used_mib", 0)
        if not isinstance(used, int) or isinstance(used, bool) or used < 0:
            raise HardwareError(f"{where}memory_used_mib: expected an integer >= 0, got {used!r}")
        gpus += [Gpu(name, mib, cc, driver, used)] * count
    disk = data.get("disk_free_gib")
    python = data.get("python")
    if python is not None and not (isinstance(python, str) and python.replace(".", "").isdigit()):
        raise HardwareError(f'python: expected a version like "3.10.12", got {python!r}')
    switches = data.get("nvswitches", 0)
    if not isinstance(switches, int) or isinstance(switches, bool) or switches < 0:
        raise HardwareError(f"nvswitches: expected an integer >= 0, got {switches!r}")
    packages = data.get("packages", [])
    if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
        raise HardwareError("packages: expected a list of package names")
    return HostFacts(
        os_id=str(_need(os_, "id", str, "os.")).lower(),
        os_version=str(_need(os_, "version", (str, int, float), "os.")),
        wsl=bool(data.get("wsl", False)),
        systemd=bool(data.get("systemd", True)),
        arch=str(data.get("arch", "x86_64")),
        cores=cores,
        cpu_online=f"0-{cores - 1}" if cores > 1 else "0",
        cpu_flags=frozenset(flags),
        memory_bytes=int(memory * GiB),
        gpus=tuple(gpus),
        disk_free_bytes=None if disk is None else int(disk * GiB),
        python_version=python,
        nvswitches=switches,
        nvidia_packages=frozenset(packages),
        nvidia_smi="/usr/lib/wsl/lib/nvidia-smi" if gpus and data.get("wsl") else "nvidia-smi" if gpus else None,
    )


def load_hardware(path: str | Path) -> HostFacts:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise HardwareError(f"{path}: cannot read ({e.strerror})")
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        first = str(e).splitlines()[0]
        raise HardwareError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({first})")
    return parse_hardware(data)
