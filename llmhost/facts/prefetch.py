"""The facts llmhost's operations will read, read ahead in one round trip.

pyinfra 3 reads a fact when an operation's commands are generated, one command per fact, and an
operation waits for every host before the next begins: on a converged fleet each of a dozen
per-file reads is a round trip of its own for all hosts. Here an operation says, when the deploy
calls it, which facts it will read (``reads``); the first of those reads in the run fetches all
that are expected and not yet read, in one command (``llmhost.facts.batch.Facts``), and each
operation then takes its own answer from it (``get``).

An answer is served only while it is true: it was read after every change the run made on the
host so far. Each answer carries the number of this host's operations that had run commands (or
failed) when it was read; when an operation has changed anything since, the next read fetches
again, in one command, every expected fact not yet served. A converged host is read once; a cold
one once per change, never more than one command a read as before.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

from pyinfra import host as current_host
from pyinfra.api import FactBase, Host
from pyinfra.context import ContextObject

from llmhost.facts.batch import read_facts

Key = tuple[type[FactBase], tuple[tuple[str, Any], ...]]


class _Reads:
    """One host's expected reads and what they answered, in this run."""

    def __init__(self, state) -> None:
        self.state = weakref.ref(state)  # the run these reads belong to (a host can serve several)
        self.expected: dict[Key, None] = {}  # in the order the deploy called the operations
        self.served: set[Key] = set()
        self.answers: dict[Key, tuple[int, Any]] = {}  # key -> (changes when read, value)


_hosts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _key(cls: type[FactBase], kwargs: dict) -> Key:
    return cls, tuple(sorted(kwargs.items()))


def _reads(host) -> _Reads | None:
    """``host``'s reads, or None for a host that is not pyinfra's (a test's stand-in)."""
    host = _real(host)
    if not isinstance(host, Host):
        return None
    reads = _hosts.get(host)
    if reads is None or reads.state() is not host.state:
        reads = _hosts[host] = _Reads(host.state)
    return reads


def _real(host):
    """The host behind pyinfra's context proxy (``from pyinfra import host``)."""
    return host._get_module() if isinstance(host, ContextObject) else host


def changes(host) -> int:
    """How many of ``host``'s operations have run so far in this run and ran commands, or failed
    (a failed one may have changed something before it failed)."""
    count = 0
    for data in host.state.ops.get(host, {}).values():
        meta = data.operation_meta
        if meta.is_complete() and (not meta.did_succeed() or meta.did_change()):
            count += 1
    return count


def expect(host, cls: type[FactBase], **kwargs) -> None:
    """``host`` will read ``cls(**kwargs)`` in an operation of this run."""
    reads = _reads(host)
    if reads is not None:
        reads.expected.setdefault(_key(cls, kwargs), None)


def get(host, cls: type[FactBase], **kwargs):
    """``host.get_fact(cls, **kwargs)``, answered from the run's one read of the expected facts
    while nothing has changed on the host since that read."""
    reads = _reads(host)
    if reads is None:
        return host.get_fact(cls, **kwargs)
    key, now = _key(cls, kwargs), changes(_real(host))
    held = reads.answers.get(key)
    if held is None or held[0] != now:
        wanted = [key] + [
            k for k in reads.expected if k != key and k not in reads.served and reads.answers.get(k, (None,))[0] != now
        ]
        for k, value in zip(wanted, read_facts(host, list(wanted))):
            reads.answers[k] = (now, value)
        held = reads.answers[key]
    reads.served.add(key)
    return held[1]


def answered(host, cls: type[FactBase], value, **kwargs) -> None:
    """``cls(**kwargs)`` was read now, outside an operation (with the planner's facts): served to
    the run's operations while nothing has changed on the host since."""
    reads = _reads(host)
    if reads is not None:
        reads.answers[_key(cls, kwargs)] = (changes(_real(host)), value)


def held(host, cls: type[FactBase], **kwargs):
    """What ``cls(**kwargs)`` answered when it was read ahead, while nothing has changed on the
    host since; None where it was not read, or something changed (nothing is read here)."""
    reads = _reads(host)
    if reads is None:
        return None
    key = _key(cls, kwargs)
    answer = reads.answers.get(key)
    if answer is None or answer[0] != changes(_real(host)):
        return None
    reads.served.add(key)
    return answer[1]


def reads(facts: Callable[..., list[tuple[type[FactBase], dict]]]):
    """Decorate a pyinfra operation (outside its ``@operation()``): ``facts(*args, **kwargs)``
    names the facts it reads with those arguments, expected when the deploy calls it."""

    def wrap(op):
        @functools.wraps(op)
        def call(*args, **kwargs):
            for cls, kw in facts(*args, **kwargs):
                expect(current_host, cls, **kw)
            return op(*args, **kwargs)

        return call

    return wrap
