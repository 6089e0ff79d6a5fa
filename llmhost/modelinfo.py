"""Read the numbers the planner needs from a model directory's config.json (no weights loaded)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

_DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2, "half": 2, "float": 4}


class ModelInfoError(ValueError):
    pass


@dataclass(frozen=True)
class ModelInfo:
    architecture: str
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_kv_heads: int
    head_dim: int
    max_position_embeddings: int
    torch_dtype: str
    weight_bytes: int  # bytes of the weight files as stored
    intermediate_size: int = 0
    vocab_size: int = 0
    quantization: str | None = None  # gptq | awq | ... as stored (quantization_config.quant_method)
    bits: int | None = None  # bits per quantized weight
    trust_remote_code: bool = False  # architectures outside transformers (Qwen v1)
    params: int | None = None  # parameter count when published
    gguf_file: str | None = None  # a GGUF model: its file (in the model directory); llama.cpp serves it
    gguf_type: str | None = None  # the GGUF's file type as llama.cpp names it (ALL_F32, MOSTLY_Q4_K_M, ...)
    estimated: bool = False  # weight_bytes worked out from config.json (a directory without weight files)
    # the output head is the input embedding (one table, read whole per decoded token); None: unknown
    tied_embeddings: bool | None = None

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """2 (K and V) x layers x kv_heads x head_dim x bytes per element."""
        return 2 * self.num_layers * self.num_kv_heads * self.head_dim * dtype_bytes

    @property
    def stored_dtype_bytes(self) -> int:
        return _DTYPE_BYTES.get(self.torch_dtype, 2)


def _weight_bytes(directory: Path) -> int:
    files = sorted(directory.glob("*.safetensors")) or sorted(directory.glob("*.bin"))
    return sum(f.stat().st_size for f in files)


def parse_config(config: dict, weight_bytes: int) -> ModelInfo:
    """Map the config.json fields of Qwen2-style and Qwen v1 (QWenLMHeadModel) models."""
    try:
        architecture = (config.get("architectures") or [config.get("model_type", "unknown")])[0]
        hidden = int(config["hidden_size"])
        heads = int(config["num_attention_heads"])
        layers = int(config["num_hidden_layers"])
        kv_heads = int(config.get("num_key_value_heads") or heads)
        head_dim = int(config.get("head_dim") or config.get("kv_channels") or hidden // heads)
        max_pos = int(
            config.get("max_position_embeddings")
            or config.get("seq_length")
            or config.get("max_sequence_length")
            or 2048
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelInfoError(f"config.json lacks a usable field ({e})")
    dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    if dtype == "auto" or config.get("fp16") is True:  # Qwen v1 configs say fp16/bf16 booleans
        dtype = "float16"
    elif config.get("bf16") is True:
        dtype = "bfloat16"
    quant = config.get("quantization_config") or {}
    return ModelInfo(
        architecture,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        max_pos,
        dtype,
        weight_bytes,
        intermediate_size=int(config.get("intermediate_size") or 0),
        vocab_size=int(config.get("vocab_size") or 0),
        quantization=quant.get("quant_method"),
        bits=quant.get("bits"),
        trust_remote_code=bool(config.get("auto_map")),
        tied_embeddings=config.get("tie_word_embeddings")
        if isinstance(config.get("tie_word_embeddings"), bool)
        else None,
    )


def read_gguf(path: Path) -> ModelInfo:
    """The planner's numbers from a GGUF file's metadata, read with llama.cpp's own ``gguf`` reader
    (only the header and the tensor index: no weights loaded), and kept in the controller's cache
    while the file keeps its size, inode and times: the reader and numpy cost a deploy ~70 ms of
    CPU on every run (a vocabulary's 152k strings are parsed to count them)."""
    from llmhost.manifest import by_stat

    ((value, _),) = by_stat(GGUF_CACHE, _gguf_memo, [path], lambda p: asdict(_read_gguf(p))).values()
    try:  # the name is this path's (a link's, where one points at the file)
        return replace(ModelInfo(**value), gguf_file=path.name)
    except TypeError:  # fields of another llmhost version: read the file again
        return _read_gguf(path)


GGUF_CACHE = "gguf-1.json"  # a new name whenever _read_gguf's numbers change
_gguf_memo: dict[str, list] = {}


def _read_gguf(path: Path) -> ModelInfo:
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
        fields = reader.fields
        arch = fields["general.architecture"].contents()

        def get(key: str, default=None):
            field = fields.get(f"{arch}.{key}")
            return field.contents() if field is not None else default

        heads = int(get("attention.head_count"))
        hidden = int(get("embedding_length"))
        file_type = fields.get("general.file_type")
        type_name = gguf.LlamaFileType(file_type.contents()).name if file_type is not None else "unknown"
        tokens = fields.get("tokenizer.ggml.tokens")
        return ModelInfo(
            architecture=f"gguf:{arch}",
            hidden_size=hidden,
            num_layers=int(get("block_count")),
            num_attention_heads=heads,
            num_kv_heads=int(get("attention.head_count_kv", heads)),
            head_dim=int(get("attention.key_length", hidden // heads)),
            max_position_embeddings=int(get("context_length", 2048)),
            torch_dtype="float16",
            weight_bytes=path.stat().st_size,
            intermediate_size=int(get("feed_forward_length", 0)),
            vocab_size=len(tokens.contents()) if tokens is not None else 0,
            gguf_file=path.name,
            gguf_type=type_name,
            tied_embeddings=not any(t.name == "output.weight" for t in reader.tensors),
        )
    except (KeyError, TypeError, ValueError) as e:
        raise ModelInfoError(f"{path.name} is not a GGUF llmhost can read ({e})")


def estimate_params(config: dict) -> int:
    """Parameters of a decoder-only transformer from its config.json: embeddings (and an untied output
    head), each layer's attention (q, o: hidden x hidden; k, v: hidden x kv heads x head_dim) and
    gated MLP (3 x hidden x intermediate); norms and biases are left out (a fraction of a percent)."""
    info = parse_config(config, 0)
    hidden, vocab = info.hidden_size, info.vocab_size
    attention = 2 * hidden * info.num_attention_heads * info.head_dim + 2 * hidden * info.num_kv_heads * info.head_dim
    mlp = 3 * hidden * info.intermediate_size
    embeddings = vocab * hidden * (1 if config.get("tie_word_embeddings") else 2)
    return embeddings + info.num_layers * (attention + mlp)


def read_model_dir(directory: str | Path, estimate: bool = False) -> ModelInfo:
    """A model directory's numbers; ``estimate``: a directory with a config.json and no weight files
    (enough for a plan, not for a deploy) gets them worked out from the config."""
    directory = Path(directory)
    config_path = directory / "config.json"
    ggufs = sorted(directory.glob("*.gguf"))
    if not config_path.is_file() and len(ggufs) == 1:
        return read_gguf(ggufs[0])
    if not config_path.is_file():
        raise ModelInfoError("has no config.json" + (f" and {len(ggufs)} GGUF files (one is served)" if ggufs else ""))
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ModelInfoError(f"config.json is not valid JSON ({e})")
    weights = _weight_bytes(directory)
    if weights == 0 and estimate:
        params = estimate_params(config)
        info = parse_config(config, 0)
        bits = (config.get("quantization_config") or {}).get("bits")
        size = int(params * bits / 8 * 1.03) if bits else params * info.stored_dtype_bytes  # + ~3% group scales
        return replace(parse_config(config, size), params=params, estimated=True)
    if weights == 0:
        raise ModelInfoError("has no *.safetensors or *.bin weight files")
    return parse_config(config, weights)
