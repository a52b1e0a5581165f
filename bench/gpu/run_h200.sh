#!/usr/bin/env bash
# The GPU checks and benchmarks, run on a lent H200 machine through the device tool:
#   bash bench/gpu/run_h200.sh tests extract probes finetune   (parts in order; results -> $OUT)
# It expects, in the untracked folder .device/ (carried by the tool, not committed):
#   whl/            wheels the machine's image lacks (conllu, pydantic, highspy, tomli_w, ...)
#   minilm16/       all-MiniLM-L6-v2 with fp16 weights (bench/gpu/cast_model.py; cast back here)
#   data/ud_english_ewt/   EWT .conllu(.gz) files
# Each part has its own time limit, so one that hangs does not take the others with it.
set -u
OUT=${OUT:-/tmp/ftprobe-gpu-out}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .device/whl/*.whl >/dev/null 2>&1 || echo "wheel install failed"
export PYTHONPATH=$PWD/src:/tmp/site
MODEL=/tmp/minilm
[ -f $MODEL/model.safetensors ] || python3 bench/gpu/cast_model.py .device/minilm16 $MODEL --dtype float32
DATA=$PWD/.device/data
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, transformers, sklearn; print('torch', torch.__version__, 'transformers', transformers.__version__, 'sklearn', sklearn.__version__, 'cpus', __import__('os').cpu_count())"

for part in "$@"; do
  echo "=== $part $(date +%T)"
  case $part in
    tests)
      timeout 300 python3 -m pytest -q -p no:cacheprovider tests/gpu tests/probe/test_classifier.py \
        tests/represent 2>&1 | tee "$OUT/pytest_gpu.txt" | tail -15 ;;
    suite)
      # the whole default suite with CUDA visible (device auto -> cuda) on this image's own
      # torch/transformers, 8 workers
      OMP_NUM_THREADS=2 timeout 300 python3 -m pytest -q -p no:cacheprovider -n 8 -m "not slow" \
        tests 2>&1 | tee "$OUT/pytest_suite.txt" | tail -25 ;;
    extract)
      timeout 240 python3 bench/extract/bench_extract.py --model $MODEL --device cuda \
        --data $DATA/ud_english_ewt --repeats 5 --memory-sizes "" --out "$OUT/extract_cuda.json"
      timeout 120 python3 bench/extract/bench_extract.py --model $MODEL --device cuda --batch-size 128 \
        --data $DATA/ud_english_ewt --repeats 5 --memory-sizes "" --out "$OUT/extract_cuda_b128.json"
      timeout 120 python3 bench/gpu/profile_extract.py --model $MODEL --data $DATA/ud_english_ewt \
        2>&1 | grep -v Warn > "$OUT/extract_profile.txt"; head -60 "$OUT/extract_profile.txt" ;;
    probes)
      timeout 420 python3 bench/probes/bench_probes.py --model $MODEL --extract-device cuda \
        --device cuda --data $DATA --store /tmp/store --vectors-dir /nonexistent \
        --n-train 2000 --n-dev 500 --threads 1 --also-grid --sklearn-jobs 7 \
        --out "$OUT/probes_cuda.json" 2>&1 | grep -v Warning ;;
    probes_large)
      timeout 420 python3 bench/probes/bench_probes.py --model $MODEL --extract-device cuda \
        --device cuda --data $DATA --store /tmp/store --vectors-dir /nonexistent \
        --n-train ${N_LARGE:-20000} --n-dev 2000 --threads 1 --skip-sklearn --also-grid \
        --out "$OUT/probes_cuda_large.json" 2>&1 | grep -v Warning ;;
    finetune)
      FTPROBE_BENCH_EWT=$DATA/ud_english_ewt timeout 300 python3 bench/finetune/bench.py \
        --model $MODEL --part throughput --tp-train-sentences 4096 --repeats 3 \
        --out "$OUT/finetune_cuda.json" 2>&1 | grep -v Warning | tail -8 ;;
    probes5k)
      timeout 540 python3 bench/probes/bench_probes.py --model $MODEL --extract-device cuda \
        --device cuda --data $DATA --store /tmp/store --vectors-dir /nonexistent \
        --n-train 5000 --n-dev 500 --threads 1 --also-grid --sklearn-jobs 7 \
        --out "$OUT/probes_cuda_5k.json" 2>&1 | grep -v -E "Warning|batch/s" ;;
    sklearn_spread)
      # scikit-learn against itself: the same 5k protocol with other seeds (init and validation
      # slice), two offsets side by side (7 processes each)
      for off in 1000 2000; do
        timeout 540 python3 bench/probes/bench_probes.py --model $MODEL --extract-device cuda \
          --data $DATA --store /tmp/store$off --vectors-dir /nonexistent --n-train 5000 --n-dev 500 \
          --threads 1 --only-sklearn --sklearn-jobs 7 --sklearn-seed-offset $off \
          --out "$OUT/sklearn_5k_offset$off.json" > "$OUT/sklearn_$off.log" 2>&1 &
      done
      wait; tail -3 "$OUT"/sklearn_*.log ;;
    study)
      # the README's demo study, on this GPU (device auto -> cuda), with the carried model
      python3 -m ftprobe.cli.main demo --write-config /tmp/demo.toml >/dev/null
      sed -i 's|^name = "minilm".*|name = "minilm"\npath = "/tmp/minilm"|' /tmp/demo.toml
      start=$(date +%s)
      timeout 400 python3 -m ftprobe.cli.main study /tmp/demo.toml \
        --output /tmp/demo-gpu --no-progress > "$OUT/study_log.txt" 2>&1
      echo "study exit $? after $(( $(date +%s) - start )) s"
      tail -5 "$OUT/study_log.txt"; cp /tmp/demo-gpu/results.json "$OUT/study_results.json" ;;
    *) echo "unknown part $part" ;;
  esac
done
echo "=== done $(date +%T)"
