"""What each pinned engine release serves, from the release's own code (llmhost/archlists.py says
what is read where; tests/upstream/test_archs.py derives it again): the Hugging Face
`architectures` names of checkpoints (SERVES: vLLM's registry, its own code and its Transformers
backend; llama.cpp: what its converter makes a GGUF of) and the GGUF `general.architecture` names
loaded (SERVES_GGUF: llama.cpp; Ollama: its vendored llama.cpp and its own engine)."""

from __future__ import annotations

from llmhost import archlists
from llmhost.engines import LLAMACPP, OLLAMA, VLLM_CPU, VLLM_CU128, VLLM_CUDA


def _lists(key: str, *kinds: str) -> frozenset[str]:
    """The names of release ``key``'s lists ``kinds``; none for a release without a list (an Ollama
    version other than the default: nothing is checked)."""
    if not archlists.data_path(key).is_file():
        return frozenset()
    return frozenset().union(*(archlists.architectures(key, kind) for kind in kinds))


SERVES: dict[tuple[str, str], frozenset[str]] = {
    (r.engine, r.version): _lists(f"{r.requirements[0].split('==')[0]}-{r.version}", "generation", "transformers")
    for r in (VLLM_CPU, VLLM_CUDA, VLLM_CU128)
} | {(LLAMACPP.engine, LLAMACPP.version): _lists(f"llamacpp-{LLAMACPP.version}", "convert")}
SERVES_GGUF: dict[tuple[str, str], frozenset[str]] = {
    (LLAMACPP.engine, LLAMACPP.version): _lists(f"llamacpp-{LLAMACPP.version}", "gguf"),
    (OLLAMA.engine, OLLAMA.version): _lists(f"ollama-{OLLAMA.version}", "gguf", "native"),
}
# architectures vLLM dropped -> the last release that served them (its registry says)
VLLM_DROPPED: dict[str, str] = archlists.load(f"vllm-{VLLM_CUDA.version}").get("previously_supported", {})
