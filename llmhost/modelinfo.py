"""The numbers the planner reads of a model (ModelInfo: shapes, bytes, KV layout), and a GGUF's, read with
llama.cpp's own reader (its header and tensor index: no weights loaded); config.json: llmhost.modelconfig."""

from __future__ import annotations

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
    max_position_embeddings: int  # the longest context the model takes (rope scaling applied, vLLM's rule)
    torch_dtype: str
    weight_bytes: int  # bytes of the weight files as stored
    intermediate_size: int = 0
    vocab_size: int = 0
    quantization: str | None = None  # gptq | awq | fp8 | ... as stored (quantization_config.quant_method)
    bits: int | None = None  # bits per quantized weight
    trust_remote_code: bool = False  # architectures outside transformers (Qwen v1)
    params: int | None = None  # parameter count (all experts of a MoE model): what memory holds
    gguf_file: str | None = None  # a GGUF model: its file (in the model directory); llama.cpp serves it
    gguf_type: str | None = None  # the GGUF's file type as llama.cpp names it (ALL_F32, MOSTLY_Q4_K_M, ...)
    estimated: bool = False  # weight_bytes worked out from config.json (a directory without weight files)
    # the output head is the input embedding (one table, read whole per decoded token); None: unknown
    tied_embeddings: bool | None = None
    active_params: int | None = None  # a MoE model: the parameters one token reads (its routed experts)
    experts: int = 0  # a MoE model: routed experts per MoE layer
    experts_active: int = 0  # ... and how many each token goes through
    kv_latent: int = 0  # MLA (DeepSeek-V2/V3): one compressed latent per layer per token (kv_lora_rank + rope dim)
    sliding_window: int | None = None  # layers that attend to the last N tokens only
    sliding_layers: int = 0  # how many of the layers do (Gemma 2: half, Gemma 3: five in six)

    def kv_bytes_per_token(self, dtype_bytes: int) -> int:
        """KV cache bytes per token of context in the layers that attend to the whole context:
        2 (K and V) x layers x kv_heads x head_dim x bytes; MLA keeps one latent per layer instead."""
        if self.kv_latent:
            return self.num_layers * self.kv_latent * dtype_bytes
        return 2 * (self.num_layers - self.sliding_layers) * self.num_kv_heads * self.head_dim * dtype_bytes

    def kv_sliding_per_token(self, dtype_bytes: int) -> int:
        """KV bytes per token in the sliding-window layers (up to their window): 2 x sliding layers x
        kv_heads x head_dim x bytes."""
        if not self.sliding_window:
            return 0
        return 2 * self.sliding_layers * self.num_kv_heads * self.head_dim * dtype_bytes

    def kv_window_bytes(self, dtype_bytes: int) -> int:
        """KV bytes one sequence's sliding-window layers hold at most (their window, whatever its length)."""
        return self.kv_sliding_per_token(dtype_bytes) * (self.sliding_window or 0)

    def kv_bytes(self, tokens: int, dtype_bytes: int) -> int:
        """KV cache bytes of one sequence of ``tokens``."""
        sliding = min(tokens, self.sliding_window or 0) * self.kv_sliding_per_token(dtype_bytes)
        return tokens * self.kv_bytes_per_token(dtype_bytes) + sliding

    def kv_shards(self, tp: int) -> int:
        """How many ways tensor parallelism splits the KV cache: by KV head (replicated beyond them);
        an MLA latent is not split (every rank keeps it whole)."""
        return 1 if self.kv_latent else min(tp, self.num_kv_heads)

    def kv_tokens(self, budget: int, dtype_bytes: int, shards: int = 1) -> int:
        """Tokens of one sequence's context ``budget`` bytes of KV cache hold, on each of ``shards``."""
        per_token = self.kv_bytes_per_token(dtype_bytes) / shards
        sliding = self.kv_sliding_per_token(dtype_bytes) / shards
        window = self.kv_window_bytes(dtype_bytes) / shards
        if budget <= 0:
            return 0
        if not per_token:  # every layer slides: the window bounds the cache
            return self.max_position_embeddings if budget >= window else int(budget / sliding)
        if self.sliding_window and budget >= window + per_token * self.sliding_window:
            return int((budget - window) // per_token)
        return int(budget // (per_token + sliding))

    @property
    def kv_kind(self) -> str:
        """The attention's KV layout in words, for the plan's reasons."""
        if self.kv_latent:
            return f"MLA: one {self.kv_latent}-wide latent per layer"
        kind = "MHA" if self.num_kv_heads == self.num_attention_heads else f"GQA {self.num_kv_heads} KV heads"
        if self.sliding_layers:
            kind += f", {self.sliding_layers} of {self.num_layers} layers a {self.sliding_window}-token sliding window"
        return kind

    @property
    def stored_dtype_bytes(self) -> int:
        return _DTYPE_BYTES.get(self.torch_dtype, 2)

    @property
    def read_params(self) -> int | None:
        """Parameters a decoded token reads: the active ones of a MoE model, else all."""
        return self.active_params or self.params


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
