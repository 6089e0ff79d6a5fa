"""Layer: the host's apt sources on the planned mirror (or the distribution's own again)."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import apt as apt_ops

from llmhost.operations import apt
from llmhost.plan import HostPlan
from llmhost.render import apt_sources_vars
from llmhost.resources import template


@deploy("llmhost mirrors layer")
def apply(plan: HostPlan) -> None:
    a = plan.apt
    if a is None:
        return
    if a.uri:
        changed = apt.sources(
            name=f"apt sources {a.file} from {a.uri}",
            path=a.file,
            backup=a.backup,
            src=template(a.template),
            **apt_sources_vars(a),
        )
    else:
        changed = apt.sources(name=f"apt sources {a.file}: the distribution's own", path=a.file, backup=a.backup)
    apt_ops.update(name="Refresh apt package lists (sources changed)", _if=changed.did_change)
