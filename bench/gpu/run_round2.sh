#!/usr/bin/env bash
# Round 2's GPU checks and timings in one call of the device tool (one H200, 16 cores, no network):
#   bash bench/gpu/run_round2.sh          results and logs -> $OUT
# It expects, in the untracked folder .device/ (carried by the tool, not committed):
#   whl/          wheels the image lacks (conllu, pydantic + core, highspy, tomli_w, plotly,
#                 jsonschema + its needs for Ray)
#   ray/ray-slim.tar.xz   Ray 2.60 for Python 3.12 without its Java jars, RLlib, Data, Serve, Tune,
#                 Train (the whole wheel, 79 MB, is over the tool's 64 MiB transfer limit)
#   minilm-arch/  all-MiniLM-L6-v2's config and tokenizer, no weights: its weights do not fit beside
#                 Ray, so the model is built here with random weights of the same architecture.
#                 Timings and CPU-vs-GPU agreement do not depend on the weights' values.
#   data/         ud_english_ewt (for the fine-tuning throughput)
# Each part has its own time limit, so one that hangs does not take the others with it.
set -u
OUT=${OUT:-/tmp/ftprobe-gpu-out}; mkdir -p "$OUT"
LOG="$OUT/run.log"
exec > >(tee -a "$LOG") 2>&1
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
stamp() { echo "=== $1 $(date +%T) (+$(( $(date +%s) - start )) s)"; }

stamp setup
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .device/whl/*.whl >/dev/null 2>&1 || echo "wheel install failed"
tar -xJf .device/ray/ray-slim.tar.xz -C /tmp/site 2>/dev/null || echo "ray unpack failed"
export PYTHONPATH=$PWD/src:$PWD:/tmp/site
export PATH=/tmp/site/bin:$PATH
MODEL=/tmp/minilm
python3 - <<'EOF'
import shutil
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel

src, dst = Path(".device/minilm-arch"), Path("/tmp/minilm")
torch.manual_seed(0)
model = AutoModel.from_config(AutoConfig.from_pretrained(src))
model.save_pretrained(dst, safe_serialization=True)
for f in src.iterdir():
    if f.is_file() and f.name not in ("config.json", "model.safetensors"):
        shutil.copy(f, dst / f.name)
print("random-weight MiniLM architecture at", dst)
EOF
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, peft, ray, plotly; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__, 'ray', ray.__version__, 'cpus', __import__('os').cpu_count())"

stamp tests
# the CUDA tests (CPU answers against CUDA ones) and the new stages' tests with CUDA visible
timeout 130 python3 -m pytest -q -p no:cacheprovider -n 8 tests/gpu tests/finetune/test_methods.py \
    tests/represent/test_families.py tests/compare 2>&1 | tee "$OUT/pytest_gpu.txt" | tail -12

stamp directprobe-nearest
timeout 70 python3 bench/directprobe/gpu_measures.py 2>&1 | tail -25
cp bench/directprobe/gpu_measures.json "$OUT/directprobe_nearest_gpu.json" 2>/dev/null

stamp compare-measures
timeout 120 python3 bench/compare/gpu_measures.py --n 200000 --out "$OUT/compare_gpu.json" 2>&1 | tail -30

stamp finetune-methods
FTPROBE_BENCH_EWT=$PWD/.device/data/ud_english_ewt timeout 110 python3 bench/finetune/bench_methods.py \
    --model $MODEL --tp-train-sentences 2048 --repeats 2 --rec-steps 200 --rec-every 50 \
    --rec-probe-sentences 500 --threads 8 --out "$OUT/methods_gpu.json" 2>&1 | grep -v -i warn | tail -20

stamp ray
sed "s|^name = \"minilm\".*|name = \"minilm\"\npath = \"$MODEL\"|" bench/study/demo-small.toml > /tmp/demo-small-gpu.toml
timeout 110 python3 bench/study/bench_executors.py --config /tmp/demo-small-gpu.toml --runs ray:1,ray:8 \
    --device cuda --noop-steps 60 --out "$OUT/ray_gpu.json" 2>&1 | tail -20
stamp done
