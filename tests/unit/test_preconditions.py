"""What the engines need from the OS, checked in the plan before any change (llmhost/plan/
preconditions.py), and what llmhost created and no longer plans (llmhost/plan/teardown.py)."""

from __future__ import annotations

import dataclasses

import pytest

from llmhost.hardware import load_hardware
from llmhost.plan import GiB, Owned, PlanError, plan_host
from llmhost.settings import load
from tests.helpers import REPO
from tests.unit.common import DEVBOX

MiB = 2**20
A800 = load_hardware(REPO / "tests/fixtures/hardware/a800.yaml")


def data(*services, **more):
    return load({"llmhost_services": list(services), **more})


# --- /dev/shm ----------------------------------------------------------------------------------


def test_docker_default_shm_is_grown_where_root_may(tiny):
    # vllm-cpu: vLLM's broadcast queue 160 MiB + one worker's response queue 240 MiB
    facts = dataclasses.replace(DEVBOX, shm_bytes=64 * MiB, shm_growable=True, systemd=True)
    plan = plan_host(facts, data({"name": "t", "model": tiny}))
    assert plan.shm is not None and plan.shm.size_bytes == 1 * GiB and plan.shm.option == "size=1048576k"
    assert plan.shm.fstab_line == "tmpfs /dev/shm tmpfs rw,nosuid,nodev,size=1048576k 0 0"
    assert (
        "/dev/shm: grown from 64 MiB to 1.00 GiB (size=1048576k): the engines need 400 MiB (t: vLLM's queues "
        "160 MiB + 1 x 240 MiB); remounted now, kept in /etc/fstab (systemd applies it at boot)"
    ) in plan.reasons


def test_docker_default_shm_is_refused_where_root_may_not_with_the_number_and_the_fix(tiny):
    facts = dataclasses.replace(DEVBOX, shm_bytes=64 * MiB, shm_growable=False)
    with pytest.raises(PlanError) as err:
        plan_host(facts, data({"name": "t", "model": tiny}))
    assert str(err.value) == (
        "host: /dev/shm is 64 MiB and the engines need 400 MiB (t: vLLM's queues 160 MiB + 1 x 240 MiB); llmhost may "
        "not grow it here (it is not root with CAP_SYS_ADMIN: a container's /dev/shm is its runtime's): start the "
        "container with --shm-size=1g (or --ipc=host), or grow it as root"
    )


def test_two_vllm_services_share_shm_and_tensor_parallel_adds_nccl():
    facts = dataclasses.replace(A800, shm_bytes=2 * GiB, shm_growable=True)
    plan = plan_host(facts, data({"name": "big", "model": "Qwen/Qwen2-72B-Instruct", "gpu_memory_utilization": 0.7}))
    # TP 8: 160 + 8 x 240 + 24 (TP group) + NCCL 8 x 7 x 10 = 2664 MiB > 2 GiB: grown to 3 GiB
    assert plan.services[0].tensor_parallel_size == 8
    assert plan.shm.size_bytes == 3 * GiB
    assert any(
        "the engines need 2664 MiB (big: vLLM's queues 160 MiB + 8 x 240 MiB + 24 MiB (TP group) + NCCL "
        "8 x 7 x 10 MiB)" in r
        for r in plan.reasons
    )


def test_engines_without_shared_memory_need_none(tiny, tmp_path):
    from llmhost.tinymodel import write_tiny_gguf, write_tiny_model

    gguf = write_tiny_gguf(write_tiny_model(tmp_path / "m"), tmp_path / "g").parent
    plan = plan_host(dataclasses.replace(DEVBOX, shm_bytes=64 * MiB), data({"name": "g", "model": str(gguf)}))
    assert plan.shm is None and not any(r.startswith("/dev/shm") for r in plan.reasons)
    # a GPU vLLM at TP 1 runs one process: no queues either
    gpu = dataclasses.replace(A800, shm_bytes=64 * MiB)
    plan = plan_host(gpu, data({"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct", "tensor_parallel_size": 1}))
    assert plan.shm is None


def test_a_big_enough_shm_is_left_alone_and_said_so(tiny):
    plan = plan_host(dataclasses.replace(DEVBOX, shm_bytes=2 * GiB), data({"name": "t", "model": tiny}))
    assert plan.shm is None
    assert (
        "/dev/shm: 2048 MiB holds what the engines need, 400 MiB (t: vLLM's queues 160 MiB + 1 x 240 MiB)"
        in plan.reasons
    )


# --- open files, memory ------------------------------------------------------------------------


def test_open_files_in_units_and_launchers(tiny):
    systemd = plan_host(dataclasses.replace(DEVBOX, systemd=True), data({"name": "t", "model": tiny}))
    assert systemd.nofile == 65536
    low = plan_host(dataclasses.replace(DEVBOX, nofile_hard=20000), data({"name": "t", "model": tiny}))
    assert low.supervisor == "tmux" and low.nofile == 20000
    assert any(
        r.startswith("open files: ulimit -Sn 20000 in the launchers") and "the hard limit here is 20000" in r
        for r in low.reasons
    )


def test_a_containers_memory_limit_sizes_the_engines(tiny):
    limited = dataclasses.replace(DEVBOX, memory_limit_bytes=4 * GiB)
    plan = plan_host(limited, data({"name": "q", "model": "Qwen/Qwen2.5-0.5B-Instruct"}))
    # 0.8 x 4 GiB = 3.2 GiB share; 0.92 GiB of weights, 1 GiB runtime: KV 1 GiB (not the 14 GiB of 23.5 GiB)
    assert dict(plan.services[0].env)["VLLM_CPU_KVCACHE_SPACE"] == "1"
    assert (
        "memory: 4.00 GiB, this container's cgroup limit (the machine has 23.54 GiB): the engines are sized within it"
    ) in plan.reasons
    with pytest.raises(PlanError, match=r"this service's share of host memory is 1\.60 GiB"):
        plan_host(
            dataclasses.replace(DEVBOX, memory_limit_bytes=2 * GiB),
            data({"name": "q", "model": "Qwen/Qwen2.5-1.5B-Instruct"}),
        )


# --- teardown ----------------------------------------------------------------------------------


def test_what_the_record_lists_and_the_plan_does_not_is_torn_down(tiny):
    record = (
        Owned("llmhost-old", "systemd", ("/etc/systemd/system/llmhost-old.service", "/etc/llmhost/old.env")),
        Owned(
            "llmhost-t",
            "systemd",
            ("/etc/systemd/system/llmhost-t.service", "/etc/llmhost/t.env", "/etc/llmhost/t.key.env"),
        ),
    )
    facts = dataclasses.replace(DEVBOX, systemd=True, owned=record)
    plan = plan_host(facts, data({"name": "t", "model": tiny}))
    assert plan.owned == (
        Owned("llmhost-t", "systemd", ("/etc/systemd/system/llmhost-t.service", "/etc/llmhost/t.env")),
    )
    old, key = plan.teardown
    assert (old.unit, old.stop, old.files) == ("llmhost-old", True, record[0].files)
    # t stays; the key file it had while it listened publicly goes
    assert (key.unit, key.stop, key.files) == ("llmhost-t", False, ("/etc/llmhost/t.key.env",))
    assert (
        "teardown: llmhost-old (systemd) is no longer planned: stopped and disabled; "
        "/etc/systemd/system/llmhost-old.service, /etc/llmhost/old.env removed (llmhost's record "
        "/opt/llmhost/owned.json; models and venvs stay)"
    ) in plan.reasons


def test_the_hub_token_file_is_recorded_and_goes_when_the_token_does():
    hub = {"name": "q", "model": "Qwen/Qwen2.5-1.5B-Instruct"}
    plan = plan_host(DEVBOX, data(hub, llmhost_hf_token="hf_abc"))
    assert plan.hf_token_file == "/etc/llmhost/hf-token.env"
    assert Owned("hf-token", "files", ("/etc/llmhost/hf-token.env",)) in plan.owned
    # the token dropped from the data: its file goes, and nothing is stopped for it
    facts = dataclasses.replace(DEVBOX, owned=plan.owned)
    plan = plan_host(facts, data(hub))
    assert plan.hf_token_file is None
    (gone,) = plan.teardown
    assert (gone.unit, gone.supervisor, gone.files) == ("hf-token", "files", ("/etc/llmhost/hf-token.env",))
    assert (
        "teardown: hf-token: files no longer planned; /etc/llmhost/hf-token.env removed (llmhost's record "
        "/opt/llmhost/owned.json; models and venvs stay)"
    ) in plan.reasons
    # a token with no hub model to fetch never reaches the host
    assert (
        plan_host(
            DEVBOX, data({"name": "t", "model": "./build/models/tiny-qwen2"}, llmhost_hf_token="hf_abc")
        ).hf_token_file
        is None
    )


def test_a_service_moved_to_tmux_is_stopped_under_systemd_and_keeps_its_env_file(tiny):
    record = (Owned("llmhost-t", "systemd", ("/etc/systemd/system/llmhost-t.service", "/etc/llmhost/t.env")),)
    facts = dataclasses.replace(DEVBOX, systemd=True, owned=record)
    plan = plan_host(facts, data({"name": "t", "model": tiny}, llmhost_supervisor="tmux"))
    (moved,) = plan.teardown
    assert (moved.supervisor, moved.stop, moved.files) == ("systemd", True, ("/etc/systemd/system/llmhost-t.service",))
    assert plan.owned == (Owned("llmhost-t", "tmux", ("/opt/llmhost/run/t.sh", "/etc/llmhost/t.env")),)


def test_data_listing_nothing_may_not_stop_what_runs_unless_it_says_so():
    """Group data pyinfra never read looks like data that lists no service: such a run would stop
    every service on the host, so it is refused until llmhost_remove_all says it is meant."""
    record = (Owned("llmhost-a", "tmux", ("/opt/llmhost/run/a.sh",)), Owned("llmhost-b", "tmux", ()))
    facts = dataclasses.replace(DEVBOX, owned=record)
    with pytest.raises(PlanError) as e:
        plan_host(facts, load({}))
    assert str(e.value).startswith(
        "llmhost_services: this host's data lists no service, gateway or web UI, and the run would stop 2 "
        "that llmhost runs here (llmhost-a, llmhost-b); if that is meant, set llmhost_remove_all = true"
    )
    plan = plan_host(facts, load({"llmhost_remove_all": True}))
    assert [(t.unit, t.stop) for t in plan.teardown] == [("llmhost-a", True), ("llmhost-b", True)]
    assert plan_host(DEVBOX, load({})).teardown == ()  # nothing runs: nothing to refuse


def test_nothing_recorded_nothing_torn_down(tiny):
    plan = plan_host(DEVBOX, data({"name": "t", "model": tiny}))
    assert plan.teardown == () and not any(r.startswith("teardown") for r in plan.reasons)


def test_the_record_fact_reads_only_what_llmhost_wrote():
    from llmhost.facts.records import OwnedRecord

    fact = OwnedRecord()
    good = '{"version": 1, "units": {"llmhost-t": {"supervisor": "tmux", "files": ["/opt/llmhost/run/t.sh"]}}}'
    assert fact.process([good]) == {"llmhost-t": {"supervisor": "tmux", "files": ["/opt/llmhost/run/t.sh"]}}
    assert fact.process([]) == {} and fact.process(["{broken"]) == {}
    assert fact.process(['{"units": {"x": {"supervisor": "launchd", "files": []}}}']) == {}
    # a record of files alone (the hub token's) is read back: else a token no longer wanted stays
    token = '{"units": {"hf-token": {"supervisor": "files", "files": ["/etc/llmhost/hf-token.env"]}}}'
    assert fact.process([token]) == {"hf-token": {"supervisor": "files", "files": ["/etc/llmhost/hf-token.env"]}}


# --- llmhost's directories: the mode and owner of those it made, and of no other ------------------

LLMHOST_DIRS = [
    "/opt/llmhost",
    "/opt/llmhost/bin",
    "/opt/llmhost/lib",
    "/opt/llmhost/venvs",
    "/opt/llmhost/models",
    "/opt/llmhost/run",
    "/opt/llmhost/logs",
    "/opt/llmhost/home",
    "/opt/llmhost/cache",
    "/etc/llmhost",
]
SERVED = dataclasses.replace(DEVBOX, python_unreachable="")  # the service user runs the engines


def there(*paths, mode=0o755, user="root"):
    return tuple((p, "directory", mode, user) for p in paths)


def test_a_new_host_gets_every_directory_made_and_recorded(tiny):
    plan = plan_host(SERVED, data({"name": "t", "model": tiny}))
    assert [d[0] for d in plan.directories] == LLMHOST_DIRS
    assert plan.directories[6] == ("/opt/llmhost/logs", "755", "llmhost", True)
    assert plan.directories[-1] == ("/etc/llmhost", "700", None, True)
    assert plan.made_directories == tuple(sorted(LLMHOST_DIRS))
    assert plan.directories_file == "/opt/llmhost/owned-directories.json"
    assert not any(r.startswith("directories:") for r in plan.reasons)


def test_a_root_llmhost_did_not_make_keeps_its_mode_and_owner(tiny):
    """llmhost_root = "/srv/lab", a directory the lab made: llmhost makes what it lacks and sets
    the mode and owner of those alone; /srv/lab stays 2775 alice's, and is not in the record."""
    facts = dataclasses.replace(SERVED, paths=there("/srv/lab", mode=0o2775, user="alice"), made_directories=())
    plan = plan_host(facts, data({"name": "t", "model": tiny}, llmhost_root="/srv/lab"))
    assert plan.directories[0] == ("/srv/lab", "755", None, False)
    assert all(ours for _, _, _, ours in plan.directories[1:])
    assert "/srv/lab" not in plan.made_directories and "/srv/lab/logs" in plan.made_directories
    assert (
        "directories: /srv/lab (alice, 2775) exist and llmhost did not make them (its record "
        "/srv/lab/owned-directories.json): their mode and owner stay as they are"
    ) in plan.reasons


def test_a_directory_the_engines_write_that_llmhost_did_not_make_is_refused(tiny):
    facts = dataclasses.replace(SERVED, paths=there("/srv/lab", "/srv/lab/logs", user="root"), made_directories=())
    with pytest.raises(PlanError) as e:
        plan_host(facts, data({"name": "t", "model": tiny}, llmhost_root="/srv/lab"))
    assert str(e.value) == (
        "llmhost_root: /srv/lab/logs exists and llmhost did not make it (owner root, mode 755); its engines "
        "write there as llmhost, and llmhost changes the owner of no directory it did not make: remove it, "
        "give it to llmhost, or choose another llmhost_root"
    )
    # one the service user has already is used as it is
    facts = dataclasses.replace(facts, paths=there("/srv/lab") + there("/srv/lab/logs", mode=0o750, user="llmhost"))
    plan = plan_host(facts, data({"name": "t", "model": tiny}, llmhost_root="/srv/lab"))
    assert ("/srv/lab/logs", "755", "llmhost", False) in plan.directories


def test_what_llmhost_recorded_is_its_own_and_stays_recorded(tiny):
    # its record lists them (and the web UI's data, no longer planned: it stays llmhost's)
    recorded = (*LLMHOST_DIRS, "/opt/llmhost/webui")
    facts = dataclasses.replace(SERVED, paths=there(*LLMHOST_DIRS, mode=0o700), made_directories=recorded)
    plan = plan_host(facts, data({"name": "t", "model": tiny}))
    assert all(ours for _, _, _, ours in plan.directories)
    assert plan.made_directories == tuple(sorted(recorded))
    # a host provisioned before the record (owned.json alone): what llmhost finds of its directories it made
    legacy = dataclasses.replace(facts, made_directories=None)
    assert all(ours for _, _, _, ours in plan_host(legacy, data({"name": "t", "model": tiny})).directories)


def test_a_root_that_is_a_link_or_a_file_is_refused(tiny):
    facts = dataclasses.replace(SERVED, paths=(("/opt/llmhost", "link", 0, "root"),))
    with pytest.raises(PlanError, match="^llmhost_root: /opt/llmhost is a symbolic link, not a directory; "):
        plan_host(facts, data({"name": "t", "model": tiny}))
    facts = dataclasses.replace(SERVED, paths=(("/etc/llmhost", "file", 0o644, "root"),))
    with pytest.raises(PlanError, match="^llmhost_env_dir: /etc/llmhost is a file, not a directory; "):
        plan_host(facts, data({"name": "t", "model": tiny}))
