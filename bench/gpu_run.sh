#!/usr/bin/env bash
# The GPU check of "Training that teaches" in one call of the device tool (bench/gpu_step.py:
# one SFT and one DPO step of a ~1B model in bf16, tokens/s and MFU). Here, once:
#   bash bench/gpu_wheels.sh
# then run `bash bench/gpu_run.sh` there with `.whl` carried. The JSON lands in $OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target /tmp/site .
export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv
python3 -m bench.gpu_step --size 1b | tee "${OUT:-/tmp}/gpu_step.json"
