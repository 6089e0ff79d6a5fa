"""Deterministic tiny Qwen2-architecture model for demos and tests.

No model hub is needed: the weights are seeded random numbers, the tokenizer is a byte-level BPE
trained with `tokenizers` on a fixed built-in corpus, and the chat template is Qwen's ChatML.
The same call always writes the same bytes, so the model's sha256 manifest is stable across runs
and machines (a rebuild of a host gets the same model).

Shapes: hidden 256, 4 attention heads (head_dim 64: vLLM's CPU attention kernel rejects 16),
2 KV heads, 2 layers, intermediate 512, float32 safetensors (about 3 MB with a ~1k vocabulary).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

# ChatML, the template Qwen2/Qwen2.5 instruct models ship (system prompt default trimmed).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# A fixed, license-free corpus: enough text for a few hundred merges in English and Chinese.
_CORPUS = [
    "llmhost takes bare Linux hosts to a verified LLM-serving state and keeps them there.",
    "The planner reads the hardware and explains every choice: dtype, quantization, tensor parallel,",
    "memory and maximum length, or refuses an impossible wish with numbers.",
    "A second run changes nothing. A dead host is rebuilt by the same command to the same bytes.",
    "Hello! How can I help you today? The quick brown fox jumps over the lazy dog.",
    "user assistant system message content role model server health chat completion token",
    "你好，我是一个语言模型。请问有什么可以帮你的吗？今天天气很好。",
    "大模型部署需要显卡驱动、CUDA 工具包、Python 环境、推理引擎和模型权重。",
    "Qwen is a family of large language models. vLLM, llama.cpp and Ollama serve them.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 2024 2025 2026 + - * / = ( ) [ ] { } < > , . ; : ! ?",
]


@dataclass(frozen=True)
class TinyShape:
    hidden_size: int = 256
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    num_hidden_layers: int = 2
    intermediate_size: int = 512
    vocab_target: int = 1024
    max_position_embeddings: int = 2048
    seed: int = 20261122
    vocab_size: int | None = None  # embedding rows (None: the tokenizer's, rounded up to 64)
    dtype: str = "float32"  # float32 | bfloat16 (as stored)

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads


# Qwen2.5-0.5B's shapes (its config.json) with random weights in bfloat16: 494M weights, 0.99 GB read
# per decoded token (embeddings tied), the tiny tokenizer (the rows past it are never prompted).
# What `llmhost bench`'s CPU goals are measured with (scripts/bench_cpu.py).
QWEN25_05B = TinyShape(
    hidden_size=896,
    num_attention_heads=14,
    num_key_value_heads=2,
    num_hidden_layers=24,
    intermediate_size=4864,
    vocab_size=151936,
    max_position_embeddings=32768,
    dtype="bfloat16",
)
SHAPES = {"tiny": TinyShape(), "qwen2.5-0.5b": QWEN25_05B}


def _train_tokenizer(vocab_target: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_target,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Repeat the corpus so pair counts are large and ties are rare.
    tokenizer.train_from_iterator(_CORPUS * 8, trainer=trainer)
    return tokenizer


def _weights(shape: TinyShape, vocab_size: int) -> dict:
    import numpy as np

    rng = np.random.default_rng(shape.seed)
    h, inter, hd = shape.hidden_size, shape.intermediate_size, shape.head_dim
    kv = shape.num_key_value_heads * hd

    def normal(*dims: int):
        return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float32)

    tensors = {"model.embed_tokens.weight": normal(vocab_size, h)}
    for i in range(shape.num_hidden_layers):
        p = f"model.layers.{i}."
        tensors.update(
            {
                p + "input_layernorm.weight": np.ones(h, dtype=np.float32),
                p + "post_attention_layernorm.weight": np.ones(h, dtype=np.float32),
                p + "self_attn.q_proj.weight": normal(h, h),
                p + "self_attn.q_proj.bias": np.zeros(h, dtype=np.float32),
                p + "self_attn.k_proj.weight": normal(kv, h),
                p + "self_attn.k_proj.bias": np.zeros(kv, dtype=np.float32),
                p + "self_attn.v_proj.weight": normal(kv, h),
                p + "self_attn.v_proj.bias": np.zeros(kv, dtype=np.float32),
                p + "self_attn.o_proj.weight": normal(h, h),
                p + "mlp.gate_proj.weight": normal(inter, h),
                p + "mlp.up_proj.weight": normal(inter, h),
                p + "mlp.down_proj.weight": normal(h, inter),
            }
        )
    tensors["model.norm.weight"] = np.ones(h, dtype=np.float32)
    return tensors


def _pad_vocab(path: Path, size: int) -> None:
    """Give every embedding row a token (" tok<id>", never produced by the merges, so prompts stay
    as trained): a model of a real vocabulary's size samples any id, and an id the tokenizer lacks
    decodes to nothing, so an engine streams nothing for it (no inter-token timings to measure)."""
    tokenizer = json.loads(path.read_text())
    vocab = tokenizer["model"]["vocab"]
    taken = set(vocab.values()) | {t["id"] for t in tokenizer.get("added_tokens", [])}
    vocab.update({f"\u0120tok{i}": i for i in range(size) if i not in taken})
    path.write_text(json.dumps(tokenizer, ensure_ascii=False))


def _save_bf16(tensors: dict, path: Path) -> None:
    """A safetensors file of bfloat16 tensors (the numpy binding has no bfloat16): float32 rounded to
    the nearest even bfloat16, written in safetensors' layout (a length, a JSON header, the data)."""
    import numpy as np

    header, chunks, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        bits = tensors[name].astype(np.float32).view(np.uint32)
        bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")
        data = bf16.tobytes()
        header[name] = {
            "dtype": "BF16",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)  # the data starts 8-byte aligned
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for data in chunks:
            f.write(data)


def _load_safetensors(path: Path) -> dict:
    """A safetensors file's tensors as numpy arrays, bfloat16 ones as their raw uint16 bits (the numpy
    binding of safetensors refuses bfloat16)."""
    import numpy as np

    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        data = f.read()
    types = {"F32": np.float32, "BF16": np.uint16, "F16": np.float16}
    return {
        name: np.frombuffer(data[e["data_offsets"][0] : e["data_offsets"][1]], dtype=types[e["dtype"]]).reshape(
            e["shape"]
        )
        for name, e in header.items()
        if name != "__metadata__"
    }


def _dump(path: Path, obj: dict) -> None:
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def write_tiny_model(directory: str | Path, shape: TinyShape = TinyShape()) -> Path:
    """Write the tiny model into ``directory`` (created if missing) and return its path."""
    from safetensors.numpy import save_file

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)

    tokenizer = _train_tokenizer(shape.vocab_target)
    tokenizer.save(str(out / "tokenizer.json"))
    if shape.vocab_size:
        _pad_vocab(out / "tokenizer.json", shape.vocab_size)
    ids = {token: tokenizer.token_to_id(token) for token in SPECIAL_TOKENS}
    # Round the embedding rows up to a multiple of 64, as real checkpoints pad their vocabularies.
    vocab_size = shape.vocab_size or -(-tokenizer.get_vocab_size() // 64) * 64

    _dump(
        out / "config.json",
        {
            "architectures": ["Qwen2ForCausalLM"],
            "model_type": "qwen2",
            "hidden_size": shape.hidden_size,
            "intermediate_size": shape.intermediate_size,
            "num_attention_heads": shape.num_attention_heads,
            "num_key_value_heads": shape.num_key_value_heads,
            "num_hidden_layers": shape.num_hidden_layers,
            "head_dim": shape.head_dim,
            "hidden_act": "silu",
            "max_position_embeddings": shape.max_position_embeddings,
            "max_window_layers": shape.num_hidden_layers,
            "rms_norm_eps": 1e-06,
            "rope_theta": 1000000.0,
            "sliding_window": None,
            "use_sliding_window": False,
            "tie_word_embeddings": True,
            "torch_dtype": shape.dtype,
            "use_cache": True,
            "vocab_size": vocab_size,
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "attention_dropout": 0.0,
            "initializer_range": 0.02,
        },
    )
    _dump(
        out / "generation_config.json",
        {
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": [ids["<|im_end|>"], ids["<|endoftext|>"]],
            "pad_token_id": ids["<|endoftext|>"],
            "do_sample": False,
        },
    )
    _dump(
        out / "tokenizer_config.json",
        {
            "tokenizer_class": "PreTrainedTokenizerFast",
            "model_max_length": shape.max_position_embeddings,
            "bos_token": None,
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "unk_token": None,
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
            "chat_template": CHAT_TEMPLATE,
            "clean_up_tokenization_spaces": False,
        },
    )
    _dump(
        out / "special_tokens_map.json",
        {
            "eos_token": "<|im_end|>",
            "pad_token": "<|endoftext|>",
            "additional_special_tokens": ["<|im_start|>", "<|im_end|>"],
        },
    )
    if shape.dtype == "bfloat16":
        _save_bf16(_weights(shape, vocab_size), out / "model.safetensors")
    else:
        save_file(_weights(shape, vocab_size), str(out / "model.safetensors"), metadata={"format": "pt"})
    spm_model = _sentencepiece_model()
    if shape.vocab_size:
        spm_model = _pad_sentencepiece(spm_model, shape.vocab_size)
    (out / "tokenizer.model").write_bytes(spm_model)
    return out


def _pad_sentencepiece(model: bytes, size: int) -> bytes:
    """The SentencePiece model with a piece for every id up to ``size`` ("▁tok<id>", type NORMAL,
    scored below every trained piece): llama.cpp's converter otherwise fills the ids past the trained
    vocabulary with UNUSED [PAD<id>] tokens, which llama-server renders as nothing, so a GGUF made on
    the host of a model of a real vocabulary's size would stream nothing for most tokens (what
    _pad_vocab avoids for the engines that read tokenizer.json). Appended as ModelProto field 1
    entries, which protobuf parsing adds to the repeated field in order."""
    import struct

    import sentencepiece as spm

    def varint(n: int) -> bytes:
        out = b""
        while True:
            low, n = n & 0x7F, n >> 7
            out += bytes([low | (0x80 if n else 0)])
            if not n:
                return out

    def field(number: int, payload: bytes) -> bytes:
        return varint(number << 3 | 2) + varint(len(payload)) + payload

    trained = spm.SentencePieceProcessor(model_proto=model)
    score = struct.pack("<f", min(trained.GetScore(i) for i in range(trained.vocab_size())) - 1.0)
    pieces = b"".join(
        field(1, field(1, f"\u2581tok{i}".encode()) + b"\x15" + score + b"\x18\x01")
        for i in range(trained.vocab_size(), size)
    )
    return model + pieces


def _sentencepiece_model() -> bytes:
    """A SentencePiece BPE model trained on the same corpus (same bytes every time: one thread).

    Engines use tokenizer.json; this file is for llama.cpp's convert_hf_to_gguf.py, which takes a
    Qwen2 checkpoint's tokenizer.model when there is one, and refuses a BPE tokenizer.json whose
    pre-tokenizer it does not recognize (it knows them by hashing real models' output: not this
    trained one). Real Qwen checkpoints have no tokenizer.model and go the BPE way."""
    import io

    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(_CORPUS * 8),
        model_writer=out,
        vocab_size=640,
        model_type="bpe",
        num_threads=1,
        character_coverage=1.0,
        byte_fallback=True,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return out.getvalue()


def write_tiny_gguf(model_dir: str | Path, directory: str | Path) -> Path:
    """Write the tiny model at ``model_dir`` (from ``write_tiny_model``) as one GGUF file into
    ``directory`` and return the file's path: what llama.cpp serves.

    Written with llama.cpp's own ``gguf`` package: its tensor-name map for the qwen2 architecture,
    its writer, and its SpecialVocab for the merges, special tokens and chat template. (llama.cpp's
    convert_hf_to_gguf.py refuses this tokenizer: it recognizes pre-tokenizers by hashing known
    tokenizers' output, and this one is trained here.) Weights as stored (float32, or bfloat16 with
    the 1-D norms and biases in float32, as llama.cpp's converter writes them); same bytes every time.
    """
    import gguf
    import numpy as np

    src, out = Path(model_dir), Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = json.loads((src / "config.json").read_text())
    tokenizer = json.loads((src / "tokenizer.json").read_text())
    bf16 = config["torch_dtype"] == "bfloat16"
    path = out / ("tiny-qwen2-bf16.gguf" if bf16 else "tiny-qwen2-f32.gguf")

    writer = gguf.GGUFWriter(str(path), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN2])
    writer.add_name("tiny-qwen2")
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(config["num_attention_heads"])
    writer.add_head_count_kv(config["num_key_value_heads"])
    writer.add_rope_freq_base(config["rope_theta"])
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_BF16 if bf16 else gguf.LlamaFileType.ALL_F32)

    # the vocabulary in id order, byte-level strings as tokenizer.json holds them
    vocab = dict(tokenizer["model"]["vocab"])
    special = {t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}
    vocab.update(special)
    tokens = [""] * config["vocab_size"]
    types = [gguf.TokenType.UNUSED] * config["vocab_size"]
    for token, index in vocab.items():
        tokens[index] = token
        types[index] = gguf.TokenType.CONTROL if token in special else gguf.TokenType.NORMAL
    for index, token in enumerate(tokens):
        if not token:
            tokens[index] = f"[PAD{index}]"
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("qwen2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(src, load_merges=True, n_vocab=len(tokens)).add_to_gguf(writer, quiet=True)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.QWEN2, config["num_hidden_layers"])
    for name, tensor in sorted(_load_safetensors(src / "model.safetensors").items()):
        if name == "lm_head.weight" and config.get("tie_word_embeddings"):
            continue
        new = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"no GGUF name for tensor {name}")
        if tensor.dtype == np.uint16 and tensor.ndim == 1:  # bf16 norms and biases: float32 in a GGUF
            writer.add_tensor(new, (tensor.astype(np.uint32) << 16).view(np.float32))
        elif tensor.dtype == np.uint16:
            writer.add_tensor(new, tensor, raw_dtype=gguf.GGMLQuantizationType.BF16)
        else:
            writer.add_tensor(new, tensor)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
