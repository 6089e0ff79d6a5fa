"""The vLLM GPU path as far as a lent machine allows: each vLLM venv the plan makes (plan-only.py's
plan, JSON in argv[1]) has its check (llmhost-hosttool vllm-check: vLLM's own parser, its quantization
registry and kernels' minimum compute capability, the dtype on this GPU) run with argv[2], a Python
that has vLLM, on the real GPU: no stand-in platform. Prints one line per engine; exit 1 if any refused."""

import json
import subprocess
import sys

plan_json, python = sys.argv[1:3]
version = subprocess.run(
    [python, "-c", "import vllm; print(vllm.__version__)"], capture_output=True, text=True, check=False
)
failed = 0
with open(plan_json) as f:
    engines = json.load(f)["@local"]["engines"]
for venv, engine in engines.items():
    if engine["engine"] != "vllm":
        continue
    check = [python, "llmhost/hostside/llmhost_hosttool.py", *engine["check"][2:]]
    done = subprocess.run(check, capture_output=True, text=True, timeout=300, check=False)
    said = (done.stdout + done.stderr).strip().splitlines()
    lines = [ln for ln in said if ln.startswith(("vLLM ", "("))] or said[-3:]
    print(
        f"{venv} (planned vllm {engine['version']}; checked with the image's vLLM {version.stdout.strip()}): "
        f"exit {done.returncode}: {' | '.join(lines)[:600]}"
    )
    failed |= done.returncode != 0
sys.exit(1 if failed else 0)
