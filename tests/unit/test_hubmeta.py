"""Any model the user names, from the hub's own metadata (llmhost/hubmeta.py) read through a real
hub protocol: olah on loopback serving the metadata-only copies of tests/fixtures/hub (real
config.json files; safetensors headers of each checkpoint's layout), read with huggingface_hub as
the controller reads huggingface.co. Held against each model's published numbers (parameters, KV
layout, context) and against the catalog's entries of the same repositories. ~5 s (olah's start).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import pytest

from llmhost import catalog, hubmeta
from llmhost.modelconfig import parse_config, with_params
from llmhost.settings import DataError, load
from tests.hub import fresh_hub
from tests.hubrepos import FIXTURES, publish_all, tensors


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    hub = fresh_hub(tmp_path_factory.mktemp("hub") / "hub")
    commits = publish_all(hub)
    hub.start(str(Path(sys.executable).with_name("olah-cli")))
    hub.commits = commits
    yield hub
    hub.stop()


def info(hub, repo: str, file: str | None = None):
    return hubmeta.model_info(hubmeta.read(repo, None, file, hub.url, None), file)


# (repository, total parameters and active ones in billions as published, KV bytes per token in
# 16 bit, the context vLLM takes): the model cards' numbers (Qwen3-30B-A3B: 30.5 B total, 3.3 B
# active; DeepSeek-V2-Lite: 15.7 B, 2.4 B; Mixtral 8x7B: 46.7 B, 12.9 B; gemma-3-4b with its vision
# tower: 4.3 B) and each config's attention (MLA: 27 layers x (512 + 64) x 2 B; Gemma 3: 5 of its
# 34 layers global; Llama 3.1: 131072 with llama3 rope; InternLM2.5: dynamic rope x 2).
PUBLISHED = [
    ("Qwen/Qwen3-8B", 8.2, None, 2 * 36 * 8 * 128 * 2, 40960),
    ("Qwen/Qwen3-30B-A3B", 30.5, 3.3, 2 * 48 * 4 * 128 * 2, 40960),
    ("deepseek-ai/DeepSeek-V2-Lite-Chat", 15.7, 2.4, 27 * 576 * 2, 163840),
    ("mistralai/Mixtral-8x7B-v0.1", 46.7, 12.9, 2 * 32 * 8 * 128 * 2, 32768),
    ("google/gemma-3-4b-it", 4.3, None, 2 * 5 * 4 * 256 * 2, 131072),
    ("google/gemma-2-9b-it", 9.24, None, 2 * 21 * 8 * 256 * 2, 8192),
    ("meta-llama/Llama-3.1-8B-Instruct", 8.03, None, 2 * 32 * 8 * 128 * 2, 131072),
    ("internlm/internlm2_5-7b-chat", 7.74, None, 2 * 32 * 8 * 128 * 2, 65536),
    ("microsoft/phi-4", 14.7, None, 2 * 40 * 10 * 128 * 2, 16384),
]


@pytest.mark.parametrize(("repo", "total", "active", "kv", "length"), PUBLISHED)
def test_numbers_from_the_hub_are_the_published_ones(hub, repo, total, active, kv, length):
    got = info(hub, repo)
    assert abs(got.params / 1e9 - total) / total < 0.04, got.params
    if active:
        assert abs(got.active_params / 1e9 - active) / active < 0.12, got.active_params
        assert got.read_params == got.active_params < got.params
    else:
        assert got.active_params is None and got.read_params == got.params
    assert got.kv_bytes_per_token(2) == kv
    assert got.max_position_embeddings == length
    assert got.weight_bytes == pytest.approx(got.params * 2, rel=0.001)  # bf16 as stored: the headers' bytes


def test_quantized_checkpoints_are_sized_by_their_real_bytes(hub):
    awq, fp8, dense = (
        info(hub, "Qwen/Qwen2.5-7B-Instruct-AWQ"),
        info(hub, "Qwen/Qwen3-8B-FP8"),
        info(hub, "Qwen/Qwen3-8B"),
    )
    assert (awq.quantization, awq.bits, awq.torch_dtype) == ("awq", 4, "float16")
    assert 5.4e9 < awq.weight_bytes < 5.7e9  # Qwen2.5-7B-Instruct-AWQ's files: 5.58 GB
    assert awq.params == pytest.approx(7.6e9, rel=0.01)  # its parameters, not its packed int32 count
    assert (fp8.quantization, fp8.bits) == ("fp8", 8)
    assert 0.55 < fp8.weight_bytes / dense.weight_bytes < 0.6  # fp8 linears, bf16 embeddings and head


def test_a_gguf_repository_is_sized_by_its_file_and_its_card_s_base_model(hub):
    got = info(hub, "bartowski/Qwen2.5-7B-Instruct-GGUF", "Qwen2.5-7B-Instruct-Q4_K_M.gguf")
    base = info(hub, "Qwen/Qwen2.5-7B-Instruct")
    assert (got.gguf_file, got.gguf_type, got.weight_bytes) == (
        "Qwen2.5-7B-Instruct-Q4_K_M.gguf",
        "Q4_K_M",
        4_683_074_240,
    )
    assert (got.num_layers, got.num_kv_heads, got.architecture) == (28, 4, "Qwen2ForCausalLM")
    assert got.params == pytest.approx(base.params, rel=0.01)


@pytest.mark.parametrize("repo", ["Qwen/Qwen2.5-7B-Instruct", "google/gemma-2-9b-it"])
def test_the_catalog_agrees_with_the_hub_s_metadata(hub, repo):
    """The catalog is a cache of the same numbers: what the planner reads for these ids offline."""
    got, cached = info(hub, repo), catalog.lookup(repo)
    fields = ("architecture", "hidden_size", "num_layers", "num_attention_heads", "num_kv_heads", "head_dim")
    fields += ("max_position_embeddings", "vocab_size", "tied_embeddings", "sliding_window", "sliding_layers")
    assert {f: getattr(got, f) for f in fields} == {f: getattr(cached, f) for f in fields}
    assert cached.weight_bytes == pytest.approx(got.weight_bytes, rel=0.005)
    assert cached.params == pytest.approx(got.params, rel=0.005)


def test_the_headers_count_what_the_config_estimate_counts():
    """Two ways to the parameters of each fixture: the tensors a checkpoint of that layout holds
    (the headers the test hub serves) and modelinfo's estimate from config.json (what a directory
    with a config alone, or a quantized checkpoint, is sized by; it leaves out norms and a vision tower)."""
    counts = {}
    for directory in sorted(FIXTURES.iterdir()):
        config_file = directory / "config.json"
        if not config_file.exists() or "quantization_config" in config_file.read_text():
            continue
        config = json.loads(config_file.read_text())
        counted = sum(
            _count(shape) for name, (_, shape) in tensors(config).items() if "norm" not in name and "vision" not in name
        )
        counts[directory.name] = (with_params(parse_config(config, 0), config).params, counted)
    off = {name: pair for name, pair in counts.items() if abs(pair[0] - pair[1]) > 0.005 * pair[1]}
    assert len(counts) >= 12 and off == {}


def _count(shape: list[int]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def test_every_refusal_is_one_line_naming_what_to_do(hub):
    cases = {
        ("Qwen/Qwen2.5-0.5B-Instrcut", None, None): "did you mean Qwen/Qwen2.5-0.5B-Instruct?",
        ("Qwen/Qwen3-8B", "v9", None): "Qwen/Qwen3-8B has no revision 'v9'",
        ("bartowski/Qwen2.5-7B-Instruct-GGUF", None, None): "holds GGUF files only: name one, e.g. hf:bartowski/",
        (
            "bartowski/Qwen2.5-7B-Instruct-GGUF",
            None,
            "Qwen2.5-7B-Instruct-Q4_K_S.gguf",
        ): "did you mean Qwen2.5-7B-Instruct-Q4_K_M.gguf?",
        ("nobody/nothing", None, None): "nobody/nothing is not a model repository",
    }
    said = {}
    for (repo, revision, file), want in cases.items():
        with pytest.raises(hubmeta.HubError) as e:
            hubmeta.read(repo, revision, file, hub.url, None, known=list(catalog.CATALOG))
        said[want] = str(e.value)
    assert [want for want, line in said.items() if want not in line or "\n" in line] == []
    with pytest.raises(hubmeta.HubError, match=r"cannot be reached from the controller .* set llmhost_hf_endpoint"):
        hubmeta.read("Qwen/Qwen3-8B", None, None, "http://127.0.0.1:9", None)


def test_a_gated_repository_without_a_token_is_one_line():
    """huggingface.co answers a gated file 401 with X-Error-Code GatedRepo (no gated repository
    can be served here: olah has no access control); huggingface_hub raises GatedRepoError."""
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status

    class Gated:
        endpoint, token = "https://huggingface.co", False

        def model_info(self, repo, revision=None):
            url = f"https://huggingface.co/api/models/{repo}/revision/{revision}"
            headers = {"X-Error-Code": "GatedRepo", "X-Error-Message": f"Access to model {repo} is restricted."}
            hf_raise_for_status(httpx2.Response(401, headers=headers, request=httpx2.Request("GET", url)))

    original = hubmeta._client
    hubmeta._client = lambda endpoint, token: Gated()
    try:
        with pytest.raises(hubmeta.HubError, match="is gated: accept its terms on .* set llmhost_hf_token"):
            hubmeta.read("meta-llama/Llama-3.1-8B-Instruct", None, None, None, None)
    finally:
        hubmeta._client = original


def test_a_locked_model_plans_from_its_kept_metadata_with_no_network(hub, tmp_path):
    """The metadata a deploy used is kept beside the lock; with the lock naming that commit, the
    next plan reads it (the hub can be gone) and a rebuild plans the same."""
    hubmeta._memo.clear()
    spec = "hf:Qwen/Qwen3-30B-A3B"
    data = {
        "llmhost_services": [{"name": "m", "model": spec}],
        "llmhost_hf_endpoint": hub.url,
        "llmhost_model_lock_dir": str(tmp_path),
    }
    live = hubmeta.attach(load(data), write=True)
    lock = Path(live.services[0].model.lock_file)
    meta = hubmeta.meta_file(str(lock))
    assert meta.is_file() and json.loads(meta.read_text())["revision"] == hub.commits["Qwen/Qwen3-30B-A3B"]
    files = {p: {"sha256": "0" * 64, "size": s} for p, s in json.loads(meta.read_text())["files"].items()}
    lock.write_text(json.dumps({"source": spec, "revision": hub.commits["Qwen/Qwen3-30B-A3B"], "files": files}))
    hubmeta._memo.clear()
    offline = hubmeta.attach(load({**data, "llmhost_hf_endpoint": "http://127.0.0.1:9"}))
    assert offline.services[0].model.info == live.services[0].model.info
    lock.write_text(json.dumps({"source": spec, "revision": "f" * 40, "files": files}))  # another commit
    with pytest.raises(DataError, match=r"^llmhost_services\[0\]\.model: .*cannot be reached"):
        hubmeta.attach(load({**data, "llmhost_hf_endpoint": "http://127.0.0.1:9"}))


def test_a_catalog_id_plans_with_no_network_and_an_unknown_one_reads_the_hub(hub):
    hubmeta._memo.clear()
    offline = {"llmhost_hf_endpoint": "http://127.0.0.1:9"}
    known = hubmeta.attach(load({**offline, "llmhost_services": [{"name": "m", "model": "Qwen/Qwen2-72B-Instruct"}]}))
    assert known.services[0].model.info == catalog.lookup("Qwen/Qwen2-72B-Instruct")
    with pytest.raises(DataError, match=r"^llmhost_services\[0\]\.model: .*cannot be reached"):
        hubmeta.attach(load({**offline, "llmhost_services": [{"name": "m", "model": "Qwen/Qwen3-8B"}]}))
    read = hubmeta.attach(
        load({"llmhost_hf_endpoint": hub.url, "llmhost_services": [{"name": "m", "model": "Qwen/Qwen3-8B"}]})
    )
    assert dataclasses.replace(read.services[0].model.info).architecture == "Qwen3ForCausalLM"


def test_the_generated_headers_match_the_one_real_index_at_hand():
    """gemma-2-9b-it's model.safetensors.index.json says total_size 18483411968 (SOURCES.md); the
    headers tests/hubrepos.py writes from its config.json come within 0.01% (Gemma 2's extra norms)."""
    from tests.hubrepos import shards

    files, declared = shards(json.loads((FIXTURES / "google--gemma-2-9b-it" / "config.json").read_text()))
    total = json.loads(files["model.safetensors.index.json"])["metadata"]["total_size"]
    assert total == pytest.approx(18_483_411_968, rel=1e-4)
    assert len(declared) == 4  # four shards, as the real repository has
