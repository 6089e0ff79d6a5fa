"""A host's web UI (llmhost_webui): Open WebUI in front of the host's gateway, or of the services of
the inventory. Which connections it lists and with which keys, its default model, its venv (a
Python of 3.11-3.12), argv and env: offline and private, sign-in on, its settings from the data on
every start. A backend it cannot reach or authenticate to is refused as the gateway refuses it."""

from __future__ import annotations

from llmhost.engines import ENGINE_DEATH, WEBUI
from llmhost.plan.envs import engine_plan
from llmhost.plan.gateway import fronted, reach
from llmhost.plan.hostplan import GatewayPlan, WebuiPlan
from llmhost.plan.inputs import Backend, HostFacts, webui_data_dir
from llmhost.plan.types import PlanError, SupervisedProcess, bind_url, unit_of
from llmhost.settings import Settings, loopback

KEY = "llmhost_webui"
NAME = "webui"
UNIT = unit_of(NAME)
# Nothing fetched at start, nothing sent out: no embedding model (its download from the hub at every
# start, a dozen tries a file when the hub is unreachable: 80 s), no version check, no telemetry
# (read by its libraries: the names its own Dockerfile sets), no community sharing. Its persistent
# config off: every setting below wins at every start over what its database kept (Open WebUI reads
# its environment once into its database otherwise, and ignores it afterwards).
PRIVATE_ENV = {
    "ENV": "prod",
    "ENABLE_PERSISTENT_CONFIG": "False",
    "OFFLINE_MODE": "true",
    "HF_HUB_OFFLINE": "1",
    "ENABLE_VERSION_UPDATE_CHECK": "false",
    "SCARF_NO_ANALYTICS": "true",
    "DO_NOT_TRACK": "true",
    "ANONYMIZED_TELEMETRY": "false",
    "RAG_EMBEDDING_ENGINE": "",
    "RAG_EMBEDDING_MODEL": "",
    "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
    "WEBUI_AUTH": "true",
    "ENABLE_SIGNUP": "false",
    "DEFAULT_USER_ROLE": "pending",
}
# Defaults of ours that llmhost_webui.env may change: sharing chats to openwebui.com off; tools
# called the "legacy" way (described in the prompt). Open WebUI 0.12 calls its built-in tools the
# native way by default, sending `tools` with every chat from its page, and a vLLM started without
# --enable-auto-tool-choice and a --tool-call-parser (as llmhost starts it) answers every such chat
# 400 ('"auto" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set',
# seen through the gateway in the fleet test), while its API without a session works.
DEFAULT_ENV = {"ENABLE_COMMUNITY_SHARING": "false", "DEFAULT_MODEL_PARAMS": '{"function_calling": "legacy"}'}


def _connections(
    settings: Settings,
    host: str,
    gateway: GatewayPlan | None,
    backends: tuple[Backend, ...],
    inventory: tuple[str, ...],
    master_key: str,
):
    """(OpenAI connections: (url, what, key), this host's Ollama daemon's URL, the model names, why)."""
    if gateway:
        if settings.webui.hosts:
            raise PlanError(
                f"{KEY}.hosts: this host has a gateway, and the web UI lists its models; choose the hosts "
                "with llmhost_gateway.hosts (or leave llmhost_webui.hosts out)"
            )
        url = f"{gateway.health_url}/v1"
        return (
            [(url, f"{gateway.unit}, this host's gateway", master_key)],
            None,
            list(gateway.names),
            (
                f"webui connection: this host's gateway at {url} (its master key, in the UI's 0600 env file); "
                f"it lists {', '.join(gateway.names)}"
            ),
        )
    connections, ollama, names, whys = [], None, [], []
    for b in fronted(KEY, settings.webui.hosts, backends, inventory):
        api_base, why, api_key = reach(b, host, KEY)
        names.append(b.served_model_name)
        if b.engine == "ollama":  # (reach refused another host's): the daemon's own API, once
            if ollama is None:
                ollama = api_base.removesuffix("/v1")
                whys.append(f"Ollama daemon at {ollama} (Open WebUI's Ollama API; no key)")
            continue
        connections.append((api_base, f"{b.host}/{b.name}", api_key or ""))
        whys.append(
            f"{b.host}/{b.name} at {api_base} ({why}" + ("; its api_key from the data" if api_key else "; no key") + ")"
        )
    why = "webui connections (no gateway on this host): " + "; ".join(whys)
    return connections, ollama, list(dict.fromkeys(names)), why


def plan_webui(
    settings: Settings,
    facts: HostFacts,
    host: str,
    gateway: GatewayPlan | None,
    backends: tuple[Backend, ...],
    inventory: tuple[str, ...],
    master_key: str,
    password: str,
    secret: str,
) -> WebuiPlan:
    """``gateway``: this host's (the UI lists its models); else ``backends``, every service of the
    inventory (``inventory``: its hosts' names); ``password``/``secret``: the admin's password and the
    session secret (the data's, or generated on the controller)."""
    wish = settings.webui
    if any(s.name == "webui" for s in settings.services):
        index = next(i for i, s in enumerate(settings.services) if s.name == "webui")
        raise PlanError(
            f"llmhost_services[{index}].name: 'webui' names the web UI's unit on this host ({UNIT}); rename the service"
        )
    connections, ollama, names, why = _connections(settings, host, gateway, backends, inventory, master_key)
    reasons = [why]
    default = wish.default_model or names[0]
    if default not in names:
        raise PlanError(f"{KEY}.default_model: {default!r} is not a model it lists ({', '.join(names)})")
    reasons.append(
        f"webui default model {default}: "
        + ("llmhost_webui.default_model" if wish.default_model else "the first model it lists")
    )
    engine = engine_plan(WEBUI, settings, facts)
    root = settings.root
    data_dir = webui_data_dir(root)
    url = bind_url(wish.host, wish.port)
    # the origins its API and its websocket (socket.io checks Origin) answer: the page's own URL; a
    # public bind is reached by names only the data knows (llmhost_webui.env.CORS_ALLOW_ORIGIN, which
    # the data must give there, and which wins below)
    origins = f"{url};http://localhost:{wish.port}"
    env = {
        "HOME": f"{root}/home",
        "PATH": f"{engine.link}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **DEFAULT_ENV,
        "CORS_ALLOW_ORIGIN": origins,
        **dict(wish.env),
        **PRIVATE_ENV,
        # its database, uploads and cache, and the static files it copies at every start (into its
        # package directory otherwise: root's venv, not writable by the service user)
        "DATA_DIR": data_dir,
        "STATIC_DIR": f"{data_dir}/static",
        "WEBUI_NAME": wish.title,
        "WEBUI_ADMIN_EMAIL": wish.admin_email,
        "WEBUI_ADMIN_NAME": wish.admin_name,
        "DEFAULT_MODELS": default,
        "ENABLE_OPENAI_API": "true" if connections else "false",
        "OPENAI_API_BASE_URLS": ";".join(u for u, _, _ in connections),
        "ENABLE_OLLAMA_API": "true" if ollama else "false",
        # set even when unused: unset, Open WebUI probes localhost:11434 at import
        "OLLAMA_BASE_URL": ollama or "http://127.0.0.1:11434",
    }
    secret_env = [("WEBUI_SECRET_KEY", secret), ("WEBUI_ADMIN_PASSWORD", password)]
    if connections:
        secret_env.append(("OPENAI_API_KEYS", ";".join(k for _, _, k in connections)))
    reasons.append(
        f"webui: Open WebUI on {wish.host}:{wish.port}, sign-in on and sign-up off; admin {wish.admin_email} "
        "(created at its first start; a changed password set by the next run), its password "
        + (
            "from llmhost_webui.admin_password"
            if wish.admin_password
            else f"generated once on the controller ({settings.secrets_dir}/<host>/webui-admin-password)"
        )
        + "; the password, the session secret and the connections' keys in the 0600 env file only"
    )
    if not loopback(wish.host):
        reasons.append(
            f"webui bind {wish.host}: asked for; every page and API route but /health needs a sign-in; "
            f"CORS and websocket origins {dict(wish.env)['CORS_ALLOW_ORIGIN']} (llmhost_webui.env)"
        )
    reasons.append(
        f"webui: offline and private (OFFLINE_MODE, no embedding model, no version check, no telemetry): "
        f"nothing fetched at start; its persistent config off, so the data wins at every start; database and "
        f"uploads in {data_dir}, kept across upgrades; tools called the legacy way (DEFAULT_MODEL_PARAMS: its "
        "native way sends `tools`, which vLLM refuses without a tool-call parser)"
        + (f"; more settings from llmhost_webui.env: {', '.join(k for k, _ in wish.env)}" if wish.env else "")
    )
    return WebuiPlan(
        **SupervisedProcess.files(NAME, root, settings.env_dir),
        engine=engine,
        bind=wish.host,
        port=wish.port,
        connections=tuple((u, w) for u, w, _ in connections),
        ollama_url=ollama,
        models=tuple(names),
        default_model=default,
        admin_email=wish.admin_email,
        data_dir=data_dir,
        # the console script through the link (its shebang names the versioned venv's Python)
        argv=(f"{engine.link}/bin/open-webui", "serve", "--host", wish.host, "--port", str(wish.port)),
        env=tuple(sorted(env.items())),
        secret_env=tuple(secret_env),
        health_url=url,
        reasons=tuple(reasons),
        errors=WEBUI.errors + ENGINE_DEATH,
        served_model_name=", ".join(names),
    )
