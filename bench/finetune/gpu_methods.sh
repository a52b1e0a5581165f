#!/usr/bin/env bash
# Fine-tuning methods on a GPU (issue 26), a few minutes on an H200:
#   1. the methods / model families / recorder tests with CUDA visible (fine-tuning on cuda, bf16);
#   2. LoRA and full fine-tuning throughput against PEFT + Trainer (4,096 EWT sentences, 3 repeats);
#   3. the probe recorder's overhead: 200 steps, recording 500 dev sentences every 50 steps.
# Same setup as bench/gpu/run_h200.sh: the untracked .device/ (carried by the device tool) holds
#   whl/  wheels the image lacks (as there, plus peft-0.21.2-py3-none-any.whl),
#   minilm16/  all-MiniLM-L6-v2 in fp16 (bench/gpu/cast_model.py), data/ud_english_ewt/.
# From a checkout where the packages are installed already, set MODEL and DATA instead:
#   MODEL=/path/to/minilm DATA=../shared/data bash bench/finetune/gpu_methods.sh
# Results -> $OUT (methods_cuda.json, pytest_methods.txt); read the ratios (goals: >= 0.9x, < 5 %).
set -u
OUT=${OUT:-/tmp/ftprobe-gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
if [ -d .device/whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target /tmp/site .device/whl/*.whl >/dev/null 2>&1 || echo "wheel install failed"
  export PYTHONPATH=$PWD/src:/tmp/site
else
  export PYTHONPATH=$PWD/src:${PYTHONPATH:-}
fi
if [ -z "${MODEL:-}" ]; then
  MODEL=/tmp/minilm
  [ -f $MODEL/model.safetensors ] || python3 bench/gpu/cast_model.py .device/minilm16 $MODEL --dtype float32
fi
DATA=${DATA:-$PWD/.device/data}
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import torch, transformers, peft; print('torch', torch.__version__, 'transformers', transformers.__version__, 'peft', peft.__version__)"

echo "=== tests $(date +%T)"
timeout 240 python3 -m pytest -q -p no:cacheprovider tests/finetune/test_methods.py \
  tests/finetune/test_recorder.py tests/finetune/test_families_finetune.py tests/represent/test_families.py \
  2>&1 | tee "$OUT/pytest_methods.txt" | tail -15

echo "=== bench $(date +%T)"
FTPROBE_BENCH_EWT=$DATA/ud_english_ewt timeout 420 python3 bench/finetune/bench_methods.py --model $MODEL \
  --tp-train-sentences 4096 --repeats 3 --rec-steps 200 --rec-every 50 --rec-probe-sentences 500 \
  --threads 8 --out "$OUT/methods_cuda.json" 2>&1 | grep -v -i warn | grep -E "^(lora|full|recorder|\{)" | tail -20
echo "=== done $(date +%T)"
