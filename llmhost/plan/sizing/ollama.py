"""Ollama: one daemon for every ollama service of a host (its address, parallel requests, how many
models it keeps loaded, on which GPU or CPUs) and a Modelfile per model; the models it keeps
loaded are claimed on the GPU ledger, or counted against the daemon's share of host memory."""

from __future__ import annotations

from dataclasses import replace

from llmhost.engines import ENGINE_DEATH, LLAMACPP, OLLAMA
from llmhost.plan.envs import engine_plan, ollama_engine
from llmhost.plan.inputs import HostFacts
from llmhost.plan.models import convert_plan, model_plan
from llmhost.plan.packing import Ledger
from llmhost.plan.sizing.llamacpp import LLAMACPP_RUNTIME_BYTES, LLAMACPP_SLOTS, gguf_file
from llmhost.plan.types import EnginePlan, OllamaPlan, PlanError, ServicePlan, gib
from llmhost.settings import ServiceWish, Settings

# llmhost's num_ctx for an Ollama model, written into its Modelfile (a service's max_model_len
# overrides it). Never left to the daemon: Ollama v0.22.1 picks its default by the GPUs' total VRAM
# (server/routes.go: >= 47 GiB 262144, >= 23 GiB 32768, else 4096; envconfig/config.go "default:
# 4k/32k/256k based on VRAM"), which would size the KV cache differently on every host.
OLLAMA_CONTEXT = 4096
OLLAMA_DIR = "ollama"  # under llmhost_root: models/ (OLLAMA_MODELS) and the Modelfiles


def plan_ollama(
    indexed: list[tuple[int, ServiceWish, HostFacts]],
    why: str,
    settings: Settings,
    share: int,
    host: HostFacts,
    ledger: Ledger,
    llamacpp: EnginePlan | None,
) -> tuple[list[ServicePlan], OllamaPlan]:
    """The ollama services of a host: one daemon (install, address, how many models it keeps
    loaded, on which GPU or CPUs) and a Modelfile per model; the memory its loaded models take is
    claimed on the GPU (or counted against the daemon's share of the host's memory). A service
    asking for a GGUF of its checkpoint (``gguf``) gets it from llama.cpp's tools: the build of a
    llama.cpp service on the host, else a CPU build of its own (converting needs no GPU). ``why``:
    the route's reason for Ollama."""
    root = settings.root
    engine = ollama_engine(settings, host)
    view = indexed[0][2]  # the daemon's share of the CPUs (every ollama service has the same one)
    first = indexed[0][1]
    pinned = [w.max_num_seqs for _, w, _ in indexed if w.max_num_seqs]
    num_parallel = max(pinned) if pinned else LLAMACPP_SLOTS
    daemon = [
        (
            f"engine=ollama {engine.version}: {why}; one daemon ({engine.link}/bin/ollama serve) "
            f"serves the {len(indexed)} ollama service(s) at {first.host}:{first.port}"
        ),
        f"OLLAMA_NUM_PARALLEL={num_parallel}: "
        + (
            "the largest max_num_seqs of the ollama services"
            if pinned
            else f"{num_parallel} parallel requests per model (no ollama service sets max_num_seqs)"
        ),
    ]
    models = []
    for index, wish, _ in indexed:
        key = f"llmhost_services[{index}]"
        info = wish.model.info
        model_file, size, quant, why = gguf_file(key, wish, "Ollama imports")
        model_max = info.max_position_embeddings
        n_ctx = wish.max_model_len or min(model_max, OLLAMA_CONTEXT)
        if n_ctx > model_max:
            raise PlanError(f"{key}.max_model_len: {n_ctx} exceeds the model's maximum of {model_max} tokens")
        kv = info.kv_bytes(n_ctx, 2) * num_parallel
        need = size + kv + LLAMACPP_RUNTIME_BYTES  # Ollama runs GGUFs on ggml, like llama-server
        models.append((index, wish, info, n_ctx, need, kv, model_file, quant, why))
    needs = [m[4] for m in models]

    def fitting(room: int) -> int:
        total, count = 0, 0
        for need in needs:
            if total + need > room:
                break
            total, count = total + need, count + 1
        return count

    listed = ", ".join(f"{m[1].served_model_name} {gib(m[4])}" for m in models)
    env = {
        "OLLAMA_HOST": f"{first.host}:{first.port}",
        "OLLAMA_MODELS": f"{root}/{OLLAMA_DIR}/models",
        "OLLAMA_NUM_PARALLEL": str(num_parallel),
        "OLLAMA_KEEP_ALIVE": settings.ollama_keep_alive,
    }
    if host.gpus:
        device = ledger.order()[0]
        others = ledger.taken([device])
        room = ledger.room(device)
        fit = fitting(room)
        loaded = settings.ollama_max_loaded_models or max(1, fit)
        held = min(room, sum(sorted(needs, reverse=True)[:loaded]))
        ledger.claim([device], "ollama", held)
        env["CUDA_VISIBLE_DEVICES"] = str(device)
        where = f"{gib(room)} of GPU {device} ({host.gpus[device].name}{', after ' + others if others else ''})"
        if fit == 0:
            daemon.append(
                f"GPU {device}: {models[0][1].served_model_name} needs {gib(needs[0])} and {where} is left: "
                "Ollama puts the layers that fit on the GPU and runs the rest on the CPU (slower)"
            )
        if host.wsl:
            env["LD_LIBRARY_PATH"] = "/usr/lib/wsl/lib"
    else:
        room = share * len(indexed)
        fit = fitting(room)
        if fit == 0:
            raise PlanError(
                f"llmhost_services[{models[0][0]}].model: {models[0][1].served_model_name} needs "
                f"{gib(needs[0])} (weights + KV for {num_parallel} x {models[0][3]} tokens + runtime); "
                f"the Ollama daemon's memory share is {gib(room)}"
            )
        loaded = settings.ollama_max_loaded_models or fit
        where = f"the daemon's memory share of {gib(room)}"
    env["OLLAMA_MAX_LOADED_MODELS"] = str(loaded)
    daemon.append(
        f"OLLAMA_MAX_LOADED_MODELS={loaded}: "
        + ("pinned (llmhost_ollama_max_loaded_models); " if settings.ollama_max_loaded_models else "")
        + f"{fit} of the {len(models)} model(s) ({listed}: weights + KV for {num_parallel} parallel requests + "
        f"runtime) fit {where} together"
        + ("; the others load on demand, unloading the least recently used" if loaded < len(models) else "")
    )
    daemon.append(
        f"OLLAMA_KEEP_ALIVE={settings.ollama_keep_alive}: "
        + ("Ollama's own default" if settings.ollama_keep_alive == "5m" else "llmhost_ollama_keep_alive")
    )
    affinity = view.cpu_online if view is not host and not host.gpus else None
    if affinity:
        daemon.append(f"CPUAffinity={affinity}: the daemon's share of the CPUs (num_thread {view.cores} per model)")
    if first.bind_public:
        daemon.append(
            f"bind {first.host}: asked for by the service; Ollama has no API key: whoever reaches port "
            f"{first.port} can use (and pull, delete) every model"
        )
    daemon.append(
        f"OLLAMA_MODELS={env['OLLAMA_MODELS']}; settings in the unit's drop-in override.conf, which an "
        "Ollama upgrade never rewrites"
    )
    ollama = OllamaPlan(
        engine=engine,
        bind=first.host,
        port=first.port,
        env=tuple(sorted(env.items())),
        cpu_affinity=affinity,
        models_dir=env["OLLAMA_MODELS"],
        launcher=f"{root}/run/ollama.sh",
        log=f"{root}/logs/ollama.log",
    )
    # tmux runs the daemon with exactly this environment (env -i); systemd's User=ollama sets HOME
    launcher_env = tuple(
        sorted({**env, "HOME": f"{root}/home", "PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}.items())
    )
    services = []
    for _, wish, info, n_ctx, _, kv, model_file, quant, why in models:
        model = model_plan(wish.model, root)
        convert = None
        if wish.gguf:
            tools = llamacpp or engine_plan(LLAMACPP, settings, replace(host, gpus=()))
            convert = convert_plan(wish, model, tools, model_file, host, root)
        lines = [
            f"# llmhost service {wish.name}: {wish.model.spec}",
            f"FROM {convert.output if convert else f'{model.path}/{model_file}'}",
            f"PARAMETER num_ctx {n_ctx}",
        ]
        if not host.gpus:
            lines.append(f"PARAMETER num_thread {view.cores}")
        reasons = list(daemon) + [
            why,
            f"model {wish.served_model_name}: imported with `ollama create` from its Modelfile; num_ctx {n_ctx} "
            + (
                "(pinned)"
                if wish.max_model_len
                else f"(llmhost's default {OLLAMA_CONTEXT}, capped by the model's {info.max_position_embeddings}; set in "
                "the Modelfile, not left to Ollama v0.22.1's VRAM-based 4k/32k/256k default)"
            )
            + f"; KV {gib(kv)} for {num_parallel} parallel requests",
        ]
        services.append(
            ServicePlan(
                name=wish.name,
                engine=engine,
                model=model,
                bind=first.host,
                port=first.port,
                served_model_name=wish.served_model_name,
                dtype="float16",
                quantization=quant,
                tensor_parallel_size=1,
                pipeline_parallel_size=1,
                gpu_memory_utilization=None,
                max_model_len=n_ctx,
                max_num_seqs=num_parallel,
                argv=(ollama.bin_link, "serve"),
                env=launcher_env,
                secret_env=(),
                unit=ollama.unit,
                launcher=ollama.launcher,
                unit_file=ollama.unit_file,
                env_file="",
                key_file=None,
                api_key_var="",
                log=ollama.log,
                health_url=ollama.url,
                reasons=tuple(reasons),
                health_path="/",
                modelfile=f"{root}/{OLLAMA_DIR}/{wish.name}.Modelfile",
                modelfile_text="\n".join(lines) + "\n",
                model_file=model_file,
                convert=convert,
                errors=OLLAMA.errors + ENGINE_DEATH,
                gpus=(int(env["CUDA_VISIBLE_DEVICES"]),) if "CUDA_VISIBLE_DEVICES" in env else (),
            )
        )
    return services, ollama
