"""What the planned engines need from the host's OS before they start, checked against its facts
before any change: the size of /dev/shm, the open-files limit, the memory a container may use. Where
llmhost may fix it as root, the plan says so (the system layer does it); where it may not, the plan
refuses with the number and the fix."""

from __future__ import annotations

import math

from llmhost.plan.inputs import HostFacts, directories_record, lib_dir, webui_data_dir
from llmhost.plan.types import GiB, PlanError, ServicePlan, ShmPlan, gib
from llmhost.settings import Settings

MiB = 2**20
# vLLM's shared-memory message queues (vllm/distributed/device_communicators/shm_broadcast.py; vLLM
# >= 0.27 checks /dev/shm's free space before creating each and dies with "Insufficient space in
# /dev/shm"): the executor's broadcast queue (VLLM_MQ_MAX_CHUNK_BYTES_MB 16 MiB x 10 chunks), one
# response queue per worker (24 MiB x 10), and a TP group's broadcaster (4 MiB x 6) where TP > 1.
# The CPU backend always runs the multiprocessing executor; on GPUs only TP > 1 does (TP 1 is one
# process with no queues). Pages are taken as the queues fill: all of it at the worst.
VLLM_SHM_BROADCAST = 160 * MiB
VLLM_SHM_PER_WORKER = 240 * MiB
VLLM_SHM_TP_GROUP = 24 * MiB
# NCCL's shared-memory transport between the GPUs of one host: a segment of ~9.2 MiB per peer
# connection (its "Error while creating shared memory segment /dev/shm/nccl-* (size 9637888)").
NCCL_SHM_PER_PAIR = 10 * MiB
SHM_MIN_GROWN = 1 * GiB  # /dev/shm is grown to at least this, in whole GiB
# vLLM raises its soft open-files limit to 65535 at start (a descriptor per connection); below it,
# it warns of "Too many open files" under load.
NOFILE = 65536


def shm_need(service: ServicePlan) -> tuple[int, str]:
    """What one service's engine takes of /dev/shm at the worst, and what it is."""
    workers = service.tensor_parallel_size * service.pipeline_parallel_size
    if service.engine.engine == "vllm-cpu" or (service.engine.engine == "vllm" and workers > 1):
        need = VLLM_SHM_BROADCAST + workers * VLLM_SHM_PER_WORKER
        what = f"{service.name}: vLLM's queues {VLLM_SHM_BROADCAST // MiB} MiB + {workers} x {VLLM_SHM_PER_WORKER // MiB} MiB"
        if workers > 1:
            need += VLLM_SHM_TP_GROUP + workers * (workers - 1) * NCCL_SHM_PER_PAIR
            what += (
                f" + {VLLM_SHM_TP_GROUP // MiB} MiB (TP group) + NCCL {workers} x {workers - 1} x "
                f"{NCCL_SHM_PER_PAIR // MiB} MiB"
            )
        return need, what
    return 0, ""


def shared_memory(facts: HostFacts, services: list[ServicePlan]) -> tuple[ShmPlan | None, list[str]]:
    """/dev/shm against what the planned engines take of it together: enough, grown, or refused."""
    needs = [shm_need(s) for s in services]
    need = sum(n for n, _ in needs)
    if not need:
        return None, []
    what = "; ".join(w for n, w in needs if n)
    mib = f"{need // MiB} MiB ({what})"
    if facts.shm_bytes is None:
        return None, [f"/dev/shm: the engines need {mib}; its size is not known here"]
    if facts.shm_bytes >= need:
        return None, [f"/dev/shm: {facts.shm_bytes // MiB} MiB holds what the engines need, {mib}"]
    grown = max(SHM_MIN_GROWN, math.ceil(need / GiB) * GiB)
    if not facts.shm_growable:
        raise PlanError(
            f"host: /dev/shm is {facts.shm_bytes // MiB} MiB and the engines need {mib}; llmhost may not "
            f"grow it here (it is not root with CAP_SYS_ADMIN: a container's /dev/shm is its runtime's): start "
            f"the container with --shm-size={grown // GiB}g (or --ipc=host), or grow it as root"
        )
    plan = ShmPlan(grown)
    kept = (
        "kept in /etc/fstab (systemd applies it at boot)"
        if facts.systemd
        else "kept in /etc/fstab (a container without systemd starts with its runtime's /dev/shm again: give it "
        f"--shm-size={grown // GiB}g)"
    )
    return plan, [
        (
            f"/dev/shm: grown from {facts.shm_bytes // MiB} MiB to {gib(grown)} ({plan.option}): the engines "
            f"need {mib}; remounted now, {kept}"
        )
    ]


def open_files(facts: HostFacts, supervisor: str, services: list[ServicePlan]) -> tuple[int, list[str]]:
    """The engines' open-files limit: LimitNOFILE= in their units; in a launcher, ulimit -n up to
    the hard limit the tmux session inherits."""
    if not services:
        return NOFILE, []
    if supervisor == "systemd":
        return NOFILE, [
            (
                f"open files: LimitNOFILE={NOFILE} in the engines' units (vLLM raises its soft limit to "
                "65535: a descriptor per connection)"
            )
        ]
    hard = facts.nofile_hard
    nofile = NOFILE if hard is None or hard >= NOFILE else hard
    return nofile, [
        f"open files: ulimit -Sn {nofile} in the launchers (a tmux session starts with the shell's soft "
        "limit)"
        + (
            ""
            if nofile == NOFILE
            else f"; the hard limit here is {hard}, below the 65535 vLLM "
            "asks for (raise it: /etc/security/limits.conf, or docker run --ulimit nofile=65536)"
        )
    ]


def memory(facts: HostFacts) -> list[str]:
    """The memory the engines are sized within, where a container's limit is below the machine's."""
    if facts.usable_memory_bytes >= facts.memory_bytes:
        return []
    return [
        (
            f"memory: {gib(facts.usable_memory_bytes)}, this container's cgroup limit (the machine has "
            f"{gib(facts.memory_bytes)}): the engines are sized within it"
        )
    ]


def llmhost_directories(settings: Settings) -> tuple[tuple[str, str, bool], ...]:
    """The directories the system layer makes on a host, parents first: (path, mode, whether the
    service user writes there). Read ahead with the planner's facts (PathStates), for
    ``directories``: root's own (bin, lib, venvs, models, run), the service user's (logs, home,
    cache, the web UI's data) and the env files' (secrets: root's alone)."""
    r = settings.root
    own = (r, f"{r}/bin", lib_dir(r), f"{r}/venvs", f"{r}/models", f"{r}/run")
    writable = (f"{r}/logs", f"{r}/home", f"{r}/cache") + ((webui_data_dir(r),) if settings.webui else ())
    return (
        tuple((path, "755", False) for path in own)
        + tuple((path, "755", True) for path in writable)
        + ((settings.env_dir, "700", False),)
    )


def directories(
    facts: HostFacts, settings: Settings, user: str | None
) -> tuple[tuple[tuple[str, str, str | None, bool], ...], tuple[str, ...], list[str]]:
    """Each planned directory as the system layer takes it: (path, mode, owner or None, llmhost's),
    the directories llmhost's record lists after the run, and the reasons. llmhost sets the mode
    and owner only of the directories it made (its record says which, or this run makes them); one
    that exists and is not llmhost's stays as it is, and is refused where the service user could
    not write it (the engines' logs, caches, HOME) or where it is no directory."""
    found = {path: (kind, mode, owner) for path, kind, mode, owner in facts.paths}
    recorded = facts.made_directories
    key = {settings.env_dir: "llmhost_env_dir"}
    planned, foreign = [], []
    for path, mode, writable in llmhost_directories(settings):
        owner = user if writable else None
        now = found.get(path)
        if now and now[0] != "directory":
            what = "a symbolic link" if now[0] == "link" else f"a {now[0]}"
            raise PlanError(
                f"{key.get(path, 'llmhost_root')}: {path} is {what}, not a directory; llmhost makes its "
                "directories itself (name the real directory, or remove it)"
            )
        ours = not now or recorded is None or path in recorded
        if now and not ours:
            _, bits, holder = now
            if owner and holder != owner:
                raise PlanError(
                    f"{key.get(path, 'llmhost_root')}: {path} exists and llmhost did not make it (owner {holder}, "
                    f"mode {bits:o}); its engines write there as {owner}, and llmhost changes the owner of no "
                    f"directory it did not make: remove it, give it to {owner}, or choose another llmhost_root"
                )
            foreign.append(f"{path} ({holder}, {bits:o})")
        planned.append((path, mode, owner, ours))
    made = tuple(sorted(set(recorded or ()) | {path for path, _, _, ours in planned if ours}))
    said = (
        f"directories: {', '.join(foreign)} exist and llmhost did not make them (its record "
        f"{directories_record(settings.root)}): their mode and owner stay as they are"
    )
    reasons = [said] if foreign else []
    return tuple(planned), made, reasons


def listen_ports(settings: Settings) -> tuple[int, ...]:
    """The ports the data's services, gateway, web UI and monitoring listen on: read ahead with the planner's
    facts (ListeningPorts), for ``port_conflicts``."""
    ports = [s.port for s in settings.services] + [x.port for x in (settings.gateway, settings.webui) if x]
    if settings.monitoring:
        ports += [port for _, port in settings.monitoring.ports]
    return tuple(sorted(set(ports)))


def port_conflicts(
    facts: HostFacts, settings: Settings, services: list[ServicePlan], accounts: set[str]
) -> tuple[str, ...]:
    """The ports the plan listens on that another program holds on the host, each as the line that
    stops a serve run before any change (else the engine would find it when it starts; a run that
    only reads, fetches models or stops goes on). One held by llmhost's own process is the service a
    re-run finds running: its executable or command line under llmhost_root (an engine venv, a
    build, Ollama's release), or its socket opened by one of llmhost's ``accounts`` (the service
    account, Ollama's), which root in a container may not look into."""
    held = {port: (pid, exe, cmd, user) for port, pid, exe, cmd, user in facts.listening}
    conflicts = []
    bound = {s.name for s in services if s.health_url}  # a headless worker of a cluster listens on none
    wanted = [(f"llmhost_services[{i}].port", s.port) for i, s in enumerate(settings.services) if s.name in bound]
    wanted += [
        (f"{key}.port", x.port)
        for key, x in (("llmhost_gateway", settings.gateway), ("llmhost_webui", settings.webui))
        if x
    ]
    if settings.monitoring:
        wanted += [(f"llmhost_monitoring.{k}", port) for k, port in settings.monitoring.ports]
    own = f"{settings.root}/"
    first: dict[int, str] = {}  # each port once, by its first key (the ollama services share one)
    for key, port in wanted:
        first.setdefault(port, key)
    for port, key in first.items():
        if port not in held:
            continue
        pid, exe, cmd, user = held[port]
        if own in exe or own in cmd or user in accounts:
            continue
        who = f"pid {pid} ({cmd or exe})" if pid else f"a process of user {user or '?'}"
        conflicts.append(f"{key}: {port} is already in use on the host, by {who}; stop it or choose another port")
    return tuple(conflicts)
