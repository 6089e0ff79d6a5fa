"""What the property tests of issue 37 share (tests/unit/test_values_land_intact.py: bash and
llmhost-hosttool exec as readers; tests/fleet/test_values_land_intact.py: systemd): the values
hypothesis generates, the data they go into, and the probe that reports what a process received."""

from __future__ import annotations

from hypothesis import strategies as st

from llmhost.plan import plan_host
from llmhost.settings import DataError, load
from llmhost.settings.values import TOKEN
from tests.unit.common import DEVBOX

# anything a YAML or Python group-data file can hold: every code point but lone surrogates
TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=24)
PROBE = "import json, os, sys; print('PROBE ' + json.dumps([sys.argv[1:], dict(os.environ)]))"


def wish(title: str, admin: str, path: str, served: str, key: str) -> dict:
    return {
        "llmhost_services": [
            {
                "name": "t",
                "model": f"host:/srv/{path}",
                "engine": "vllm-cpu",
                "max_model_len": 1024,
                "served_model_name": served,
                "api_key": key,
            }
        ],
        "llmhost_webui": {"title": title, "admin_name": admin},
    }


def planned_or_refused(data: dict):
    """The plan of ``data``, or None where it is refused (in one line naming a key)."""
    try:
        return plan_host(DEVBOX, load(data))
    except DataError as e:
        assert "\n" not in str(e) and str(e).startswith(f"{e.key}: "), str(e)
        return None


VALID = {"title": "Lab", "admin": "Admin", "path": "m", "served": "t", "key": "k3y"}
# a key's values: any text, and text of the bearer-token characters (the charset keys are held to)
FIELDS = {
    "title": TEXT,
    "admin": TEXT,
    "path": TEXT,
    "served": st.one_of(TEXT, st.from_regex(r"[\w.:/-]{1,24}", fullmatch=True)),
    "key": st.one_of(
        TEXT,
        st.text(st.sampled_from("AZaz09-._~+/= '\"$%\\;"), min_size=1, max_size=24),
        st.from_regex(TOKEN, fullmatch=True),
    ),
}


def assert_received(plan, values: dict, receive) -> None:
    """The service's and the web UI's processes got exactly the data's ``values``: ``receive``
    (process -> (argv after the program, environment)) is the reader under test."""
    (svc,) = plan.services
    argv, env = receive(svc)
    assert argv == list(svc.argv[1:])
    assert argv[argv.index("--model") + 1] == f"/srv/{values['path']}".rstrip("/")
    assert argv[argv.index("--served-model-name") + 1] == values["served"]
    assert env == {**dict(svc.env), "VLLM_API_KEY": values["key"]}
    _, env = receive(plan.webui)
    assert (env["WEBUI_NAME"], env["WEBUI_ADMIN_NAME"]) == (values["title"], values["admin"])
