#!/usr/bin/env bash
# The GPU acceptance: llmhost on a machine with a real NVIDIA GPU, run from the repository root as
# root on that machine (README "The GPU path", section "GPU acceptance"). Prepare its kit first on
# a machine with an index (`scripts/gpu-acceptance/kit.sh`: wheels for the machine's Python, a copy
# of the pinned llama.cpp source, the tiny model's GGUF); the GPU machine needs no network.
#
# What it proves, each step logged with its time in $OUT/summary.txt:
#  1. facts read for real: `llmhost plan` of this machine (@local), its GPUs, driver and toolkits
#     from nvidia-smi and /usr/local/cuda-*, the choices it explains (plan.txt / plan.json); the
#     plan of two real models on these GPUs, and a wish too big for them refused with numbers
#  2. llama-server built with exactly the plan's cmake flags (CUDA backend, the GPU's
#     architecture, the plan's nvcc) into the plan's versioned engine directory
#  3. `pyinfra @local deploys/serve.py`: the real layers over that build (a second run changes
#     nothing); where the machine lacks a package it cannot install offline, the run's one line
#     is kept and the service is started by hand with the plan's own argv and environment
#  4. the service answers a chat completion, every layer on the GPU (llama.cpp's log, and
#     nvidia-smi's compute apps list the server with its memory)
#  (1b, said, not counted: the vLLM release the plan picks for this driver, and the check a new vLLM
#     venv must pass run on this GPU with the image's vLLM where it has one; no vLLM venv is installed)
# Exit 0 only when 1, 2 and 4 held. Budget: ~8 minutes on 16 cores (the CUDA build is most of it).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 2
export OUT=${OUT:-build/gpu-acceptance}
PY=${PY:-python3}  # the Python the kit's wheels go into (another with llmhost's deps: SKIP_PIP=1)
KIT=${KIT:-build/gpu-kit}
JOBS=${JOBS:-$(nproc)}
DEADLINE=$((SECONDS + ${BUDGET_S:-540}))
mkdir -p "$OUT"
exec > >(tee -a "$OUT/run.log") 2>&1
ok=1
step() { echo "[$(date -u +%T) +${SECONDS}s] $*" | tee -a "$OUT/summary.txt"; }
fail() { step "FAIL: $*"; ok=0; }
left() { echo $((DEADLINE - SECONDS)); }
within() { local t=$(( $(left) - $1 )); echo $(( t > 30 ? t : 30 )); }  # a timeout that leaves $1 s, 30 s at least

step "machine: $(. /etc/os-release && echo "$PRETTY_NAME"); kernel $(uname -r); $(nproc) cores; $(free -g | awk '/Mem:/{print $2}') GiB; python3 $(python3 -V 2>&1)"
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || fail "nvidia-smi did not run"
step "gpus: $(nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version --format=csv,noheader 2>&1 | tr '\n' ';')"
step "toolkits: $(ls -d /usr/local/cuda* 2>&1 | tr '\n' ' '); nvcc on PATH: $(command -v nvcc || echo none)"
for pkg in cmake g++ make curl ca-certificates tmux python3-venv "python3.$(python3 -c 'import sys; print(sys.version_info[1])')-venv"; do
  dpkg -s "$pkg" >/dev/null 2>&1 && have+=" $pkg" || missing+=" $pkg"
done
step "debian packages present:${have:-} | missing:${missing:-}"

# The image may carry its toolkit somewhere NVIDIA's packages would not (a bare /usr/local/cuda, pip's
# nvidia-cuda-nvcc): lay it out as /usr/local/cuda-X.Y (what the CudaToolkits fact reads), said here.
if ! ls -d /usr/local/cuda-[0-9]* >/dev/null 2>&1; then
  nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2>/dev/null || true)
  if [ -n "$nvcc" ]; then
    ver=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\.[0-9]*\).*/\1/p')
    root=$(dirname "$(dirname "$(readlink -f "$nvcc")")")
    mkdir -p "/usr/local/cuda-$ver" && for f in "$root"/*; do ln -sfn "$f" "/usr/local/cuda-$ver/"; done
    step "toolkit $ver of $root laid out as /usr/local/cuda-$ver (links) for the CudaToolkits fact"
  fi
fi

# llmhost and pyinfra into the image's Python (its console scripts beside python3, as `llmhost plan` expects)
[ -n "${SKIP_PIP:-}" ] || "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade "$KIT"/wheels/*.whl \
  > "$OUT/pip.log" 2>&1 || fail "the kit's wheels did not install ($OUT/pip.log)"
export PYTHONPATH=$PWD
LLMHOST=("$PY" -c 'import sys; from llmhost.cli import main; sys.exit(main())')

# 1. facts and plans
"${LLMHOST[@]}" plan scripts/gpu-acceptance/inventory.py > "$OUT/plan.txt" 2>&1 || fail "plan: $(tail -1 "$OUT/plan.txt")"
"${LLMHOST[@]}" plan scripts/gpu-acceptance/inventory.py --json > "$OUT/plan.json" 2> "$OUT/plan.err"
step "plan: $(grep -c . "$OUT/plan.txt") lines; $(grep -m1 'llama-server built with' "$OUT/plan.txt" | sed 's/ from .*//')"
"${LLMHOST[@]}" plan scripts/gpu-acceptance/plan-only.py > "$OUT/plan-only.txt" 2>&1 \
  && step "plan of two real models: ok ($OUT/plan-only.txt)" || step "plan of two real models refused: $(tail -1 "$OUT/plan-only.txt")"
"${LLMHOST[@]}" plan scripts/gpu-acceptance/refuse-72b.py > "$OUT/refuse-72b.txt" 2>&1 \
  && fail "a 72B in bf16 on this machine was planned ($OUT/refuse-72b.txt)" || step "72B refused: $(tail -1 "$OUT/refuse-72b.txt")"

# 1b. the vLLM GPU path, as far as this machine allows. The release the plan picks for this driver
# (the driver kept: the newest vLLM it runs), then the check a new vLLM venv must pass, run on the
# real GPU with a Python that has vLLM where the image has one (VLLM_PY, default the image's python3):
# the pinned wheels (10 GB with their CUDA libraries) cannot travel here and no index answers, so
# no vLLM venv is installed; what ran is said.
step "vllm release: $(grep -h -m1 -o 'vllm [0-9][0-9.]*[^;]*: the driver[^;]*runs CUDA [0-9.]*' "$OUT/plan-only.txt" "$OUT/plan.txt" | head -1 | cut -c1-300)"
"${LLMHOST[@]}" plan scripts/gpu-acceptance/plan-only.py --json > "$OUT/plan-only.json" 2> "$OUT/plan-only.err"
VLLM_PY=${VLLM_PY:-python3}
if "$VLLM_PY" -c 'import vllm' > /dev/null 2>&1; then
  "$PY" scripts/gpu-acceptance/vllm_check.py "$OUT/plan-only.json" "$VLLM_PY" > "$OUT/vllm-check.txt" 2>&1
  step "vllm-check on this GPU: exit $? ($(tr '\n' ' ' < "$OUT/vllm-check.txt" | cut -c1-700))"
else
  step "vllm-check: not run: no vLLM in $VLLM_PY (the pinned wheels cannot be carried here; tests/upstream/test_gpu_contract.py runs the same check in them without a GPU)"
fi
step "driver verdict of the image's torch: $(python3 -c 'import torch; print(torch.version.cuda, torch.cuda.is_available())' 2>&1 | tail -1)"

# The plan's engine directory and flags, from the same planner the deploy runs
read -r ENGINE_DIR FLAGS < <("$PY" scripts/gpu-acceptance/planned_build.py "$OUT/plan.txt")
step "engine directory: $ENGINE_DIR; flags: $FLAGS"

# 2. the build, with the plan's flags (the operation llamacpp.built does the same from the pinned
# archive; the kit carries a pruned copy of its llama.cpp: the archive, 76 MB, is over the carry limit)
# The build runs in a session of its own (setsid) and outlives this script: on a machine lent for
# minutes a run cut short by its budget leaves it going, and the next run waits for it (RESUMED).
build_state=/tmp/llmhost-gpu-build
if [ -x "$ENGINE_DIR/bin/llama-server" ] && [ -z "${REBUILD:-}" ]; then
  step "built before: $ENGINE_DIR/bin/llama-server (REBUILD=1 builds again)"
elif [ "$ENGINE_DIR" != "-" ]; then
  if [ -f $build_state/pid ] && kill -0 "$(cat $build_state/pid)" 2>/dev/null; then
    step "RESUMED: the build started by an earlier run is still going; waiting for it"
  elif [ "$(cat $build_state/rc 2>/dev/null)" = 0 ] && [ -x "$ENGINE_DIR/build/bin/llama-server" ]; then
    step "RESUMED: the build started by an earlier run has finished"
  else
    src=/tmp/llama-src; rm -rf "$src" "$ENGINE_DIR/build" $build_state; mkdir -p "$src" "$ENGINE_DIR/bin" $build_state
    touch "$ENGINE_DIR/.llmhost-build"
    tar -xzf "$KIT"/llama.cpp-*-pruned.tar.gz -C "$src"
    date +%s > $build_state/started
    # shellcheck disable=SC2086
    setsid bash -c "cmake -S '$src/llama.cpp' -B '$ENGINE_DIR/build' $FLAGS > $build_state/configure.log 2>&1 \
      && cmake --build '$ENGINE_DIR/build' --target llama-server llama-quantize -j $JOBS > $build_state/build.log 2>&1; \
      echo \$? > $build_state/rc" < /dev/null > /dev/null 2>&1 &
    echo $! > $build_state/pid
  fi
  while [ ! -f $build_state/rc ] && [ "$(left)" -gt 90 ]; do sleep 5; done
  cp $build_state/*.log "$OUT/" 2>/dev/null
  took=$(( $(date +%s) - $(cat $build_state/started) ))
  if [ ! -f $build_state/rc ]; then
    fail "build still running after $took s ($(tail -1 $build_state/build.log 2>/dev/null | cut -c1-120)): run again to go on"
    exit 3
  elif [ "$(cat $build_state/rc)" = 0 ]; then
    install -m 755 "$ENGINE_DIR/build/bin/llama-server" "$ENGINE_DIR/build/bin/llama-quantize" "$ENGINE_DIR/bin/"
    step "built llama-server with the plan's flags in $took s ($JOBS jobs): $("$ENGINE_DIR/bin/llama-server" --version 2>&1 | tr '\n' ' ' | cut -c1-300)"
  else
    fail "build: $(grep -m3 -i 'error' $build_state/configure.log $build_state/build.log | tr '\n' ' ' | cut -c1-600) (after $took s)"
    tail -40 $build_state/build.log $build_state/configure.log 2>/dev/null
  fi
fi

# 3. the real layers over that build
served=0
# An image whose cmake is not Debian's (pip's, say) fails the system layer offline ("Unable to locate
# package cmake"). REGISTER_CMAKE=1 declares that cmake to dpkg as equivs does (an empty package
# "cmake" of its version), so the rest of the layers can run; said in the summary.
if [ -n "${REGISTER_CMAKE:-}" ] && ! dpkg -s cmake >/dev/null 2>&1 && command -v cmake >/dev/null; then
  v=$(cmake --version | sed -n 's/cmake version \([0-9.]*\).*/\1/p'); d=/tmp/cmake-local
  mkdir -p $d/DEBIAN && printf 'Package: cmake\nVersion: %s-local\nArchitecture: all\nMaintainer: llmhost <root@localhost>\nDescription: cmake %s at %s (not from a package)\n' \
    "$v" "$v" "$(command -v cmake)" > $d/DEBIAN/control
  dpkg-deb -b $d /tmp/cmake-local.deb >/dev/null && dpkg -i /tmp/cmake-local.deb >/dev/null \
    && step "cmake $v at $(command -v cmake) registered with dpkg (an empty package, REGISTER_CMAKE=1)"
fi
if [ -x "$ENGINE_DIR/bin/llama-server" ]; then
  t0=$SECONDS
  if [ -n "${MANUAL:-}" ]; then
    step "serve deploy skipped (MANUAL=1)"
  elif timeout "$(within 60)" "$PY" -m pyinfra -y scripts/gpu-acceptance/inventory.py deploys/serve.py > "$OUT/serve.log" 2>&1; then
    step "serve deploy: ok in $((SECONDS - t0)) s: $(grep 'Grand total' "$OUT/serve.log" | tr -s ' ')"
    served=1
    t0=$SECONDS
    "$PY" -m pyinfra -y scripts/gpu-acceptance/inventory.py deploys/serve.py > "$OUT/serve-again.log" 2>&1
    step "serve deploy again in $((SECONDS - t0)) s: $(grep 'Grand total' "$OUT/serve-again.log" | tr -s ' ') (hosts, success, error, no change)"
    "${LLMHOST[@]}" status scripts/gpu-acceptance/inventory.py > "$OUT/status.txt" 2>&1
    step "llmhost status: exit $? ($(grep -m1 tiny-gguf "$OUT/status.txt" | tr -s ' ' | cut -c1-200))"
  else
    step "serve deploy failed in $((SECONDS - t0)) s: $(grep -E 'pyinfra error|llmhost' "$OUT/serve.log" | tail -2 | tr '\n' ' ' | cut -c1-500)"
  fi
  if [ "$served" = 0 ]; then  # by hand: the plan's argv and environment, model where the plan reads it
    ENGINE_DIR=$ENGINE_DIR "$PY" - > "$OUT/manual.sh" <<'EOF'
import json, os, shlex
plan = json.load(open(os.environ["OUT"] + "/plan.json"))["@local"]["services"]["tiny-gguf"]
argv = [a.replace("/opt/llmhost/venvs/llamacpp-current", os.environ["ENGINE_DIR"]) for a in plan["argv"]]
model = next(a for a in argv if a.endswith(".gguf"))
print(f"mkdir -p {shlex.quote(os.path.dirname(model))} && cp build/models/tiny-qwen2-gguf/*.gguf {shlex.quote(os.path.dirname(model))}/")
print("exec env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in plan["env"].items()) + " " + shlex.join(argv))
EOF
    setsid bash "$OUT/manual.sh" > "$OUT/llama-server.log" 2>&1 &
    step "started by hand: $(tail -1 "$OUT/manual.sh" | cut -c1-400)"
  fi
fi

# 4. it serves, on the GPU
port=8001
for _ in $(seq 1 60); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 1; done
if curl -sf "http://127.0.0.1:$port/health" >/dev/null; then
  t0=$SECONDS
  curl -s -m 60 "http://127.0.0.1:$port/v1/chat/completions" -H 'Content-Type: application/json' \
    -d '{"model": "tiny-gguf", "messages": [{"role": "user", "content": "Hello"}], "max_tokens": 64}' > "$OUT/chat.json"
  step "chat: $("$PY" -c 'import json,sys; r=json.load(open(sys.argv[1])); t=r.get("timings",{}); print(r["usage"], "decode", round(t.get("predicted_per_second",0)), "tok/s")' "$OUT/chat.json" 2>&1)"
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv,noheader > "$OUT/compute-apps.txt" 2>&1
  step "compute apps: $(tr '\n' ';' < "$OUT/compute-apps.txt")"
  grep -q llama-server "$OUT/compute-apps.txt" || fail "llama-server is not among nvidia-smi's compute apps"
  logs=$([ "$served" = 1 ] && echo /opt/llmhost/logs/tiny-gguf.log || echo "$OUT/llama-server.log")
  cp /opt/llmhost/logs/tiny-gguf.log "$OUT/" 2>/dev/null
  offload=$(grep -h -m1 -o 'offloaded [0-9]*/[0-9]* layers to GPU' $logs 2>/dev/null | head -1)
  step "llama.cpp: ${offload:-no offload line found in: $logs}; $(grep -h -m1 -o 'CUDA0 model buffer size = *[0-9.]* MiB' $logs 2>/dev/null | head -1)"
  # llama.cpp logs the offload at its info level; where a build keeps it back, nvidia-smi above is the proof
  [ -z "$offload" ] || echo "$offload" | awk -F'[ /]' '{exit !($2 == $3 && $2 > 0)}' || fail "not every layer on the GPU: $offload"
  grep -q 'no usable GPU found' $logs 2>/dev/null && fail "llama-server found no usable GPU"
  step "llama-server --list-devices: $("$ENGINE_DIR/bin/llama-server" --list-devices 2>&1 | grep -v '^$' | tail -3 | tr '\n' ';')"
else
  fail "the service did not answer /health on :$port"
  tail -30 "$OUT/llama-server.log" "$OUT/serve.log" 2>/dev/null
fi
step "torch sees: $(python3 -c 'import torch; print(torch.cuda.get_device_name(0), torch.cuda.get_device_capability(0), torch.version.cuda)' 2>&1 | tail -1)"
[ "$ok" = 1 ] && step "GPU ACCEPTANCE: PASS" || step "GPU ACCEPTANCE: FAIL"
[ "$ok" = 1 ]
