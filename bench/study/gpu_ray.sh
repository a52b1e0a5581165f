#!/usr/bin/env bash
# For the integrator, on a GPU machine (16 cores, one GPU): the demo on Ray with 1 worker and
# with 8 workers sharing the GPU (each GPU step asks for 1/8 of it), plus Ray's per-step
# dispatch cost. A few minutes on an H200. Works from a fresh checkout with torch preinstalled.
#   bash bench/study/gpu_ray.sh      -> bench/study/results-gpu.json
set -euo pipefail
cd "$(dirname "$0")/../.."
python -m pip install -q -c constraints.txt -e ".[ray,minilm]"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; print(torch.cuda.get_device_name(0))"
timeout 1200 python bench/study/bench_executors.py --runs ray:1,ray:8 --device cuda \
    --out bench/study/results-gpu.json
cat bench/study/results-gpu.json
