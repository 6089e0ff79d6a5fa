"""One vLLM across several hosts (a service with ``nodes``): vLLM's own multi-node mode, the head
running the API server and each other node a headless worker (``--nnodes``, ``--node-rank``,
``--master-addr``, ``--master-port``, ``--headless``; docs/hosts/multi-node.md says why not
Ray). Decided here: that the cluster can be formed (every node in the inventory, with the same
service in its data, an interface with an address, the same GPUs and driver, nothing else served),
its parallelism (tensor parallel = GPUs per node, pipeline parallel = nodes), the largest pipeline
stage the sizing fits on each node, and each node's rank, addresses and environment."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import math
from dataclasses import dataclass, fields, replace

from llmhost.modelinfo import ModelInfo
from llmhost.plan.inputs import HostFacts
from llmhost.plan.types import PlanError
from llmhost.settings import ServiceWish

# addresses only a private network reaches: RFC 1918's, and the shared address space of RFC 6598
# (CGNAT, which overlay networks like Tailscale use); Python's is_private leaves the latter out
PRIVATE_NETWORKS = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")
)


def private(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return any(ip in network for network in PRIVATE_NETWORKS if network.version == ip.version)


@dataclass(frozen=True)
class Node:
    """A node of a service across hosts, as the controller knows it: its inventory name, its facts
    (read from it), its llmhost_cluster_interface and its data's services."""

    name: str
    facts: HostFacts
    interface: str | None
    services: tuple[ServiceWish, ...]
    public: bool = False  # its llmhost_cluster_public: its interface may carry a public address


@dataclass(frozen=True)
class ClusterInputs:
    """What the plan of a node of a service across hosts reads beyond its own host."""

    host: str  # this host's inventory name
    inventory: tuple[str, ...]
    nodes: tuple[Node, ...]  # every host named in a ``nodes`` of this host's services (this one included)


@dataclass(frozen=True)
class Cluster:
    """One node's part of a service across hosts."""

    nodes: tuple[str, ...]
    rank: int  # this node's index in nodes (0: the head)
    addresses: tuple[str, ...]  # each node's IPv4 on its cluster interface
    interface: str  # this node's
    tp: int
    pp: int
    master_port: int
    digest: str  # of every node's part: a change on any node restarts all of them
    reasons: tuple[str, ...]

    @property
    def head(self) -> bool:
        return self.rank == 0

    def args(self) -> tuple[str, ...]:
        """vLLM's multi-node flags for this node (its headless flag apart)."""
        return (
            "--pipeline-parallel-size",
            str(self.pp),
            "--distributed-executor-backend",
            "mp",
            "--nnodes",
            str(len(self.nodes)),
            "--node-rank",
            str(self.rank),
            "--master-addr",
            self.addresses[0],
            "--master-port",
            str(self.master_port),
        )

    def env(self, gpus: bool) -> dict[str, str]:
        """Where this node's traffic goes: vLLM's own address, gloo's (and NCCL's) interface."""
        env = {
            "VLLM_HOST_IP": self.addresses[self.rank],
            "GLOO_SOCKET_IFNAME": self.interface,
            "LLMHOST_CLUSTER": self.digest,
        }
        if gpus:
            env["NCCL_SOCKET_IFNAME"] = self.interface
        return env


def stage_info(info: ModelInfo, pp: int) -> ModelInfo:
    """The model as its largest pipeline stage holds it: ceil(layers / pp) layers (vLLM gives the
    remainder of an uneven split to the stages before the last) and, conservatively, a whole
    embedding table (the first stage's input embedding, or the last one's output head)."""
    if pp == 1:
        return info
    layers = math.ceil(info.num_layers / pp)
    params = info.params or int(info.weight_bytes / info.stored_dtype_bytes)
    embedding = info.vocab_size * info.hidden_size
    tables = 1 if info.tied_embeddings else 2
    in_layers = max(0, params - embedding * tables)
    stage = int(in_layers * layers / info.num_layers) + embedding
    return replace(info, num_layers=layers, params=stage, weight_bytes=int(info.weight_bytes * stage / params))


def _differs(a: ServiceWish, b: ServiceWish) -> str | None:
    """The first key in which two nodes' data of one service differ (None: the same)."""
    for f in fields(ServiceWish):
        if getattr(a, f.name) != getattr(b, f.name):
            return f.name
    return None


def _values(key: str, theirs: ServiceWish, ours: ServiceWish) -> str:
    """Both sides of a differing key, as the data wrote them (an API key is never shown)."""
    if key == "api_key":
        return "the keys differ"
    if key == "model":
        return f"{theirs.model.spec!r} there, {ours.model.spec!r} here"
    return f"{getattr(theirs, key)!r} there, {getattr(ours, key)!r} here"


def _gpus(facts: HostFacts) -> str:
    return f"{len(facts.gpus)} x {facts.gpus[0].name} ({facts.gpus[0].memory_mib} MiB)" if facts.gpus else "no GPU"


def plan_cluster(index: int, wish: ServiceWish, cluster: ClusterInputs | None, facts: HostFacts) -> Cluster:
    """This host's part of ``wish`` (a service with ``nodes``), or PlanError naming what cannot be."""
    key = f"llmhost_services[{index}]"
    if cluster is None:
        raise PlanError(
            f"{key}.nodes: a service across hosts is planned from an inventory that has its nodes "
            f"({', '.join(wish.nodes)}): `llmhost plan INVENTORY` or a deploy"
        )
    if cluster.host not in wish.nodes:
        raise PlanError(
            f"{key}.nodes: {cluster.host} is not one of its nodes ({', '.join(wish.nodes)}); give the "
            "service in the data of its nodes only"
        )
    by_name = {n.name: n for n in cluster.nodes}
    missing = [n for n in wish.nodes if n not in by_name]
    if missing:
        raise PlanError(
            f"{key}.nodes: {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the inventory "
            f"({', '.join(cluster.inventory)}); every node is a host of the same inventory"
        )
    nodes = [by_name[n] for n in wish.nodes]
    for node in nodes:
        theirs = next((s for s in node.services if s.name == wish.name), None)
        if theirs is None:
            raise PlanError(
                f"{key}.nodes: the data of {node.name} has no service {wish.name!r}; give it to every "
                "node alike (group data of their group)"
            )
        key_ = _differs(wish, theirs)
        if key_:
            raise PlanError(
                f"{key}.{key_}: differs in the data of {node.name} ({_values(key_, theirs, wish)}); the nodes "
                f"of {wish.name} need the same service"
            )
        others = [s.name for s in node.services if s.name != wish.name]
        if others:
            raise PlanError(
                f"{key}.nodes: {node.name} also serves {', '.join(others)}; a node of a service across "
                "hosts serves that service alone"
            )
    addresses = []
    for node in nodes:
        if not node.interface:
            raise PlanError(
                f"llmhost_cluster_interface: not set for {node.name}, a node of {wish.name}; name the "
                "interface of the nodes' private network (e.g. eth1)"
            )
        have = dict(node.facts.interfaces or ())
        if not have.get(node.interface):
            seen = ", ".join(f"{name} {' '.join(ips) or '(no IPv4)'}" for name, ips in sorted(have.items()))
            raise PlanError(
                f"llmhost_cluster_interface: {node.name} has no interface {node.interface} with an IPv4 "
                f"address (it has: {seen or 'none read'})"
            )
        address = have[node.interface][0]
        if not node.public and not private(address):
            raise PlanError(
                f"llmhost_cluster_interface: {node.interface} of {node.name} has the public address {address}; "
                "the traffic between nodes (torch's rendezvous, vLLM's queues) is neither authenticated nor "
                "encrypted: name the interface of a private network (10/8, 172.16/12, 192.168/16, 100.64/10), "
                f"or set llmhost_cluster_public = true for {node.name}"
            )
        addresses.append(address)
    head = nodes[0]
    for node in nodes[1:]:
        a, b = head.facts, node.facts
        if [(g.name, g.memory_mib) for g in a.gpus] != [(g.name, g.memory_mib) for g in b.gpus]:
            raise PlanError(
                f"{key}.nodes: the nodes' GPUs differ: {head.name} has {_gpus(a)}, {node.name} has "
                f"{_gpus(b)}; vLLM splits the model evenly, so every node needs the same GPUs"
            )
        if a.gpus and a.gpu_driver != b.gpu_driver:
            raise PlanError(
                f"{key}.nodes: the NVIDIA drivers differ: {head.name} has {a.gpu_driver}, {node.name} has "
                f"{b.gpu_driver}; install the same driver on every node (NCCL between them)"
            )
        if (a.arch, a.python_version) != (b.arch, b.python_version):
            raise PlanError(
                f"{key}.nodes: {head.name} is {a.arch} with Python {a.python_version}, {node.name} is "
                f"{b.arch} with Python {b.python_version}; every node runs the same vLLM environment"
            )
    info = wish.model.info
    pp = len(nodes)
    tp = len(facts.gpus) or 1
    reasons = [
        (
            f"nodes: {', '.join(wish.nodes)}, {head.name} the head (the API server), the others headless workers "
            "(vLLM's multi-node mode: --nnodes/--node-rank/--master-addr)"
        )
    ]
    if info is not None:
        if info.num_layers < pp:
            raise PlanError(
                f"{key}.nodes: {wish.model.ref} has {info.num_layers} layers, fewer than its {pp} nodes "
                "(one pipeline stage per node)"
            )
        if facts.gpus and (info.num_attention_heads % tp or (info.num_kv_heads % tp and tp % info.num_kv_heads)):
            raise PlanError(
                f"{key}.nodes: tensor parallel {tp} (the GPUs of a node) does not divide "
                f"{wish.model.ref}'s {info.num_attention_heads} attention heads / {info.num_kv_heads} KV "
                "heads"
            )
        per = math.ceil(info.num_layers / pp)
        reasons.append(
            f"pipeline_parallel_size={pp}: one stage per node, {per} of {info.num_layers} layers at most "
            "each (the weights, KV cache and context below are one node's: the largest stage)"
        )
    if facts.gpus:
        reasons.append(
            f"tensor_parallel_size={tp}: the GPUs of each node ({_gpus(facts)}); vLLM's docs: TP = GPUs "
            "per node, PP = nodes"
        )
    else:
        reasons.append("tensor_parallel_size=1: one vLLM CPU worker per node")
    rank = wish.nodes.index(cluster.host)
    reasons.append(
        f"node rank {rank} ({'the head: API server and rank 0' if rank == 0 else 'a headless worker'}); "
        f"--master-addr {addresses[0]}:{wish.master_port} ({head.name}'s {head.interface}); "
        f"VLLM_HOST_IP={addresses[rank]}, GLOO_SOCKET_IFNAME{'/NCCL_SOCKET_IFNAME' if facts.gpus else ''}="
        f"{nodes[rank].interface} (llmhost_cluster_interface)"
    )
    reasons.append(
        "restarts: every node's unit carries LLMHOST_CLUSTER (a digest of the whole cluster's plan), so a "
        "change on any node restarts them all (a head alone cannot rejoin workers of an earlier run)"
    )
    whole = json.dumps(
        [wish.nodes, addresses, [n.interface for n in nodes], wish.master_port, tp, pp, repr(wish)], sort_keys=True
    )
    digest = hashlib.sha256(whole.encode()).hexdigest()[:16]
    return Cluster(
        tuple(wish.nodes),
        rank,
        tuple(addresses),
        nodes[rank].interface,
        tp,
        pp,
        wish.master_port,
        digest,
        tuple(reasons),
    )
