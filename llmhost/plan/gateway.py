"""A host's gateway (llmhost_gateway): LiteLLM's proxy in front of the services of the inventory.
Which backends it fronts and how it reaches each (address, key), the model groups (one per served
model name: several backends are load-balanced), aliases and fallbacks, its venv, argv and env.
A backend it cannot reach or cannot authenticate to is refused here, with the keys to set."""

from __future__ import annotations

from llmhost.engines import ENGINE_DEATH, GATEWAY
from llmhost.plan.envs import engine_plan
from llmhost.plan.hostplan import Deployment, GatewayPlan
from llmhost.plan.inputs import Backend, HostFacts
from llmhost.plan.types import PlanError, SupervisedProcess, bind_url, unit_of
from llmhost.settings import Settings, loopback

KEY = "llmhost_gateway"
NAME = "gateway"
UNIT = unit_of(NAME)
# LiteLLM reads these at import and at first use: each keeps a fetch from the Internet away
# (the model cost map from GitHub at every start, Anthropic's beta headers, the UI's blog posts,
# the autorouter presets, the policy templates); LITELLM_MODE=PRODUCTION stops it from loading a
# .env of its working directory.
OFFLINE_ENV = {
    "LITELLM_MODE": "PRODUCTION",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "HF_HUB_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
}


# LiteLLM's admin UI and API docs, off unless llmhost_gateway.admin_pages (litellm/proxy/utils.py
# get_docs_url & co., litellm/proxy/common_utils/admin_ui_utils.py)
PAGES_OFF = {"DISABLE_ADMIN_UI": "True", "NO_DOCS": "True", "NO_REDOC": "True", "NO_OPENAPI": "True"}


def _where(b: Backend) -> str:
    return f"{b.host}'s llmhost_services[{b.index}] ({b.name})"


def reach(b: Backend, host: str, key: str = KEY) -> tuple[str, str, str | None]:
    """Where ``host`` (a gateway's or a web UI's: ``key`` names its data key) reaches a backend, why
    there, and the key it sends (the data's; None: the backend wants none). A backend it cannot
    reach or cannot authenticate to is refused, with the keys to set."""
    if b.local:
        api_base, why = f"{bind_url(b.bind, b.port)}/v1", "on this host"
    elif b.engine == "ollama":
        raise PlanError(
            f"{key}: {_where(b)} is served by Ollama, which has no API key: only a {key.split('_')[1]} "
            f"on {b.host} may {'front' if key == KEY else 'list'} it; leave {b.host} out of {key}.hosts"
        )
    elif loopback(b.bind):
        raise PlanError(
            f"{key}: {_where(b)} listens on {b.bind}, which {host} cannot reach; set "
            f"llmhost_services[{b.index}].host on {b.host} to its private address (or 0.0.0.0) and "
            f"llmhost_services[{b.index}].api_key, or leave {b.host} out of {key}.hosts"
        )
    else:
        wildcard = b.bind in ("0.0.0.0", "::")
        address = b.address if wildcard else b.bind
        url = f"http://[{address}]:{b.port}" if ":" in address else f"http://{address}:{b.port}"
        api_base = f"{url}/v1"
        why = (
            f"{b.host} binds {b.bind}, reached at {address} (its llmhost_address, ssh_hostname or name)"
            if wildcard
            else f"{b.host} binds {b.bind}"
        )
    if b.api_key:
        return api_base, why, b.api_key
    if b.local and b.engine != "ollama" and not loopback(b.bind):
        raise PlanError(
            f"{key}: {_where(b)} listens on {b.bind} with a key generated on this host, which the "
            f"{key.split('_')[1]} is not given; set llmhost_services[{b.index}].api_key (or bind it to 127.0.0.1)"
        )
    if not b.local:  # (refused above: the other ways to be keyless on another host)
        raise PlanError(
            f"{key}: {_where(b)} has no api_key in the data (a key generated on {b.host} never reaches the "
            f"controller); set llmhost_services[{b.index}].api_key on {b.host}"
        )
    return api_base, why, None


def named_hosts(key: str, hosts: tuple[str, ...] | None, inventory: tuple[str, ...]) -> tuple[str, ...]:
    """``<key>.hosts`` (None: every host of the inventory); a host the inventory lacks is refused."""
    chosen = hosts or inventory
    unknown = [h for h in chosen if h not in inventory]
    if unknown:
        raise PlanError(
            f"{key}.hosts: {unknown[0]!r} is not a host of the inventory (its hosts: {', '.join(inventory)})"
        )
    return chosen


def fronted(
    key: str, hosts: tuple[str, ...] | None, backends: tuple[Backend, ...], inventory: tuple[str, ...]
) -> list[Backend]:
    """The backends of ``hosts`` (None: every host of the inventory); an unknown host is refused."""
    chosen_hosts = named_hosts(key, hosts, inventory)
    chosen = [b for b in backends if b.host in chosen_hosts]
    if not chosen:
        raise PlanError(f"{key}: the hosts it fronts ({', '.join(chosen_hosts)}) serve no service (llmhost_services)")
    return chosen


def plan_gateway(
    settings: Settings,
    facts: HostFacts,
    host: str,
    backends: tuple[Backend, ...],
    inventory: tuple[str, ...],
    master_key: str,
) -> GatewayPlan:
    """``host``: this host's inventory name; ``backends``: every service of every host of the
    inventory (``inventory``: their names), from their data; ``master_key``: llmhost_gateway's, or
    the one generated on the controller."""
    gw = settings.gateway
    if any(s.name == "gateway" for s in settings.services):
        index = next(i for i, s in enumerate(settings.services) if s.name == "gateway")
        raise PlanError(
            f"llmhost_services[{index}].name: 'gateway' names the gateway's unit on this host ({UNIT}); "
            "rename the service"
        )
    deployments, secret_env, reasons = [], [("LITELLM_MASTER_KEY", master_key)], []
    for b in fronted(KEY, gw.hosts, backends, inventory):
        api_base, why, api_key = reach(b, host)
        key_var = None
        if api_key:
            key_var = f"LLMHOST_BACKEND_KEY_{len(secret_env)}"
            secret_env.append((key_var, api_key))
        deployments.append(
            Deployment(b.served_model_name, f"openai/{b.served_model_name}", api_base, key_var, f"{b.host}/{b.name}")
        )
        reasons.append(
            f"gateway backend {b.host}/{b.name}: model group {b.served_model_name!r} at {api_base} ({why}"
            + ("; its api_key from the data, in the gateway's env file" if key_var else "; no key")
            + ")"
        )
    groups = list(dict.fromkeys(d.group for d in deployments))
    for alias, target in gw.aliases:
        if target not in groups:
            raise PlanError(
                f"{KEY}.aliases.{alias}: {target!r} is not a served_model_name of the services it fronts "
                f"({', '.join(groups)})"
            )
        if alias in groups:
            raise PlanError(f"{KEY}.aliases.{alias}: {alias!r} is already a model group (a served_model_name)")
    for group, targets in gw.fallbacks:
        for name in (group, *targets):
            if name not in groups:
                raise PlanError(
                    f"{KEY}.fallbacks.{group}: {name!r} is not a served_model_name of the services it "
                    f"fronts ({', '.join(groups)})"
                )
    # LiteLLM looks a fallback up by the name a request asked for: an alias has none of its group's
    # unless it is named too ("model group 'gpt-4' failed ... Fallbacks are configured for: qwen", seen)
    chains = dict(gw.fallbacks)
    fallbacks = gw.fallbacks + tuple((alias, chains[target]) for alias, target in gw.aliases if target in chains)
    for group in groups:
        count = sum(d.group == group for d in deployments)
        if count > 1:
            reasons.append(f"gateway model group {group!r}: {count} backends, load-balanced (simple-shuffle)")
    reasons.append(
        f"gateway: {gw.num_retries} retries, {gw.timeout}s timeout per request; a backend that fails more than "
        f"{gw.allowed_fails} time(s) in a minute cools down for {gw.cooldown_time}s"
        + ("; fallbacks " + ", ".join(f"{g} -> {'/'.join(t)}" for g, t in fallbacks) if fallbacks else "")
        + ("; aliases " + ", ".join(f"{a} -> {t}" for a, t in gw.aliases) if gw.aliases else "")
    )
    reasons.append(
        "gateway master key: "
        + (
            "from llmhost_gateway.master_key"
            if gw.master_key
            else f"generated once on the controller ({settings.secrets_dir})"
        )
        + "; in the 0600 env file with the backends' keys, never in the config or the launcher; no per-client keys "
        "(LiteLLM's virtual keys need PostgreSQL)"
    )
    if not loopback(gw.host):
        reasons.append(
            f"gateway bind {gw.host}: asked for; the master key guards every route but /health/liveliness "
            "and /health/readiness"
        )
    reasons.append(
        "gateway: nothing fetched at start (LITELLM_LOCAL_MODEL_COST_MAP and the other LITELLM_LOCAL_* "
        "settings); Prometheus /metrics behind the master key; a changed config restarts the gateway "
        "(LiteLLM has no reload), never an engine"
    )
    reasons.append(
        "gateway admin UI and API docs: "
        + (
            "on (llmhost_gateway.admin_pages; every other route needs the master key)"
            if gw.admin_pages
            else "off (" + ", ".join(PAGES_OFF) + "; llmhost_gateway.admin_pages turns them on)"
        )
    )
    engine = engine_plan(GATEWAY, settings, facts)
    root = settings.root
    config = f"{root}/run/gateway.yaml"
    env = {
        "HOME": f"{root}/home",
        "PATH": f"{engine.link}/bin:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        **OFFLINE_ENV,
        **({} if gw.admin_pages else PAGES_OFF),
    }
    return GatewayPlan(
        **SupervisedProcess.files(NAME, root, settings.env_dir),
        engine=engine,
        bind=gw.host,
        port=gw.port,
        deployments=tuple(deployments),
        aliases=gw.aliases,
        fallbacks=fallbacks,
        num_retries=gw.num_retries,
        timeout=gw.timeout,
        cooldown_time=gw.cooldown_time,
        allowed_fails=gw.allowed_fails,
        config=config,
        # the console script through the link (its shebang names the versioned venv's Python)
        argv=(
            f"{engine.link}/bin/litellm",
            "--config",
            config,
            "--host",
            gw.host,
            "--port",
            str(gw.port),
            "--num_workers",
            "1",
        ),
        env=tuple(sorted(env.items())),
        secret_env=tuple(secret_env),
        health_url=bind_url(gw.host, gw.port),
        reasons=tuple(reasons),
        errors=GATEWAY.errors + ENGINE_DEATH,
        served_model_name=", ".join(groups),
    )
