"""Layer: each service's weights on the host, matching a sha256 manifest; hub models locked on the controller."""

from __future__ import annotations

from io import StringIO

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.api.operation import OperationMeta
from pyinfra.operations import files

from llmhost.deploys.engine import venv
from llmhost.manifest import run_manifest
from llmhost.operations import files as llmfiles
from llmhost.operations import llamacpp, model
from llmhost.plan import HostPlan


@deploy("llmhost model layer")
def apply(plan: HostPlan, convert: bool = True) -> dict[str, list[OperationMeta]]:
    """Returns the operations of each service's model (its weights, and with ``convert`` the GGUF
    made from them where the service asks for one), keyed by service name: a change in any
    restarts it."""
    done: dict[str, OperationMeta] = {}
    by_path: dict[str, OperationMeta] = {}
    full = plan.verify == "full"
    if plan.tools:  # the hub clients that fetch models on the host
        venv(plan.tools, plan.tool)
    token_file = plan.hf_token_file
    if token_file:  # the token reaches the host as a 0600 file (uploaded, never on a command line)
        llmfiles.content(
            name=f"HF token for hub downloads ({token_file}, 0600)",
            src=StringIO(f"HF_TOKEN={plan.hf_token}\n"),
            dest=token_file,
            mode="600",
        )
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
                manifest=run_manifest(host.state, m.ref, m.spec),
                manifest_path=m.manifest,
                full=full,
            )
        elif m.source == "host":
            op = model.on_host(
                name=f"Model {m.path} (already on the host)",
                path=m.path,
                spec=m.spec,
                manifest_path=m.manifest,
                python=plan.python,
                tool=plan.tool,
                full=full,
            )
        else:
            op = model.fetched(
                name=f"Model {m.path} from {m.spec}"
                + (f" (locked at {m.locked['revision'][:12]})" if m.locked else ""),
                source=m.source,
                repo=m.ref,
                spec=m.spec,
                revision=m.revision,
                locked=m.locked,
                dest=m.path,
                manifest_path=m.manifest,
                python=plan.tools.python_bin,
                tool=plan.tool,
                endpoint=plan.hf_endpoint if m.source == "hf" else plan.modelscope_endpoint,
                endpoint_key=dict(plan.endpoint_keys)[m.source],
                token_file=token_file if m.source == "hf" else None,
                full=full,
                file=m.file,
            )
            # The controller keeps what the host resolved (commit + hashes): later runs and rebuilds
            # fetch exactly that. Unchanged (no download) when the lock already says it.
            files.get(
                name=f"Lock {m.spec} on the controller ({m.lock_file})",
                src=m.manifest,
                dest=m.lock_file,
                add_deploy_dir=False,
                create_local_dir=True,
            )
        done[service.name] = by_path[m.path] = op
    if convert and plan.converter:
        venv(plan.converter, plan.tool)
    return {name: [op, *(_converted(plan, name, op) if convert else [])] for name, op in done.items()}


def _converted(plan: HostPlan, name: str, weights: OperationMeta) -> list[OperationMeta]:
    """The GGUF a service asks to be made from its checkpoint (llama.cpp's converter, llama-quantize)."""
    service = next(s for s in plan.services if s.name == name)
    c = service.convert
    if c is None:
        return []
    args = {
        "source": c.source,
        "source_manifest": c.source_manifest,
        "output": c.output,
        "quant": c.quant,
        "outtype": c.outtype,
        "python": c.python,
        "script": c.script,
        "quantize": c.quantize,
        "manifest": c.manifest,
        "spec": c.spec,
        "host_python": plan.python,
        "tool": plan.tool,
        "threads": c.threads,
    }
    made = llamacpp.converted(name=f"GGUF {c.quant} of {c.source} ({c.output})", **args)
    again = llamacpp.converted(
        name=f"GGUF {c.quant} of {c.source} again (the checkpoint changed)",
        force=True,
        **args,
        _if=lambda: weights.did_change() and not made.did_change(),
    )
    return [made, again]
