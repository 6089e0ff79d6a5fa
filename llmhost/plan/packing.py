"""Several services on one host: how they share its GPUs (a ledger of the memory each claims, in
planning order), its CPUs (disjoint ranges for the services that compute on them) and its memory."""

from __future__ import annotations

from dataclasses import replace

from llmhost.plan.inputs import Gpu, HostFacts
from llmhost.plan.route import Route
from llmhost.plan.types import PlanError, gib

# Share of host memory llmhost lets all engines use (weights + KV + runtime); the rest stays
# for the OS, page cache and other tenants.
HOST_MEMORY_SHARE = 0.80
# torch sees less than nvidia-smi's memory.total (24576 MiB -> 23.58 GiB on an RTX 3090: 0.98).
GPU_USABLE_FRACTION = 0.98
GPU_UTIL_MAX = 0.95  # the most of a GPU one service takes (vLLM raises its utilization up to it, with a reason)
# Memory other processes hold on a GPU (a desktop's Xorg and shell, another job) is claimed first,
# with room for it to grow: vLLM refuses to start when less than utilization x total is free.
GPU_OTHERS_MARGIN_MIB = 256


def memory_share(facts: HostFacts, services: int) -> int:
    """Host memory (a container's limit where it has one) is shared evenly between services."""
    return int(facts.usable_memory_bytes * HOST_MEMORY_SHARE / max(1, services))


class Ledger:
    """GPU memory the host's services claim, per GPU, in planning order: services that share GPUs
    are packed explicitly (llama.cpp and Ollama take what they compute, vLLM what is left)."""

    def __init__(self, gpus: tuple[Gpu, ...]):
        self.usable = [int(g.memory_mib * 2**20 * GPU_USABLE_FRACTION) for g in gpus]
        self.claims: list[list[tuple[str, int]]] = [[] for _ in gpus]
        for i, gpu in enumerate(gpus):
            if gpu.memory_used_mib:
                self.claim(
                    [i],
                    f"other processes ({gpu.memory_used_mib} MiB in use + {GPU_OTHERS_MARGIN_MIB} MiB to grow)",
                    (gpu.memory_used_mib + GPU_OTHERS_MARGIN_MIB) * 2**20,
                )

    def free(self, gpu: int) -> int:
        return self.usable[gpu] - sum(n for _, n in self.claims[gpu])

    def order(self) -> list[int]:
        """GPUs with the most free memory first (ties: by index)."""
        return sorted(range(len(self.usable)), key=lambda i: (-self.free(i), i))

    def room(self, gpu: int) -> int:
        """What one more service may take on ``gpu``: what the others left, at most GPU_UTIL_MAX of it."""
        return min(int(self.usable[gpu] * GPU_UTIL_MAX), self.free(gpu))

    def claim(self, gpus: list[int], who: str, per_gpu: int) -> None:
        for i in gpus:
            self.claims[i].append((who, per_gpu))

    def taken(self, gpus: list[int]) -> str:
        """What others hold on ``gpus`` ("" when nothing)."""
        return "; ".join(
            f"GPU {i}: " + ", ".join(f"{who} {gib(n)}" for who, n in self.claims[i]) for i in gpus if self.claims[i]
        )


def cpu_ids(online: str) -> list[int]:
    """/sys/devices/system/cpu/online ("0-3,8-11") as CPU numbers."""
    ids: list[int] = []
    for part in online.split(","):
        lo, _, hi = part.strip().partition("-")
        if lo.isdigit():
            ids.extend(range(int(lo), int(hi or lo) + 1))
    return ids


def cpu_range(ids: list[int]) -> str:
    """CPU numbers as a list of ranges ("0-3,8")."""
    parts, start = [], None
    for i, cpu in enumerate(ids):
        if start is None:
            start = cpu
        if i + 1 == len(ids) or ids[i + 1] != cpu + 1:
            parts.append(f"{start}-{cpu}" if cpu != start else str(cpu))
            start = None
    return ",".join(parts)


def cpu_shares(facts: HostFacts, routes: list[Route]) -> list[HostFacts]:
    """Each service's view of the host's CPUs: services routed to the CPU (vllm-cpu, llama.cpp and
    Ollama without GPUs) get disjoint, contiguous shares of the online CPUs, so two engines never
    fight over one core; the others see the whole host."""
    on_cpu = [i for i, r in enumerate(routes) if not r.on_gpu]
    # the ollama services share one daemon, and so one share
    daemon = [i for i in on_cpu if routes[i].engine == "ollama"]
    groups = sorted([[i] for i in on_cpu if i not in daemon] + ([daemon] if daemon else []))
    views = [facts] * len(routes)
    if len(groups) < 2:
        return views
    ids = cpu_ids(facts.cpu_online) or list(range(facts.cores))
    if len(ids) < len(groups):
        raise PlanError(
            f"llmhost_services: {len(groups)} services compute on the CPU and the host has {len(ids)} CPU(s) online "
            f"({facts.cpu_online}); each needs at least one"
        )
    size, extra = divmod(len(ids), len(groups))
    start = 0
    for n, group in enumerate(groups):
        take = size + (1 if n < extra else 0)
        share = ids[start : start + take]
        start += take
        for index in group:
            views[index] = replace(facts, cores=len(share), cpu_online=cpu_range(share))
    return views
