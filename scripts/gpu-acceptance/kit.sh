#!/usr/bin/env bash
# Makes build/gpu-kit, what scripts/gpu-acceptance/run.sh needs on a GPU machine that reaches no
# index: llmhost's controller dependencies as wheels for that machine's Python (PYVER, default 3.12;
# numpy left out: the GPU machine's PyTorch image has it), the llama.cpp of the pinned source
# archive (engines.py LLAMACPP_SOURCE, checked by its sha256) without its test models and docs
# (~12 MB instead of 76: it must travel), and the tiny model with its GGUF. ~50 MB in all.
set -euo pipefail
cd "$(dirname "$0")/../.."
KIT=build/gpu-kit
PYVER=${PYVER:-3.12}
BIN=.venv/bin
[ -x $BIN/llmhost ] || make -s .venv/.installed
mkdir -p $KIT/wheels

# the controller's pins (pyproject), but not what only `llmhost tiny-model` and `bench` use
reqs=$($BIN/python - <<'PY'
import tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
skip = ("numpy", "safetensors", "tokenizers", "sentencepiece", "matplotlib")
print(" ".join(d.split("#")[0].strip() for d in deps if not d.startswith(skip)))
PY
)
plats=""
for p in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_26 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux_2_5 manylinux1; do
  plats+=" --platform ${p}_x86_64"
done
# shellcheck disable=SC2086
$BIN/python -m pip download -q -d $KIT/wheels --only-binary=:all: --python-version "$PYVER" --implementation cp $plats $reqs
rm -f $KIT/wheels/numpy-*

# llama.cpp: the pinned archive (the wheelhouse's copy if there is one), checked, unpacked, pruned
read -r filename sha subdir url < <($BIN/python -c 'from llmhost.engines import LLAMACPP_SOURCE as s; print(s.filename, s.sha256, s.subdir, s.url())')
archive=build/wheelhouse/$filename
[ -f "$archive" ] || { mkdir -p build/wheelhouse; curl -fsSL -o "$archive" "$url"; }
echo "$sha  $archive" | sha256sum -c --quiet
tmp=$(mktemp -d)
tar -xzf "$archive" -C "$tmp" "$subdir"
mv "$tmp/$subdir" "$tmp/llama.cpp"
rm -rf "$tmp/llama.cpp/docs" "$tmp/llama.cpp/benches" "$tmp/llama.cpp/tests" "$tmp"/llama.cpp/models/*.gguf*
tar -czf "$KIT/llama.cpp-$(basename "$filename" .tar.gz | sed 's/.*-//')-pruned.tar.gz" -C "$tmp" llama.cpp
rm -rf "$tmp"

# the tiny model and its GGUF (what scripts/gpu-acceptance/inventory.py serves)
[ -f build/models/tiny-qwen2-gguf/tiny-qwen2-f32.gguf ] || $BIN/llmhost tiny-model build/models/tiny-qwen2 --gguf build/models/tiny-qwen2-gguf
du -sh $KIT build/models/tiny-qwen2-gguf
