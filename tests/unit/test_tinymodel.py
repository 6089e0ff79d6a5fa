"""The demo model: deterministic bytes, a shape vLLM's CPU backend accepts, a working tokenizer."""

from __future__ import annotations

import json

import jinja2
from tokenizers import Tokenizer

from llmhost.manifest import build_manifest
from llmhost.modelconfig import read_model_dir
from llmhost.tinymodel import write_tiny_model


def test_same_bytes_every_time(tmp_path):
    a = build_manifest(write_tiny_model(tmp_path / "a"), "t")
    b = build_manifest(write_tiny_model(tmp_path / "b"), "t")
    assert a == b
    assert set(a["files"]) == {
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
        "tokenizer.model",
    }


def test_shape_is_qwen2_with_head_dim_64(tmp_path):
    out = write_tiny_model(tmp_path / "m")
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["Qwen2ForCausalLM"]
    info = read_model_dir(out)
    assert info.head_dim == 64  # vLLM's CPU attention rejects 16
    assert info.num_kv_heads == 2 and info.num_layers == 2
    # tokenizer fits the embedding
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    assert tok.get_vocab_size() <= config["vocab_size"]


def test_weights_are_safetensors_with_every_qwen2_tensor(tmp_path):
    from safetensors.numpy import load_file

    out = write_tiny_model(tmp_path / "m")
    tensors = load_file(str(out / "model.safetensors"))
    assert tensors["model.embed_tokens.weight"].shape == (
        json.loads((out / "config.json").read_text())["vocab_size"],
        256,
    )
    assert tensors["model.layers.1.self_attn.k_proj.weight"].shape == (128, 256)  # 2 kv heads x 64
    assert len(tensors) == 1 + 2 * 12 + 1


def test_chat_template_and_tokenizer_round_trip(tmp_path):
    out = write_tiny_model(tmp_path / "m")
    cfg = json.loads((out / "tokenizer_config.json").read_text())
    prompt = jinja2.Template(cfg["chat_template"]).render(
        messages=[{"role": "user", "content": "你好 Hello"}], add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")
    tok = Tokenizer.from_file(str(out / "tokenizer.json"))
    ids = tok.encode(prompt).ids
    assert tok.token_to_id("<|im_start|>") in ids
    assert tok.decode(ids, skip_special_tokens=False) == prompt
