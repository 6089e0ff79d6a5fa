"""A service across hosts (``nodes``): vLLM's multi-node mode planned per node from every node's
data and facts (as the deploy builds them: llmhost.deploys.cluster_inputs), the argv, environment
and unit of the head and of a headless worker exact, and every refusal one line before any change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from llmhost.hardware import load_hardware
from llmhost.plan import ClusterInputs, Node, PlanError, plan_host
from llmhost.render import unit_vars
from llmhost.settings import DataError, load
from tests.helpers import REPO
from tests.unit.common import DEVBOX

A800 = load_hardware(REPO / "tests/fixtures/hardware/a800.yaml")
V100 = load_hardware(REPO / "tests/fixtures/hardware/v100.yaml")
QWEN72 = {
    "name": "qwen72",
    "model": "Qwen/Qwen2-72B-Instruct",
    "host": "0.0.0.0",
    "api_key": "k-1",
    "nodes": ["gpu-1", "gpu-2"],
}


def on_net(facts, ip, interface="eth1"):
    return replace(facts, interfaces=(("eth0", ("172.17.0.9",)), (interface, (ip,)), ("lo", ("127.0.0.1",))))


def data(*services, interface="eth1"):
    return {"llmhost_services": list(services), "llmhost_cluster_interface": interface}


def plan(me, nodes, inventory=None):
    """``me``'s plan; ``nodes``: {name: (facts, data)} of every node (``me`` among them)."""
    settings = {name: load(d) for name, (_, d) in nodes.items()}
    inputs = ClusterInputs(
        me,
        tuple(inventory or nodes),
        tuple(
            Node(name, facts, settings[name].cluster_interface, settings[name].services, settings[name].cluster_public)
            for name, (facts, _) in nodes.items()
        ),
    )
    return plan_host(nodes[me][0], settings[me], cluster=inputs)


def a800_pair(service=QWEN72, **second):
    return {
        "gpu-1": (on_net(A800, "10.0.0.1"), data(service)),
        "gpu-2": (on_net(second.get("facts", A800), "10.0.0.2"), second.get("data", data(service))),
    }


def test_72b_on_two_a800_nodes_is_tp8_pp2_with_a_head_and_a_headless_worker():
    head, worker = (plan(n, a800_pair()).services[0] for n in ("gpu-1", "gpu-2"))
    assert (head.tensor_parallel_size, head.pipeline_parallel_size) == (8, 2)
    assert (worker.tensor_parallel_size, worker.pipeline_parallel_size) == (8, 2)
    multi = [
        "--pipeline-parallel-size",
        "2",
        "--distributed-executor-backend",
        "mp",
        "--nnodes",
        "2",
        "--master-addr",
        "10.0.0.1",
        "--master-port",
        "29501",
    ]
    a, b = list(head.argv), list(worker.argv)
    assert a[1:3] == ["-m", "vllm.entrypoints.openai.api_server"] and a[a.index("--port") + 1] == "8000"
    assert b[1:3] == ["/opt/llmhost/bin/llmhost-hosttool", "vllm-node"] and b[-1] == "--headless"
    assert "--port" not in b and "--host" not in b
    for argv, rank in ((a, "0"), (b, "1")):
        assert all(x in argv for x in multi) and argv[argv.index("--node-rank") + 1] == rank
        assert argv[argv.index("--tensor-parallel-size") + 1] == "8"
    # the same sizing on both nodes: vLLM takes the engine's numbers from each node's own argv
    assert a[a.index("--dtype") : a.index("--node-rank")] == b[b.index("--dtype") : b.index("--node-rank")]
    ea, eb = dict(head.env), dict(worker.env)
    assert (ea["VLLM_HOST_IP"], eb["VLLM_HOST_IP"]) == ("10.0.0.1", "10.0.0.2")
    assert ea["NCCL_SOCKET_IFNAME"] == eb["GLOO_SOCKET_IFNAME"] == "eth1"
    assert ea["LLMHOST_CLUSTER"] == eb["LLMHOST_CLUSTER"]
    assert (head.headless, worker.headless) == (False, True)
    assert head.health_url == "http://127.0.0.1:8000" and worker.health_url == ""
    assert any("pipeline_parallel_size=2: one stage per node, 40 of 80 layers" in r for r in head.reasons)
    # half of 72B's bf16 weights per node, an eighth of that per GPU: unquantized
    assert head.quantization is None and head.dtype == "bfloat16"
    # the unit runs exactly the worker's argv, with its environment
    unit = unit_vars(worker, user="llmhost", workdir="/opt/llmhost/home", nofile=65536)
    assert unit["exec_start"].startswith(
        '"/opt/llmhost/venvs/vllm-current/bin/python" "/opt/llmhost/bin/llmhost-hosttool" "vllm-node" "--model" '
    )
    assert '"VLLM_HOST_IP=10.0.0.2"' in unit["environment"]


def test_a_change_of_the_cluster_changes_every_nodes_digest():
    before = {n: dict(plan(n, a800_pair()).services[0].env)["LLMHOST_CLUSTER"] for n in ("gpu-1", "gpu-2")}
    moved = {**QWEN72, "master_port": 29600}
    after = {n: dict(plan(n, a800_pair(moved)).services[0].env)["LLMHOST_CLUSTER"] for n in ("gpu-1", "gpu-2")}
    assert before["gpu-1"] == before["gpu-2"] != after["gpu-1"] == after["gpu-2"]


def test_two_cpu_nodes_serve_the_tiny_model_with_one_worker_each(tiny):
    service = {"name": "tiny", "model": tiny, "nodes": ["a", "b"], "engine": "vllm-cpu"}
    nodes = {
        "a": (on_net(DEVBOX, "172.18.0.2", "eth0"), data(service, interface="eth0")),
        "b": (on_net(DEVBOX, "172.18.0.3", "eth0"), data(service, interface="eth0")),
    }
    head, worker = (plan(n, nodes).services[0] for n in "ab")
    assert head.engine.engine == worker.engine.engine == "vllm-cpu"
    assert (head.tensor_parallel_size, head.pipeline_parallel_size) == (1, 2)
    assert "NCCL_SOCKET_IFNAME" not in dict(head.env) and dict(worker.env)["GLOO_SOCKET_IFNAME"] == "eth0"
    assert any("tensor_parallel_size=1: one vLLM CPU worker per node" in r for r in worker.reasons)


def _refusal(me, nodes, inventory=None) -> str:
    with pytest.raises(PlanError) as e:
        plan(me, nodes, inventory)
    assert "\n" not in str(e.value)
    return str(e.value)


def test_a_node_not_in_the_inventory_is_refused():
    nodes = a800_pair()
    del nodes["gpu-2"]
    assert _refusal("gpu-1", nodes) == (
        "llmhost_services[0].nodes: gpu-2 is not in the inventory (gpu-1); every node is a host of the same inventory"
    )


def test_a_host_that_is_not_a_node_is_refused():
    nodes = {**a800_pair(), "gpu-3": (on_net(A800, "10.0.0.3"), data(QWEN72))}
    assert _refusal("gpu-3", nodes).startswith(
        "llmhost_services[0].nodes: gpu-3 is not one of its nodes (gpu-1, gpu-2)"
    )


def test_mismatched_gpus_are_refused_with_both_sides():
    assert _refusal("gpu-1", a800_pair(facts=V100)) == (
        "llmhost_services[0].nodes: the nodes' GPUs differ: gpu-1 has 8 x NVIDIA A800-SXM4-80GB (81920 MiB), gpu-2 has "
        f"{len(V100.gpus)} x {V100.gpus[0].name} ({V100.gpus[0].memory_mib} MiB); vLLM splits the model evenly, so "
        "every node needs the same GPUs"
    )


def test_different_drivers_are_refused():
    older = replace(A800, gpus=tuple(replace(g, driver="535.104.05") for g in A800.gpus))
    assert "the NVIDIA drivers differ: gpu-1 has 535.161.08, gpu-2 has 535.104.05" in _refusal(
        "gpu-1", a800_pair(facts=older)
    )


def test_a_node_whose_data_differs_is_refused_naming_the_key():
    other = data({**QWEN72, "max_model_len": 8192})
    assert _refusal("gpu-1", a800_pair(data=other)).startswith(
        "llmhost_services[0].max_model_len: differs in the data of gpu-2 (8192 there, None here)"
    )


def test_a_differing_key_or_model_is_named_and_a_key_never_shown():
    keyed = _refusal("gpu-1", a800_pair(data=data({**QWEN72, "api_key": "k-secret-2"})))
    assert keyed.startswith("llmhost_services[0].api_key: differs in the data of gpu-2 (the keys differ)")
    assert "k-secret-2" not in keyed and "k-1" not in keyed
    other = _refusal("gpu-1", a800_pair(data=data({**QWEN72, "model": "Qwen/Qwen2.5-72B-Instruct"})))
    assert other.startswith(
        "llmhost_services[0].model: differs in the data of gpu-2 ('hf:Qwen/Qwen2.5-72B-Instruct' "
        "there, 'hf:Qwen/Qwen2-72B-Instruct' here)"
    )


def test_a_node_without_the_service_or_serving_more_is_refused():
    assert "the data of gpu-2 has no service 'qwen72'" in _refusal("gpu-1", a800_pair(data=data()))
    more = data(QWEN72, {"name": "small", "model": "Qwen/Qwen2.5-0.5B-Instruct", "port": 8001})
    assert "gpu-2 also serves small; a node of a service across hosts serves that service alone" in _refusal(
        "gpu-1", a800_pair(data=more)
    )


def test_a_missing_interface_is_refused_with_what_the_host_has():
    nodes = a800_pair()
    nodes["gpu-2"] = (nodes["gpu-2"][0], data(QWEN72, interface="ib0"))
    assert _refusal("gpu-1", nodes) == (
        "llmhost_cluster_interface: gpu-2 has no interface ib0 with an IPv4 address "
        "(it has: eth0 172.17.0.9, eth1 10.0.0.2, lo 127.0.0.1)"
    )
    nodes["gpu-2"] = (nodes["gpu-2"][0], data(QWEN72, interface=None))
    assert _refusal("gpu-1", nodes).startswith("llmhost_cluster_interface: not set for gpu-2, a node of qwen72")


def test_a_cluster_interface_with_a_public_address_needs_the_opt_in():
    """torch's rendezvous and vLLM's queues take connections without authentication: a public
    address on the cluster interface is refused unless that node's data opts in."""
    nodes = a800_pair()
    nodes["gpu-2"] = (on_net(A800, "203.0.113.7"), data(QWEN72))
    assert _refusal("gpu-1", nodes) == (
        "llmhost_cluster_interface: eth1 of gpu-2 has the public address 203.0.113.7; the traffic between nodes "
        "(torch's rendezvous, vLLM's queues) is neither authenticated nor encrypted: name the interface of a "
        "private network (10/8, 172.16/12, 192.168/16, 100.64/10), or set llmhost_cluster_public = true for gpu-2"
    )
    nodes["gpu-2"] = (on_net(A800, "203.0.113.7"), {**data(QWEN72), "llmhost_cluster_public": True})
    assert plan("gpu-1", nodes).services[0].nodes == ("gpu-1", "gpu-2")
    # CGNAT's shared space (an overlay network's) is private; 172.32/16 is not RFC 1918's
    for address in ("100.100.1.2", "172.31.255.1"):
        nodes["gpu-2"] = (on_net(A800, address), data(QWEN72))
        assert plan("gpu-1", nodes).services, address
    nodes["gpu-2"] = (on_net(A800, "172.32.0.1"), data(QWEN72))
    assert "has the public address 172.32.0.1" in _refusal("gpu-1", nodes)


def test_more_nodes_than_layers_and_heads_tp_does_not_divide_are_refused(tiny):
    service = {"name": "tiny", "model": tiny, "nodes": ["a", "b", "c"], "engine": "vllm-cpu"}
    nodes = {n: (on_net(DEVBOX, f"10.0.0.{i}"), data(service)) for i, n in enumerate("abc", 1)}
    assert "has 2 layers, fewer than its 3 nodes" in _refusal("a", nodes)
    six = replace(A800, gpus=A800.gpus[:6])  # 64 heads / 8 KV heads: TP 6 divides neither
    assert "tensor parallel 6 (the GPUs of a node) does not divide Qwen/Qwen2-72B-Instruct's 64 attention heads" in (
        _refusal(
            "gpu-1",
            {"gpu-1": (on_net(six, "10.0.0.1"), data(QWEN72)), "gpu-2": (on_net(six, "10.0.0.2"), data(QWEN72))},
        )
    )


def test_a_plan_without_an_inventory_or_on_llamacpp_is_refused(tiny):
    with pytest.raises(
        PlanError, match=r"^llmhost_services\[0\].nodes: a service across hosts is planned from an inventory"
    ):
        plan_host(on_net(A800, "10.0.0.1"), load(data(QWEN72)))
    latency = {"name": "tiny", "model": tiny, "nodes": ["a", "b"], "workload": "latency"}
    nodes = {n: (on_net(DEVBOX, f"10.0.0.{i}"), data(latency)) for i, n in enumerate("ab", 1)}
    assert _refusal("a", nodes).startswith(
        "llmhost_services[0].nodes: a service across hosts runs vLLM; here the route is llamacpp"
    )


@pytest.mark.parametrize(
    "nodes, extra, message",
    [
        (["a"], {}, "expected two or more inventory hosts (the head first), got ['a']"),
        (["a", "a"], {}, "'a' is listed twice"),
        (
            ["a", "b"],
            {"engine": "llamacpp"},
            "a service across hosts runs vLLM (engine auto, vllm or vllm-cpu), not llamacpp",
        ),
        ("a", {}, "expected a list, got 'a' (str)"),
    ],
)
def test_bad_nodes_are_one_line(nodes, extra, message):
    with pytest.raises(DataError) as e:
        load(data({**QWEN72, "nodes": nodes, **extra}))
    assert str(e.value) == f"llmhost_services[0].nodes: {message}"


def test_a_bad_interface_name_is_one_line():
    with pytest.raises(DataError) as e:
        load(data(QWEN72, interface="eth 1"))
    assert (
        str(e.value) == "llmhost_cluster_interface: expected a network interface name (eth1, ens5f0, ib0), got 'eth 1'"
    )
