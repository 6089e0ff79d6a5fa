"""The planner: one pure function from (what the host is, what the user wants) to a frozen plan.

No I/O here. Every decision carries a reason, kept next to the code that makes it; an impossible
wish raises :class:`PlanError` with the numbers, before any host is touched. The layers
(llmhost/deploys) only turn a plan into operations.

Where each decision is made: one module per concern, listed with its decisions in docs/project/design.md
(Layout); tests/unit/test_plan_package.py holds the table to the modules.

Imports flow one way: settings, catalog and data tables -> types -> the deciding modules ->
services -> host -> this package's face, which hands on only what the layers and the CLI use.
"""

from llmhost.plan.applicable import applicable, reachable
from llmhost.plan.bench import BenchPlan, BenchRequest, plan_bench
from llmhost.plan.cluster import ClusterInputs, Node
from llmhost.plan.host import plan_host, supervised
from llmhost.plan.hostplan import GatewayPlan, HostPlan, MonitoringPlan, WebuiPlan
from llmhost.plan.inputs import Backend, GatewayInputs, Gpu, HostFacts, Owned, directories_record, owned_record
from llmhost.plan.mirrors import endpoints
from llmhost.plan.models import model_path
from llmhost.plan.monitoring import LOAD_QUERIES
from llmhost.plan.preconditions import listen_ports, llmhost_directories
from llmhost.plan.types import (
    AptPlan,
    CondaPlan,
    CudaPlan,
    EnginePlan,
    GiB,
    OllamaPlan,
    PlanError,
    ServicePlan,
    SupervisedProcess,
)

__all__ = [
    "LOAD_QUERIES",
    "AptPlan",
    "Backend",
    "BenchPlan",
    "BenchRequest",
    "ClusterInputs",
    "CondaPlan",
    "CudaPlan",
    "EnginePlan",
    "GatewayInputs",
    "GatewayPlan",
    "GiB",
    "Gpu",
    "HostFacts",
    "HostPlan",
    "MonitoringPlan",
    "Node",
    "OllamaPlan",
    "Owned",
    "PlanError",
    "ServicePlan",
    "SupervisedProcess",
    "WebuiPlan",
    "applicable",
    "directories_record",
    "endpoints",
    "listen_ports",
    "llmhost_directories",
    "model_path",
    "owned_record",
    "plan_bench",
    "plan_host",
    "reachable",
    "supervised",
]
