"""What llmhost writes for Ollama held against the pinned release's own source, the only witness
here (no Ollama binary runs on these machines): every daemon setting it plans is a name of v0.22.1's
envconfig (AsMap), every Modelfile PARAMETER a json tag of its api.Options (the Modelfile parser maps
PARAMETER names through them: FormatParams refuses others). The names are derived from the tag's
source by llmhost/archlists.py into llmhost/archs/ollama-0.22.1.json (tests/upstream/test_archs.py
derives them again where GitHub answers)."""

from __future__ import annotations

import re

from llmhost import archlists
from llmhost.engines import OLLAMA
from tests import golden


def test_every_planned_ollama_setting_and_parameter_is_one_of_the_release():
    names = archlists.load(archlists.release_key("ollama", OLLAMA.version))
    settings, parameters = set(), set()
    with golden.workdir():
        for _, plan in golden.every_plan():
            if plan.ollama:
                settings |= {k for k, _ in plan.ollama.env if k.startswith("OLLAMA_")}
            for svc in plan.services:
                parameters |= set(re.findall(r"^PARAMETER (\S+) ", svc.modelfile_text or "", re.MULTILINE))
    assert settings >= {"OLLAMA_MODELS", "OLLAMA_HOST", "OLLAMA_MAX_LOADED_MODELS", "OLLAMA_KEEP_ALIVE"}
    assert parameters >= {"num_ctx", "num_thread"}
    assert settings <= set(names["env"]), sorted(settings - set(names["env"]))
    assert parameters <= set(names["parameters"]), sorted(parameters - set(names["parameters"]))
