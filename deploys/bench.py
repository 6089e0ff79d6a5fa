"""Benchmark the services of an inventory's hosts: `llmhost bench INVENTORY` runs this.

    llmhost bench inventories/local.py --levels 1,2,4     (runs: pyinfra -y INVENTORY deploys/bench.py)

Per host: plan it (bad data, an unknown service or an impossible level stop here, before any
change), install the load generator's venv, probe the memory bandwidth once, and sweep each
service; each sweep's record lands on the controller (LLMHOST_BENCH_RESULTS, default build/bench).
The request comes from LLMHOST_BENCH (JSON, written by `llmhost bench`).
"""

import os

from pyinfra import host

from llmhost.deploys import bench as layer
from llmhost.deploys.inputs import bench_request, cluster_inputs, gateway_inputs, host_inputs
from llmhost.plan import applicable, plan_bench, plan_host

settings, facts = host_inputs(host)
plan = applicable(plan_host(facts, settings, gateway_inputs(host, settings), cluster_inputs(host, settings, facts)))
request = bench_request(os.environ.get("LLMHOST_BENCH", "{}"))
bench = plan_bench(plan, facts, settings, request)
layer.apply(plan, bench, facts, os.environ.get("LLMHOST_BENCH_RESULTS", "build/bench"), request)
