"""The gateway's plan (llmhost_gateway): backends from the inventory's data, reachability and keys
refused with the keys to set, aliases and fallbacks checked, the config rendered without secrets."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from llmhost.deploys.controller_secrets import master_key
from llmhost.plan import Backend, GatewayInputs, PlanError, plan_host
from llmhost.render import gateway_config
from llmhost.settings import DataError, load
from tests.unit.common import DEVBOX

KEY = "sk-" + "ab" * 32


def data(tiny, gateway, **service):
    return {"llmhost_services": [{"name": "tiny", "model": tiny, **service}], "llmhost_gateway": gateway}


def backend(
    host,
    index=0,
    name="tiny",
    served="tiny",
    bind="0.0.0.0",
    port=8000,
    api_key="k-b",
    engine="auto",
    address=None,
    local=False,
):
    return Backend(host, local, address or host, index, name, engine, bind, port, served, api_key)


def plan(tiny, gateway, others=(), **service):
    settings = load(data(tiny, gateway, **service))
    own = tuple(
        backend("gw", i, s.name, s.served_model_name, s.host, s.port, s.api_key, s.engine, "gw", True)
        for i, s in enumerate(settings.services)
    )
    inventory = ("gw", *dict.fromkeys(b.host for b in others))
    return plan_host(DEVBOX, settings, GatewayInputs("gw", inventory, own + tuple(others), KEY))


def test_two_hosts_one_group_load_balanced_with_alias_and_fallback(tiny):
    others = (backend("10.0.0.12"), backend("10.0.0.12", 1, "small", "small", port=8001, api_key="k-s"))
    p = plan(tiny, {"aliases": {"gpt-4": "tiny"}, "fallbacks": {"small": ["tiny"]}}, others)
    g = p.gateway
    assert g.fallbacks == (("small", ("tiny",)),)
    assert [(d.group, d.api_base, d.id) for d in g.deployments] == [
        ("tiny", "http://127.0.0.1:8000/v1", "gw/tiny"),
        ("tiny", "http://10.0.0.12:8000/v1", "10.0.0.12/tiny"),
        ("small", "http://10.0.0.12:8001/v1", "10.0.0.12/small"),
    ]
    assert g.names == ("tiny", "small", "gpt-4")
    # LiteLLM looks fallbacks up by the name asked for: an alias gets its group's
    aliased = plan(tiny, {"aliases": {"gpt-4": "small"}, "fallbacks": {"small": ["tiny"]}}, others).gateway
    assert aliased.fallbacks == (("small", ("tiny",)), ("gpt-4", ("tiny",)))
    assert any("'tiny': 2 backends, load-balanced" in r for r in p.reasons)
    # the engine layer installs the gateway's venv like an engine's; the service layer supervises it
    assert g.engine in p.engines and g.engine.requirements[0] == "litellm[proxy]==1.106.12"
    assert g.argv[1:] == (
        "--config",
        "/opt/llmhost/run/gateway.yaml",
        "--host",
        "127.0.0.1",
        "--port",
        "4000",
        "--num_workers",
        "1",
    )
    env = dict(g.env)
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"] == "True" and env["LITELLM_MODE"] == "PRODUCTION"
    # what the record on the host says llmhost created (a gateway removed from the data is torn down)
    assert any(o.unit == "llmhost-gateway" and g.env_file in o.files for o in p.owned)


def test_the_config_names_keys_by_variable_and_holds_no_secret(tiny):
    others = (backend("10.0.0.12", api_key="backend-secret"),)
    g = plan(tiny, {"aliases": {"gpt-4": "tiny"}}, others).gateway
    text = gateway_config(g)
    assert KEY not in text and "backend-secret" not in text
    config = yaml.safe_load(text)
    params = [m["litellm_params"] for m in config["model_list"]]
    assert [p["api_key"] for p in params] == ["none", "os.environ/LLMHOST_BACKEND_KEY_1"]
    assert dict(g.secret_env) == {"LITELLM_MASTER_KEY": KEY, "LLMHOST_BACKEND_KEY_1": "backend-secret"}
    assert config["router_settings"]["model_group_alias"] == {"gpt-4": "tiny"}
    assert config["general_settings"] == {"master_key": "os.environ/LITELLM_MASTER_KEY"}
    assert config["litellm_settings"]["callbacks"] == ["prometheus"]
    assert gateway_config(g) == text  # same plan, same bytes
    assert "backend-secret" not in repr(g) and KEY not in repr(g)


@pytest.mark.parametrize(
    "other, gateway, message",
    [
        (
            backend("10.0.0.12", bind="127.0.0.1"),
            {},
            (
                "llmhost_gateway: 10.0.0.12's llmhost_services[0] (tiny) listens on 127.0.0.1, which gw cannot reach; set "
                "llmhost_services[0].host on 10.0.0.12 to its private address (or 0.0.0.0) and llmhost_services[0].api_key, "
                "or leave 10.0.0.12 out of llmhost_gateway.hosts"
            ),
        ),
        (
            backend("10.0.0.12", api_key=None),
            {},
            (
                "llmhost_gateway: 10.0.0.12's llmhost_services[0] (tiny) has no api_key in the data (a key generated on "
                "10.0.0.12 never reaches the controller); set llmhost_services[0].api_key on 10.0.0.12"
            ),
        ),
        (
            backend("10.0.0.12", engine="ollama", api_key=None),
            {},
            (
                "llmhost_gateway: 10.0.0.12's llmhost_services[0] (tiny) is served by Ollama, which has no API key: only a "
                "gateway on 10.0.0.12 may front it; leave 10.0.0.12 out of llmhost_gateway.hosts"
            ),
        ),
        (
            backend("10.0.0.12"),
            {"hosts": ["10.0.0.99"]},
            "llmhost_gateway.hosts: '10.0.0.99' is not a host of the inventory (its hosts: gw, 10.0.0.12)",
        ),
        (
            backend("10.0.0.12"),
            {"aliases": {"gpt-4": "qwen"}},
            "llmhost_gateway.aliases.gpt-4: 'qwen' is not a served_model_name of the services it fronts (tiny)",
        ),
        (
            backend("10.0.0.12"),
            {"aliases": {"tiny": "tiny"}},
            "llmhost_gateway.aliases.tiny: 'tiny' is already a model group (a served_model_name)",
        ),
        (
            backend("10.0.0.12"),
            {"fallbacks": {"tiny": ["big"]}},
            "llmhost_gateway.fallbacks.tiny: 'big' is not a served_model_name of the services it fronts (tiny)",
        ),
    ],
)
def test_what_the_gateway_cannot_reach_or_name_is_refused_with_the_keys_to_set(tiny, other, gateway, message):
    with pytest.raises(PlanError) as e:
        plan(tiny, gateway, (other,))
    assert str(e.value) == message


def test_a_backend_with_a_key_generated_on_the_gateway_host_is_refused(tiny):
    with pytest.raises(
        PlanError,
        match=r"listens on 0.0.0.0 with a key generated on this host, which the gateway is "
        r"not given; set llmhost_services\[0\].api_key",
    ):
        plan(tiny, {}, host="0.0.0.0")


def test_a_wildcard_bind_is_reached_at_the_hosts_address_a_specific_one_at_itself(tiny):
    others = (backend("b", address="10.0.0.12"), backend("c", bind="10.0.0.13", address="c.example"))
    g = plan(tiny, {}, others).gateway
    assert [d.api_base for d in g.deployments[1:]] == ["http://10.0.0.12:8000/v1", "http://10.0.0.13:8000/v1"]


def test_only_the_hosts_named(tiny):
    others = (backend("b"), backend("c"))
    g = plan(tiny, {"hosts": ["c"]}, others).gateway
    assert [d.id for d in g.deployments] == ["c/tiny"]


@pytest.mark.parametrize(
    "gateway, message",
    [
        ("yes", "llmhost_gateway: expected a dict (or null: no gateway), got 'yes' (str)"),
        (
            {"prot": 4000},
            (
                "llmhost_gateway.prot: unknown gateway key; did you mean port? (known: host, port, hosts, aliases, fallbacks, "
                "num_retries, timeout, cooldown_time, allowed_fails, master_key, admin_pages)"
            ),
        ),
        (
            {"master_key": "sk-1234"},
            (
                "llmhost_gateway.master_key: a publicly known key (LiteLLM refuses to start with "
                "it); leave it out to have one generated"
            ),
        ),
        (
            {"master_key": "hunter2"},
            (
                'llmhost_gateway.master_key: expected "sk-" and at least 16 more characters; '
                "leave it out to have one generated"
            ),
        ),
        (
            {"master_key": "sk-0123456789abcdef'0"},
            (
                "llmhost_gateway.master_key: expected the characters of an HTTP bearer token: A-Z a-z 0-9 - . _ ~ + / "
                "(then = padding); character 20 is not one of them"
            ),
        ),
        ({"port": 8000}, "llmhost_gateway.port: 8000 is already used by llmhost_services[0]"),
        ({"fallbacks": {"tiny": ["tiny"]}}, "llmhost_gateway.fallbacks.tiny: a model group cannot fall back to itself"),
        (
            {"host": "localhost"},
            "llmhost_gateway.host: expected an IP address to bind (e.g. 127.0.0.1), got 'localhost'",
        ),
    ],
)
def test_bad_gateway_data_is_one_line(tiny, gateway, message):
    with pytest.raises(DataError) as e:
        load(data(tiny, gateway))
    assert str(e.value) == message


def test_a_service_named_gateway_is_refused(tiny):
    with pytest.raises(PlanError, match=r"llmhost_services\[0\].name: 'gateway' names the gateway's unit"):
        plan(tiny, {}, name="gateway")


def test_the_master_key_is_generated_once_0600_and_kept(tmp_path, tiny):
    settings = load({**data(tiny, {}), "llmhost_secrets_dir": str(tmp_path / "secrets")})
    first = master_key(settings, "10.0.0.11")
    path = tmp_path / "secrets" / "10.0.0.11" / "gateway-master-key"
    assert first.startswith("sk-") and len(first) == 67
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert master_key(settings, "10.0.0.11") == first  # the same on every run
    assert master_key(settings, "@local") != first  # one per gateway host
    given = load({**data(tiny, {"master_key": KEY}), "llmhost_secrets_dir": str(tmp_path / "secrets")})
    assert master_key(given, "10.0.0.11") == KEY
