"""Every service of a host, in planning order, and each one's argv, environment and API key: the
route decides what it runs on, the sizing its numbers, this module turns them into a ServicePlan."""

from __future__ import annotations

from dataclasses import replace

from llmhost.engines import BITSANDBYTES, BITSANDBYTES_PLUGIN, ENGINE_DEATH, LLAMACPP, OLLAMA, VLLM_CPU
from llmhost.gpus import compute_capability
from llmhost.plan.cluster import Cluster, ClusterInputs, plan_cluster, stage_info
from llmhost.plan.envs import engine_plan
from llmhost.plan.gpu_stack import cuda_env
from llmhost.plan.inputs import VLLM_AUTH, HostFacts, lib_dir
from llmhost.plan.mirrors import endpoints
from llmhost.plan.models import convert_plan, model_plan
from llmhost.plan.packing import Ledger, cpu_shares, memory_share
from llmhost.plan.releases import vllm_release
from llmhost.plan.route import Route, refuse_unserved, route
from llmhost.plan.sizing import Sizing, vllm_cache_root
from llmhost.plan.sizing.cpu import size_cpu
from llmhost.plan.sizing.llamacpp import size_llamacpp
from llmhost.plan.sizing.ollama import plan_ollama
from llmhost.plan.sizing.vllm_gpu import size_vllm_gpu
from llmhost.plan.types import OllamaPlan, PlanError, ServicePlan, SupervisedProcess, bind_url
from llmhost.settings import ServiceWish, Settings


def plan_services(
    facts: HostFacts, settings: Settings, cluster: ClusterInputs | None = None
) -> tuple[list[ServicePlan], OllamaPlan | None]:
    """Every service, packed onto shared GPUs in this order: llama.cpp (what its layers and KV
    take), then the Ollama daemon (the models it keeps loaded), then vLLM (what is left, as its
    gpu_memory_utilization; a service that falls back from vLLM to llama.cpp is planned here too).
    The services keep the order they are listed in. A service across hosts (``nodes``) is planned
    as this host's part of it (llmhost.plan.cluster; ``cluster``: its nodes)."""
    routes = [route(i, wish, facts, settings) for i, wish in enumerate(settings.services)]
    parts: dict[int, Cluster] = {}
    for i, wish in enumerate(settings.services):
        if wish.nodes:
            if routes[i].engine not in ("vllm", "vllm-cpu"):
                raise PlanError(
                    f"llmhost_services[{i}].nodes: a service across hosts runs vLLM; here the route is "
                    f"{routes[i].engine} ({routes[i].why}); set engine vllm or vllm-cpu"
                )
            parts[i] = plan_cluster(i, wish, cluster, facts)
            routes[i] = replace(routes[i], fallback=None)  # the same vLLM on every node, or a refusal
    # a route that needs a GGUF the service did not ask for (workload: latency) plans its conversion
    wishes = [
        (i, replace(wish, gguf=routes[i].gguf) if routes[i].gguf else wish) for i, wish in enumerate(settings.services)
    ]
    views = cpu_shares(facts, routes)
    share = memory_share(facts, len(wishes))
    ledger = Ledger(facts.gpus)
    planned: dict[int, ServicePlan] = {}
    for i, wish in wishes:
        if routes[i].engine == "llamacpp":
            planned[i] = plan_service(i, wish, routes[i], views[i], settings, share, facts, ledger)
    ollama = None
    daemon = [(i, wish, views[i]) for i, wish in wishes if routes[i].engine == "ollama"]
    if daemon:
        for i, wish, _ in daemon:
            refuse_unserved(f"llmhost_services[{i}]", wish, OLLAMA, settings.engine_pins)
        llamacpp = next((p.engine for p in planned.values() if p.engine.build), None)
        plans, ollama = plan_ollama(daemon, routes[daemon[0][0]].why, settings, share, facts, ledger, llamacpp)
        planned.update(zip((i for i, _, _ in daemon), plans))
    for i, wish in wishes:
        if i not in planned:
            planned[i] = plan_service(i, wish, routes[i], views[i], settings, share, facts, ledger, parts.get(i))
    return [planned[i] for i, _ in wishes], ollama


LLAMACPP_USES = "llama.cpp (its GGUF's quantization, its layers on the GPUs)"


def _unused(sizing: Sizing, wish: ServiceWish, engine: str) -> Sizing:
    """The sizing, with a reason naming the service's settings for vLLM on GPUs that ``engine`` has
    no use for (never dropped without a word)."""
    keys = ("quantization", "tensor_parallel_size", "gpu_memory_utilization")
    unused = [f"{k}={getattr(wish, k)}" for k in keys if getattr(wish, k) is not None]
    if not unused:
        return sizing
    return replace(sizing, reasons=(*sizing.reasons, f"{', '.join(unused)}: set by the service, unused by {engine}"))


def _size(
    index: int,
    wish: ServiceWish,
    route: Route,
    facts: HostFacts,
    share: int,
    root: str,
    ledger: Ledger,
    settings: Settings,
) -> tuple[Sizing, str]:
    """The service sized for the engine of its route (a vLLM route with a fallback: llama.cpp where
    vLLM cannot serve the model, else vLLM's refusal), and the route's reason."""
    key = f"llmhost_services[{index}]"
    pins = settings.engine_pins
    cc = None
    if facts.gpus:
        ccs = [compute_capability(g.name, g.compute_capability) for g in facts.gpus]
        if None in ccs:
            raise PlanError(
                f"host: unknown compute capability of {facts.gpus[ccs.index(None)].name}; add it to llmhost/gpus.py"
            )
        cc = min(ccs)
    if route.engine == "vllm-cpu":
        refuse_unserved(key, wish, VLLM_CPU, pins)
        return _unused(size_cpu(key, wish, facts, share, root), wish, "vllm-cpu"), route.reason
    if route.engine == "llamacpp":
        refuse_unserved(key, wish, LLAMACPP, pins)
        sizing = size_llamacpp(key, wish, facts, share, None, ledger)
        return _unused(sizing, wish, LLAMACPP_USES), route.reason
    try:
        return size_vllm_gpu(key, wish, facts, cc, ledger, pins, vllm_release(facts, settings)), route.reason
    except PlanError as vllm_refusal:
        if route.fallback is None:
            raise
        reason = str(vllm_refusal).split(": ", 1)[1]
        try:
            refuse_unserved(key, wish, LLAMACPP, pins)
            sizing = size_llamacpp(key, wish, facts, share, f"vLLM cannot serve it here ({reason})", ledger)
            return _unused(sizing, wish, LLAMACPP_USES), f"engine=llamacpp: {route.fallback}"
        except PlanError:
            raise vllm_refusal


# what an engine's API key guards: vLLM's own --api-key guards only /v1, /v2, /inference and /cohere
# (its authenticate middleware), so llmhost adds its own to vLLM (--middleware, llmhost_vllm_auth);
# llama-server's key guards all but /health, /v1/health and its page (tools/server/server-http.cpp; --no-webui)
GUARDED = {
    "vllm": "every route but /health (vLLM's key alone leaves /tokenize, /pooling, /invocations, /metrics open: "
    f"llmhost's --middleware {VLLM_AUTH} closes them)",
    "llamacpp": "every route but /health and /v1/health (llama-server's own key)",
}


def plan_service(
    index: int,
    wish: ServiceWish,
    route: Route,
    facts: HostFacts,
    settings: Settings,
    share: int,
    host: HostFacts,
    ledger: Ledger,
    cluster: Cluster | None = None,
) -> ServicePlan:
    """``facts``: the host as this service sees it (its share of the CPUs); ``host``: the whole host
    (an engine is installed, or built, once for all its services); ``ledger``: the GPU memory the
    services planned before it hold; ``cluster``: this host's part of a service across hosts."""
    root = settings.root
    sized = wish
    if cluster:  # sized for its largest pipeline stage, on every GPU of the node
        info = wish.model.info and stage_info(wish.model.info, cluster.pp)
        sized = replace(
            wish,
            model=replace(wish.model, info=info),
            tensor_parallel_size=cluster.tp if facts.gpus else wish.tensor_parallel_size,
        )
    sizing, engine_reason = _size(index, sized, route, facts, share, root, ledger, settings)
    release = sizing.release
    if sizing.quantization == "bitsandbytes":  # vLLM loads bnb 4-bit through the bitsandbytes package
        extra = BITSANDBYTES + BITSANDBYTES_PLUGIN.get(release.version, ())  # (and its plugin, where not built in)
        release = replace(release, requirements=release.requirements + extra)
    engine = engine_plan(release, settings, host)
    reasons = [engine_reason, *sizing.reasons]
    if cluster:  # its parallelism and addresses before the numbers sized for its largest stage
        reasons = [
            engine_reason,
            *cluster.reasons,
            *(r for r in sizing.reasons if not (cluster.tp > 1 and r.startswith("tensor_parallel_size="))),
        ]
    if wish.model.info and wish.model.info.estimated:
        reasons.append(
            f"model: {wish.model.ref} has a config.json and no weight files: its weights "
            f"({wish.model.info.weight_bytes / 2**30:.2f} GiB) are estimated from the config for this plan "
            "(a deploy needs the weights)"
        )

    model = model_plan(wish.model, root)
    convert = convert_plan(wish, model, engine, sizing.model_file, host, root) if wish.gguf else None
    if release.build:
        gguf = convert.output if convert else f"{model.path}/{sizing.model_file}"
        argv = (
            engine.server_bin,
            "-m",
            gguf,
            "-a",
            wish.served_model_name,
            "--host",
            wish.host,
            "--port",
            str(wish.port),
            *sizing.args,
        )
    elif cluster and not cluster.head:  # vLLM's `vllm serve --headless`, through the hosttool (see vllm_node)
        argv = (
            engine.python_bin,
            f"{root}/bin/llmhost-hosttool",
            "vllm-node",
            "--model",
            model.path,
            "--served-model-name",
            wish.served_model_name,
            *sizing.args,
            *cluster.args(),
            "--headless",
        )
    else:
        argv = (
            engine.python_bin,
            "-m",
            release.module,
            "--model",
            model.path,
            "--served-model-name",
            wish.served_model_name,
            "--host",
            wish.host,
            "--port",
            str(wish.port),
            *sizing.args,
            *(cluster.args() if cluster else ()),
            *(("--middleware", VLLM_AUTH) if wish.api_key or wish.bind_public else ()),
        )
    env = {
        "HOME": f"{root}/home",
        "PATH": f"{engine.link}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "DO_NOT_TRACK": "1",
    }
    if not release.build:  # vLLM (Python, transformers and hub clients inside)
        env.update(
            {
                "HF_HOME": f"{root}/cache/huggingface",
                "HF_HUB_OFFLINE": "1",
                "VLLM_CACHE_ROOT": vllm_cache_root(root),
                "VLLM_NO_USAGE_STATS": "1",
                **{
                    var: url
                    for var, url in (
                        ("HF_ENDPOINT", endpoints(settings)["hf"]),
                        ("MODELSCOPE_ENDPOINT", endpoints(settings)["modelscope"]),
                    )
                    if url
                },
            }
        )
        reasons.append("HF_HUB_OFFLINE=1: the model is a local directory on the host; the engine never calls a hub")
    env.update(sizing.env)
    if cluster:
        env.update(cluster.env(bool(facts.gpus)))
    if engine.cuda:
        env.update(cuda_env(engine, facts, settings, reasons))
    api_key_var = "LLAMA_API_KEY" if release.build else "VLLM_API_KEY"
    secret_env = ((api_key_var, wish.api_key),) if wish.api_key else ()
    key_file = None
    guarded = GUARDED[engine.engine if release.build else "vllm"]
    if VLLM_AUTH in argv:
        env["PYTHONPATH"] = lib_dir(root)
    if wish.api_key:
        reasons.append(f"api key: required on {guarded} ({api_key_var} from the 0600 env file)")
    elif wish.bind_public:
        key_file = f"{settings.env_dir}/{wish.name}.key.env"
        reasons.append(
            f"api key: generated once on the host into {key_file} (0600) because the engine listens on "
            f"{wish.host}, beyond loopback, and the service sets no api_key"
        )
    if wish.bind_public:
        reasons.append(f"bind {wish.host}: asked for by the service; the API key guards {guarded}")
    return ServicePlan(
        **SupervisedProcess.files(wish.name, root, settings.env_dir),
        engine=engine,
        model=model,
        bind=wish.host,
        port=wish.port,
        served_model_name=wish.served_model_name,
        dtype=sizing.dtype,
        quantization=sizing.quantization,
        tensor_parallel_size=sizing.tp,
        pipeline_parallel_size=cluster.pp if cluster else 1,
        gpu_memory_utilization=sizing.util,
        max_model_len=sizing.max_model_len,
        max_num_seqs=sizing.max_num_seqs,
        argv=argv,
        env=tuple(sorted(env.items())),
        secret_env=secret_env,
        key_file=key_file,
        api_key_var=api_key_var,
        health_url="" if cluster and not cluster.head else bind_url(wish.host, wish.port),
        reasons=tuple(reasons),
        model_file=sizing.model_file,
        convert=convert,
        errors=release.errors + ENGINE_DEATH,
        gpus=tuple(int(i) for i in sizing.env.get("CUDA_VISIBLE_DEVICES", "").split(",") if i),
        nodes=cluster.nodes if cluster else (),
        node_rank=cluster.rank if cluster else 0,
    )
