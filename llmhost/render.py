"""The variables each template receives, computed from the plan (layers and tests share them).

Templates get every value explicitly, already shell-quoted where they land in a shell script;
nothing here reads the host or the clock, so the rendered bytes depend on the plan alone.
"""

from __future__ import annotations

import shlex

from llmhost.plan import EnginePlan, ServicePlan

RESTART_DELAY_SECONDS = 10


def launcher_vars(service: ServicePlan) -> dict:
    return {
        "unit": service.unit,
        "engine": service.engine.engine,
        "engine_version": service.engine.version,
        "served_model_name": service.served_model_name,
        "bind": service.bind,
        "port": service.port,
        "env_file": service.env_file,
        "restart_delay": RESTART_DELAY_SECONDS,
        "log_q": shlex.quote(service.log),
        "env_file_q": shlex.quote(service.env_file),
        "env_q": [shlex.quote(f"{k}={v}") for k, v in service.env],
        "argv_q": [shlex.quote(a) for a in service.argv],
    }


def env_file_vars(service: ServicePlan) -> dict:
    for key, value in service.secret_env:
        if "\n" in value or "\r" in value:
            raise ValueError(f"{key} of {service.name} contains a newline")
    return {"unit": service.unit, "secret_env": service.secret_env}


def pip_conf_vars(engine: EnginePlan) -> dict:
    return {
        "venv": engine.venv,
        "index_url": engine.pip_index_url,
        "extra_index_urls": list(engine.pip_extra_index_urls),
        "find_links": list(engine.pip_find_links),
    }
