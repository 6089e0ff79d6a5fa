"""Facts about Ollama on a host: a model imported into its store, and the Modelfile it came from."""

from __future__ import annotations

import shlex
from typing import TypedDict

from pyinfra.api import FactBase

# where `ollama create NAME[:TAG]` records a model, under OLLAMA_MODELS (Ollama's own layout)
MANIFESTS = "manifests/registry.ollama.ai/library"


def manifest_path(models_dir: str, name: str) -> str:
    """The manifest of model ``name`` (``qwen`` or ``gemma:9b``; the tag defaults to latest)."""
    model, _, tag = name.partition(":")
    return f"{models_dir}/{MANIFESTS}/{model}/{tag or 'latest'}"


class OllamaModelDict(TypedDict):
    imported: bool
    modelfile: str | None


class OllamaModel(FactBase[OllamaModelDict]):
    """
    A model in an Ollama store: whether its manifest is there, and the Modelfile llmhost imported
    it from (kept beside the store once ``ollama create`` succeeded; None when there is none).

    .. code:: python

        {"imported": True, "modelfile": "FROM /opt/llmhost/models/x/model.gguf\\nPARAMETER num_ctx 4096\\n"}
    """

    def command(self, models_dir: str, model: str, modelfile: str) -> str:
        m, f = shlex.quote(manifest_path(models_dir, model)), shlex.quote(modelfile)
        return f"[ -f {m} ] && echo imported || echo absent; [ -f {f} ] && {{ echo '== modelfile'; cat {f}; }} || true"

    def process(self, output: list[str]) -> OllamaModelDict:
        imported = bool(output) and output[0] == "imported"
        rest = output[1:]
        modelfile = "\n".join(rest[1:]) + "\n" if rest and rest[0] == "== modelfile" else None
        return {"imported": imported, "modelfile": modelfile}
