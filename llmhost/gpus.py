"""GPU data the planner uses: compute capability by name, and which vLLM build serves which GPU.

Sources: NVIDIA's CUDA GPUs table (developer.nvidia.com/cuda-gpus) for compute capabilities;
vLLM's installation docs (0.3.3-0.14: cc >= 7.0; 0.21+: cc >= 7.5; bf16 needs cc >= 8.0) and the
vLLM production-stack V100 tutorial (Volta: fp16, --enforce-eager) for the engine chain. Copied
into ../shared/reference/models-and-gpus.md and engines.md.
"""

from __future__ import annotations

# Name fragments as nvidia-smi prints them (older drivers drop the "NVIDIA " prefix).
COMPUTE_CAPABILITY = (
    ("V100", "7.0"),
    ("T4", "7.5"),
    ("MX450", "7.5"),
    ("RTX 20", "7.5"),
    ("A100", "8.0"),
    ("A800", "8.0"),
    ("A30", "8.0"),
    ("RTX 30", "8.6"),
    ("A10", "8.6"),
    ("RTX 40", "8.9"),
    ("L40", "8.9"),
    ("L4", "8.9"),
    ("H100", "9.0"),
    ("H800", "9.0"),
    ("H200", "9.0"),
)

BF16_MIN_CC = 8.0  # "Bfloat16 is only supported on GPUs with compute capability of at least 8.0"


def compute_capability(name: str, reported: str | None) -> float | None:
    """The GPU's compute capability: as nvidia-smi reported it, else from its name."""
    if reported:
        return float(reported)
    for fragment, cc in COMPUTE_CAPABILITY:
        if fragment in name:
            return float(cc)
    return None
