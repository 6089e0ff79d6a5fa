"""Layer: one versioned venv per planned engine release, with its pinned packages."""

from __future__ import annotations

from pyinfra.api import deploy
from pyinfra.operations import files, pip

from llmhost.operations.pip import requirements
from llmhost.plan import EnginePlan, HostPlan
from llmhost.render import pip_conf_vars
from llmhost.resources import template


def venv(engine: EnginePlan) -> None:
    """A venv with its pip.conf and pinned requirements (engines, and the model-tools venv)."""
    label = f"{engine.engine} {engine.version}"
    pip.venv(name=f"Venv for {label}", path=engine.venv, python=engine.python)
    files.template(
        name=f"pip.conf of {label}",
        src=template("pip.conf.j2"),
        dest=f"{engine.venv}/pip.conf",
        mode="644",
        **pip_conf_vars(engine),
    )
    # After installing: pip pulls torchvision & co. in as dependencies; they must go again.
    requirements(
        name=f"Install {label}" + (f" without {', '.join(engine.remove)}" if engine.remove else ""),
        pip=engine.pip_bin,
        present=list(engine.requirements),
        absent=list(engine.remove),
    )


@deploy("llmhost engine layer")
def apply(plan: HostPlan) -> None:
    for engine in plan.engines:
        venv(engine)
