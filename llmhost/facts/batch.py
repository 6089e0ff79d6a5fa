"""Several facts in one round trip (pyinfra 3 reads every fact with a command of its own, and
caches none: over SSH each is a round trip)."""

from __future__ import annotations

from typing import Any

from pyinfra.api import FactBase, StringCommand
from pyinfra.api.exceptions import FactProcessError

MARK = "@@llmhost-fact"
MISSING = "##PYINFRA_NOCMD##"  # what pyinfra's own guard prints when requires_command is absent

Spec = tuple[type[FactBase], tuple[tuple[str, Any], ...]]  # a fact class and its keyword arguments


def _text(command: Any) -> str:
    return command.get_raw_value() if isinstance(command, StringCommand) else str(command)


def _attribute(fact: FactBase, name: str, kwargs: dict) -> Any:
    value = getattr(fact, name)
    return value(**kwargs) if callable(value) else value


class Facts(FactBase[dict]):
    """
    Several facts read in one remote command: each fact's own command (behind the same
    ``requires_command`` guard pyinfra puts around it), and its output handed to that fact's own
    ``process``, so each reads as ``host.get_fact(cls, **kwargs)`` reads it, by its index.

    + facts: ``((fact class, ((keyword, value), ...)), ...)``

    A fact whose command exits non-zero fails the whole read, naming it (as its own read fails the
    host); an absent ``requires_command`` gives that fact's default.

    .. code:: python

        host.get_fact(Facts, facts=((LinuxOs, ()), (DiskFree, (("path", "/opt/llmhost/models"),))))
        {0: {"id": "debian", ...}, 1: 53687091200}
    """

    def command(self, facts: tuple[Spec, ...]) -> str:
        # pyinfra processes the output with this same instance
        self.facts, self.same = facts, {}  # same: a fact's index -> an earlier one with the same command
        parts, first = [], {}
        for i, (cls, kwargs) in enumerate(facts):
            fact, kw = cls(), dict(kwargs)
            command = _text(_attribute(fact, "command", kw))
            requires = _attribute(fact, "requires_command", kw)
            if requires:
                command = (
                    f"if command -v {_text(requires)} >/dev/null 2>&1; then ( {command} ); else echo '{MISSING}'; fi"
                )
            if command in first:  # two facts that read the same output (NVIDIA's PCI devices): run once
                self.same[i] = first[command]
                continue
            first[command] = i
            parts.append(f"echo '{MARK} {i}'; ( {command} ); echo \"{MARK} status $?\"")
        return "; ".join(parts)

    @staticmethod
    def default() -> dict:
        return {}

    def process(self, output) -> dict:
        sections: dict[int, list[str]] = {}
        index, current = -1, None
        for line in output:
            if line.startswith(f"{MARK} status "):
                status = line.removeprefix(f"{MARK} status ").strip()
                cls = self.facts[index][0]
                if status != "0":
                    raise FactProcessError(
                        f"{cls.__name__}{dict(self.facts[index][1]) or ''}: its command exited {status}"
                    )
                current = None
            elif line.startswith(f"{MARK} "):
                index = int(line.removeprefix(f"{MARK} "))
                current = sections.setdefault(index, [])
            elif current is not None:
                current.append(line)
        sections.update({i: sections[j] for i, j in self.same.items() if j in sections})
        result = {}
        for i, lines in sections.items():
            cls, _kwargs = self.facts[i]
            fact = cls()
            # as pyinfra does: no output (or the binary absent) is the fact's default
            result[i] = fact.default() if not lines or lines == [MISSING] else fact.process(lines)
        return result


def read_facts(host, specs: list[Spec]) -> list:
    """The facts of ``specs`` in one round trip, in order. A fact the batch did not answer (its
    read failed) is read on its own, so that it fails as pyinfra fails it."""
    answered = host.get_fact(Facts, facts=tuple(specs)) or {}
    return [answered[i] if i in answered else host.get_fact(cls, **dict(kw)) for i, (cls, kw) in enumerate(specs)]


def each(get_fact, specs: tuple[Spec, ...]) -> dict:
    """What ``Facts`` answers, read one fact at a time through ``get_fact`` (test hosts)."""
    return {i: get_fact(cls, **dict(kw)) for i, (cls, kw) in enumerate(specs)}
