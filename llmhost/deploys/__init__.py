"""Packaged deploys, one per layer. Each reads a HostPlan and never decides anything itself.

    system -> engine -> model -> service -> verify

``host_plan(host)`` is the one entry: validate the host's data, read its facts, plan.
"""

from __future__ import annotations

from llmhost.facts import host_facts
from llmhost.plan import HostPlan, plan_host
from llmhost.settings import load


def host_plan(host) -> HostPlan:
    """Validate ``host``'s data (DataError on bad input), read its facts and plan it (PlanError)."""
    settings = load(host.data.dict())
    return plan_host(host_facts(host), settings)
