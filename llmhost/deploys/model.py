"""Layer: each service's weights on the host, matching a sha256 manifest."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta

from llmhost.manifest import build_manifest
from llmhost.operations import model
from llmhost.plan import HostPlan


@deploy("llmhost model layer")
def apply(plan: HostPlan) -> dict[str, OperationMeta]:
    """Returns the operation of each service's model, keyed by service name (for restarts)."""
    done: dict[str, OperationMeta] = {}
    by_path: dict[str, OperationMeta] = {}
    for service in plan.services:
        m = service.model
        if m.path in by_path:  # two services of one model share its directory
            done[service.name] = by_path[m.path]
            continue
        if m.source == "controller":
            op = model.pushed(
                name=f"Model {m.path} from the controller",
                src=m.ref,
                dest=m.path,
                manifest=build_manifest(m.ref, m.spec),
                manifest_path=m.manifest,
            )
        else:
            op = model.fetched(
                name=f"Model {m.path} from hf:{m.ref}",
                repo=m.ref,
                revision=m.revision,
                dest=m.path,
                manifest_path=m.manifest,
                python=service.engine.python_bin,
                tool=plan.tool,
                endpoint=plan.hf_endpoint,
                token=plan.hf_token,
            )
        done[service.name] = by_path[m.path] = op
    return done
