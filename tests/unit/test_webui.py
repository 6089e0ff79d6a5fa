"""The web UI's plan (llmhost_webui): its connections (the host's gateway, or the inventory's services
and this host's Ollama), keys only in its env file, the data checked, the controller's secrets."""

from __future__ import annotations

import os
import stat

import pytest

from llmhost.deploys.controller_secrets import webui_secrets
from llmhost.plan import Backend, GatewayInputs, PlanError, SupervisedProcess, plan_host
from llmhost.render import env_file_vars, unit_vars
from llmhost.settings import DataError, load
from tests.unit.common import DEVBOX

KEY = "sk-" + "ab" * 32
PASSWORD, SECRET = "generated-password", "cd" * 32


def data(tiny, webui, gateway=None, services=None):
    return {
        "llmhost_services": services or [{"name": "tiny", "model": tiny}],
        "llmhost_webui": webui,
        "llmhost_gateway": gateway,
    }


def plan(tiny, webui, gateway=None, others=(), services=None):
    settings = load(data(tiny, webui, gateway, services))
    own = tuple(
        Backend("ui", True, "ui", i, s.name, s.engine, s.host, s.port, s.served_model_name, s.api_key)
        for i, s in enumerate(settings.services)
    )
    inventory = ("ui", *dict.fromkeys(b.host for b in others))
    return plan_host(DEVBOX, settings, GatewayInputs("ui", inventory, own + tuple(others), KEY, PASSWORD, SECRET))


def remote(host="10.0.0.12", bind="0.0.0.0", api_key="k-b", engine="auto", served="tiny-b", port=8000):
    return Backend(host, False, host, 0, "tiny", engine, bind, port, served, api_key)


def test_in_front_of_the_gateway_one_connection_with_its_master_key(tiny):
    p = plan(tiny, {"title": "Lab chat"}, {"aliases": {"gpt-4": "tiny"}})
    ui = p.webui
    env, secrets = dict(ui.env), dict(ui.secret_env)
    assert ui.connections == (("http://127.0.0.1:4000/v1", "llmhost-gateway, this host's gateway"),)
    assert env["OPENAI_API_BASE_URLS"] == "http://127.0.0.1:4000/v1" and secrets["OPENAI_API_KEYS"] == KEY
    assert ui.models == ("tiny", "gpt-4") and env["DEFAULT_MODELS"] == "tiny"
    assert secrets["WEBUI_ADMIN_PASSWORD"] == PASSWORD and secrets["WEBUI_SECRET_KEY"] == SECRET
    # offline, private, the data's settings at every start; sign-in on, sign-up off
    assert (
        env["OFFLINE_MODE"] == "true"
        and env["RAG_EMBEDDING_MODEL"] == ""
        and env["ENABLE_PERSISTENT_CONFIG"] == "False"
    )
    assert env["WEBUI_AUTH"] == "true" and env["ENABLE_SIGNUP"] == "false" and env["ENABLE_OLLAMA_API"] == "false"
    assert env["WEBUI_NAME"] == "Lab chat" and env["DATA_DIR"] == "/opt/llmhost/webui"
    assert env["CORS_ALLOW_ORIGIN"] == "http://127.0.0.1:8080;http://localhost:8080"
    assert ui.argv[1:] == ("serve", "--host", "127.0.0.1", "--port", "8080")
    # its venv: Open WebUI with the CPU torch, from PyTorch's CPU index; installed like an engine's
    assert ui.engine in p.engines and ui.engine.requirements == ("open-webui==0.12.4", "torch==2.13.0+cpu")
    assert "https://download.pytorch.org/whl/cpu" in ui.engine.pip_extra_index_urls
    # the data directory is the service user's; the unit and its env file are recorded as llmhost's
    assert ("/opt/llmhost/webui", "755", "llmhost", True) in p.directories
    assert any(o.unit == "llmhost-webui" and ui.env_file in o.files for o in p.owned)


def test_secrets_reach_the_env_file_only(tiny):
    ui = plan(tiny, {}, {}).webui
    unit = unit_vars(ui, user="llmhost", workdir="/opt/llmhost/home", nofile=65536)
    text = repr(unit)
    assert PASSWORD not in text and KEY not in text and SECRET not in text
    assert '"RAG_EMBEDDING_MODEL="' in unit["environment"] and unit["secret_files"] == ["/etc/llmhost/webui.env"]
    assert dict(env_file_vars(ui)["secret_env"])["WEBUI_ADMIN_PASSWORD"] == PASSWORD


def test_without_a_gateway_the_services_and_this_hosts_ollama(tiny, tmp_path):
    gguf = tmp_path / "m.gguf"
    from llmhost.tinymodel import write_tiny_gguf

    write_tiny_gguf(tiny, gguf)
    services = [
        {"name": "tiny", "model": tiny, "host": "0.0.0.0", "api_key": "own-key"},
        {"name": "o", "model": str(gguf), "engine": "ollama", "port": 11434, "served_model_name": "o"},
    ]
    origin = "http://10.0.0.11:8080"
    p = plan(
        tiny,
        {"host": "0.0.0.0", "default_model": "tiny-b", "env": {"CORS_ALLOW_ORIGIN": origin}},
        None,
        (remote(),),
        services,
    )
    ui = p.webui
    env, secrets = dict(ui.env), dict(ui.secret_env)
    assert env["OPENAI_API_BASE_URLS"] == "http://127.0.0.1:8000/v1;http://10.0.0.12:8000/v1"
    assert secrets["OPENAI_API_KEYS"] == "own-key;k-b"
    assert env["ENABLE_OLLAMA_API"] == "true" and env["OLLAMA_BASE_URL"] == "http://127.0.0.1:11434"
    assert ui.models == ("tiny", "o", "tiny-b") and env["DEFAULT_MODELS"] == "tiny-b"
    # public: the origins the data names, never "*" (a bind beyond loopback without them is refused)
    assert env["CORS_ALLOW_ORIGIN"] == origin and any(f"websocket origins {origin}" in r for r in p.reasons)


def test_a_keyless_local_service_gets_an_empty_key(tiny):
    ui = plan(tiny, {}).webui
    # Open WebUI sends no Authorization header for an empty key (routers/openai.py)
    assert dict(ui.secret_env)["OPENAI_API_KEYS"] == "" and ui.connections[0][0] == "http://127.0.0.1:8000/v1"


@pytest.mark.parametrize(
    "others, webui, message",
    [
        (
            (remote(bind="127.0.0.1"),),
            {},
            (
                "llmhost_webui: 10.0.0.12's llmhost_services[0] (tiny) listens on 127.0.0.1, "
                "which ui cannot reach; set llmhost_services[0].host on 10.0.0.12 to its private address (or 0.0.0.0) and "
                "llmhost_services[0].api_key, or leave 10.0.0.12 out of llmhost_webui.hosts"
            ),
        ),
        (
            (remote(api_key=None),),
            {},
            "llmhost_webui: 10.0.0.12's llmhost_services[0] (tiny) has no api_key in the data",
        ),
        (
            (remote(engine="ollama", api_key=None),),
            {},
            (
                "llmhost_webui: 10.0.0.12's llmhost_services[0] (tiny) is served "
                "by Ollama, which has no API key: only a webui on 10.0.0.12 may list it; leave 10.0.0.12 out of llmhost_webui.hosts"
            ),
        ),
        ((), {"hosts": ["nope"]}, "llmhost_webui.hosts: 'nope' is not a host of the inventory (its hosts: ui)"),
        ((), {"default_model": "gpt-4"}, "llmhost_webui.default_model: 'gpt-4' is not a model it lists (tiny)"),
    ],
)
def test_what_the_web_ui_cannot_reach_or_list_is_refused(tiny, others, webui, message):
    with pytest.raises(PlanError) as e:
        plan(tiny, webui, None, others)
    assert str(e.value).startswith(message)


def test_leaving_a_host_out_makes_it_plannable(tiny):
    ui = plan(tiny, {"hosts": ["ui"]}, None, (remote(bind="127.0.0.1"),)).webui
    assert ui.models == ("tiny",)


@pytest.mark.parametrize(
    "webui, message",
    [
        ({"theme": "dark"}, "llmhost_webui.theme: unknown web UI key"),
        ({"admin_email": "admin"}, "llmhost_webui.admin_email: expected an e-mail address"),
        (
            {"admin_password": 'has"quote'},
            "llmhost_webui.admin_password: expected 8 or more printable ASCII characters",
        ),
        ({"admin_password": "short"}, "llmhost_webui.admin_password: expected 8 or more"),
        (
            {"admin_password": "x" * 73},
            "llmhost_webui.admin_password: expected 8 or more printable ASCII characters (72 at most",
        ),
        ({"env": {"WEBUI_AUTH": False}}, "llmhost_webui.env.WEBUI_AUTH: set by llmhost itself"),
        ({"env": {"OPENAI_API_KEYS": "x"}}, "llmhost_webui.env.OPENAI_API_KEYS: set by llmhost itself"),
        ({"env": {"lower": "x"}}, "llmhost_webui.env: 'lower' is not an environment variable name"),
        ({"env": {"X": ["a"]}}, "llmhost_webui.env.X: expected a one-line string"),
        ({"port": 4000}, "llmhost_webui.port: 4000 is already used by llmhost_gateway"),
        ({"host": "localhost"}, "llmhost_webui.host: expected an IP address"),
        ("yes", "llmhost_webui: expected a dict"),
    ],
)
def test_bad_web_ui_data_is_one_line_naming_the_key(tiny, webui, message):
    with pytest.raises(DataError) as e:
        load(data(tiny, webui, {}))
    assert str(e.value).startswith(message)


def test_env_settings_pass_through_as_strings(tiny):
    ui = plan(
        tiny, {"env": {"ENABLE_TITLE_GENERATION": False, "TASK_MODEL": "tiny", "CORS_ALLOW_ORIGIN": "https://x"}}
    ).webui
    env = dict(ui.env)
    assert env["ENABLE_TITLE_GENERATION"] == "false" and env["TASK_MODEL"] == "tiny"
    assert env["CORS_ALLOW_ORIGIN"] == "https://x"  # ours is a default the data may replace


def test_hosts_beside_a_gateway_are_refused(tiny):
    with pytest.raises(
        PlanError, match=r"llmhost_webui.hosts: this host has a gateway, and the web UI lists its models"
    ):
        plan(tiny, {"hosts": ["ui"]}, {})


def test_a_service_named_webui_is_refused(tiny):
    with pytest.raises(PlanError, match=r"llmhost_services\[0\].name: 'webui' names the web UI's unit"):
        plan(tiny, {}, services=[{"name": "webui", "model": tiny}])


def test_the_admin_password_and_session_secret_are_generated_once_0600(tmp_path, tiny):
    settings = load({**data(tiny, {}), "llmhost_secrets_dir": str(tmp_path / "s")})
    password, secret = webui_secrets(settings, "10.0.0.11")
    for name in ("webui-admin-password", "webui-secret-key"):
        assert stat.S_IMODE(os.stat(tmp_path / "s" / "10.0.0.11" / name).st_mode) == 0o600
    assert len(password) >= 20 and len(secret) == 64
    assert webui_secrets(settings, "10.0.0.11") == (password, secret)  # the same on every run and rebuild
    given = load({**data(tiny, {"admin_password": "correct-horse"}), "llmhost_secrets_dir": str(tmp_path / "s")})
    assert webui_secrets(given, "10.0.0.11") == ("correct-horse", secret)
    (tmp_path / "s" / "10.0.0.11" / "webui-secret-key").write_text("not hex\n")
    with pytest.raises(DataError, match="llmhost_secrets_dir: .*webui-secret-key does not hold a session secret"):
        webui_secrets(settings, "10.0.0.11")


def test_a_plan_generates_no_secret_on_the_controller(tmp_path, tiny):
    """`llmhost plan` and `llmhost status` change nothing anywhere: a secret not made yet is a
    placeholder naming its file; one made by a serve is read as it is."""
    settings = load({**data(tiny, {}), "llmhost_secrets_dir": str(tmp_path / "s")})
    password, secret = webui_secrets(settings, "10.0.0.11", write=False)
    assert password == f"(generated by the first serve into {tmp_path}/s/10.0.0.11/webui-admin-password)"
    assert secret.endswith("10.0.0.11/webui-secret-key)")
    assert not (tmp_path / "s").exists()
    made = webui_secrets(settings, "10.0.0.11")
    assert webui_secrets(settings, "10.0.0.11", write=False) == made


def test_the_deploys_host_is_told_from_the_others_by_name(tiny, tmp_path):
    """In a deploy, `host` is pyinfra's context proxy, not the inventory's object: this host's own
    services are local (a loopback one is reachable), the others' remote (one bound to loopback is not)."""
    from pyinfra import host
    from pyinfra.api import Config, Inventory, State
    from pyinfra.context import ctx_host, ctx_state

    from llmhost.deploys.inputs import gateway_inputs

    own = {
        "llmhost_services": [{"name": "tiny", "model": tiny}],
        "llmhost_webui": {},
        "llmhost_secrets_dir": str(tmp_path),
    }
    other = {"llmhost_services": [{"name": "tiny", "model": tiny, "host": "10.0.0.12", "api_key": "k"}]}
    inventory = Inventory(([("ui", own), ("10.0.0.12", other)], {}))
    state = State(inventory, Config())
    with ctx_state.use(state), ctx_host.use(inventory.get_host("ui")):
        inputs = gateway_inputs(host, load(own))
    assert [(b.host, b.local, b.bind) for b in inputs.backends] == [
        ("ui", True, "127.0.0.1"),
        ("10.0.0.12", False, "10.0.0.12"),
    ]


def test_a_service_the_gateway_and_the_web_ui_are_one_kind_of_supervised_process(tiny):
    """One type, one place their paths are made: what the templates, the restart and the verify
    layer read is the same for the three."""
    p = plan(tiny, {}, {})
    processes = [*p.services, p.gateway, p.webui]
    assert [s.name for s in processes] == ["tiny", "gateway", "webui"]
    for s in processes:
        assert isinstance(s, SupervisedProcess)
        files = SupervisedProcess.files(s.name, p.root, p.env_dir)
        assert {k: getattr(s, k) for k in files} == files, s.name
        assert (
            files["unit"] == f"llmhost-{s.name}"
            and files["unit_file"] == f"/etc/systemd/system/llmhost-{s.name}.service"
        )
        assert s.secret_files == (f"/etc/llmhost/{s.name}.env",)
        assert s.supervisor_file("systemd") == s.unit_file and s.supervisor_file("tmux") == s.launcher
        assert unit_vars(s, user="llmhost", workdir="/opt/llmhost/home", nofile=1)["unit"] == s.unit
