"""llmhost.facts.batch: several facts in one command, each read as pyinfra reads it on its own.
Run for real through sh on this machine, against each fact's own command run alone."""

from __future__ import annotations

import subprocess

import pytest
from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import KernelVersion

from llmhost.facts.batch import Facts, read_facts
from llmhost.facts.host import Cpu, DiskFree, LinuxOs, Memory, OpenFiles
from llmhost.facts.pip import PythonVersion


class Absent(FactBase[list]):
    """A fact whose binary is not there: pyinfra gives its default."""

    requires_command = "llmhost-no-such-binary"

    def command(self) -> str:
        return "llmhost-no-such-binary --list"

    @staticmethod
    def default() -> list:
        return ["the default"]


class Fails(FactBase[str]):
    def command(self) -> str:
        return "echo partial; exit 3"


class Silent(FactBase[str]):
    def command(self) -> str:
        return "true"

    @staticmethod
    def default() -> str:
        return "nothing printed"


SPECS = (
    (LinuxOs, ()),
    (Cpu, ()),
    (Memory, ()),
    (OpenFiles, ()),
    (DiskFree, (("path", "/tmp"),)),
    (PythonVersion, (("python", "python3"),)),
    (KernelVersion, ()),
    (DebPackages, ()),
    (Absent, ()),
    (Silent, ()),
)


def lines(command: str) -> list[str]:
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True).stdout.splitlines()


def alone(cls, kwargs) -> object:
    fact = cls()
    out = lines(fact.command(**dict(kwargs)))
    return fact.process(out) if out else fact.default()


def batched(specs):
    fact = Facts()
    return fact.process(lines(fact.command(facts=specs)))


def test_each_fact_reads_as_it_reads_alone():
    answered = batched(SPECS)
    for i, (cls, kwargs) in enumerate(SPECS):
        if cls is Absent:
            assert answered[i] == ["the default"]
            continue
        expected = alone(cls, kwargs)
        if cls is Memory:  # what is available moves between the two reads
            answered[i].pop("available_bytes"), expected.pop("available_bytes")
        if cls is DiskFree:  # and the free disk
            assert abs(answered[i] - expected) < 2**26
            continue
        assert answered[i] == expected, cls.__name__
    assert answered[SPECS.index((Silent, ()))] == "nothing printed"


def test_a_failing_command_fails_the_read_naming_its_fact():
    with pytest.raises(FactProcessError, match=r"^Fails: its command exited 3$"):
        batched(((LinuxOs, ()), (Fails, ())))


def test_a_fact_the_batch_did_not_answer_is_read_on_its_own():
    class Host:
        def __init__(self):
            self.asked = []

        def get_fact(self, cls, **kwargs):
            self.asked.append(cls.__name__)
            return {0: "batched"} if cls is Facts else "alone"

    host = Host()
    assert read_facts(host, [(LinuxOs, ()), (Cpu, ())]) == ["batched", "alone"]
    assert host.asked == ["Facts", "Cpu"]


class Slots(FactBase[list]):
    def command(self) -> str:
        return "echo '0000:01:00.0 0x2330 0x030200'; echo '0000:07:00.0 0x22a3 0x068000'"

    def process(self, output) -> list:
        return [line.split()[0] for line in output if line.split()[2].startswith("0x03")]


class Bridges(Slots):
    def process(self, output) -> list:
        return [line.split()[0] for line in output if line.split()[2].startswith("0x0680")]


def test_facts_with_the_same_command_run_it_once_and_each_reads_its_output():
    """As PciNvidiaGpus and NvSwitches do: one scan of the PCI bus, two readings of it."""
    fact = Facts()
    command = fact.command(facts=((Slots, ()), (LinuxOs, ()), (Bridges, ())))
    assert command.count("0x22a3") == 1 and "@@llmhost-fact 2" not in command
    answered = fact.process(lines(command))
    assert answered[0] == ["0000:01:00.0"] and answered[2] == ["0000:07:00.0"] and answered[1]["id"]
