"""Layer (of `llmhost bench`, not of serve): the load generator's venv, llmhost-bench, the host's
memory bandwidth probed once, then each planned sweep, its record kept on the controller."""

from __future__ import annotations

import dataclasses
import io
import json
import posixpath

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import files

from llmhost.deploys import engine
from llmhost.operations import bench as ops
from llmhost.plan import BenchPlan, BenchRequest, HostFacts, HostPlan
from llmhost.resources import hostside_bench


def _facts(facts: HostFacts) -> dict:
    """The host's facts as the record keeps them (sets as sorted lists)."""
    return {
        k: sorted(v) if isinstance(v, (set, frozenset)) else v
        for k, v in dataclasses.asdict(facts).items()
        if k != "deb_packages"
    }  # every installed package: not what a benchmark record is for


@deploy("llmhost bench layer")
def apply(plan: HostPlan, bench: BenchPlan, facts: HostFacts, results: str, request: BenchRequest) -> None:
    asked = dataclasses.asdict(request)  # the record's request; its levels and counts are each run's
    engine.venv(bench.tools, plan.tool)
    files.put(name="Install llmhost-bench", src=hostside_bench(), dest=bench.script, mode="755")
    python = bench.tools.python_bin
    if bench.probe:
        files.directory(
            name=f"Directory {posixpath.dirname(bench.bandwidth_cache)}",
            path=posixpath.dirname(bench.bandwidth_cache),
            mode="755",
        )
        ops.probed(
            name="Memory read bandwidth (probed once)",
            python=python,
            script=bench.script,
            cache=bench.bandwidth_cache,
            cpus=facts.cores,
        )
    for run in bench.runs:
        files.directory(name=f"Directory {run.out_dir}", path=run.out_dir, mode="755")
        spec = f"{run.out_dir}/spec.json"
        files.put(
            name=f"Sweep spec of {run.service}",
            src=io.StringIO(json.dumps(run.spec(), indent=2) + "\n"),
            dest=spec,
            mode="644",
        )
        meta = {
            "host": host.name,
            "service": run.service,
            "stamp": bench.stamp,
            "produced_by": run.produced_by,
            "weights_bytes": run.weights_bytes,
            "bound_note": "; ".join(r for r in run.reasons if r.startswith("bound")),
            "request": {
                **asked,
                "services": list(request.services),
                "levels": list(run.levels),
                "requests": list(run.requests),
            },
            "plan_reasons": list(run.reasons),
            "host_facts": _facts(facts),
            "tool": "guidellm",
        }
        ops.swept(
            name=f"Sweep of {run.service} at {run.url}: concurrency {', '.join(map(str, run.levels))}",
            python=python,
            script=bench.script,
            spec=spec,
            results=results,
            meta=meta,
            cache=bench.bandwidth_cache if run.bound == "cpu" else None,
            bandwidth={"read_gbs": run.gpu_bandwidth_gbs, "source": "specification"} if run.bound == "gpu" else None,
        )
