#!/usr/bin/env bash
# Every check that needs a CUDA GPU, as one script for a lent GPU machine (README, "On a GPU").
#
#   bash benchmarks/gpu_check.sh OUT          # on the GPU machine: figures and logs into OUT
#   bash benchmarks/gpu_check.sh OUT --dry    # the same steps on the CPU, tiny sizes (minutes)
#   bash benchmarks/gpu_check.sh OUT "" tolerance,grading   # only the steps named
#
# Each step has its own time limit and log (in $LOGS, default /tmp/gpu_check_logs); a step that
# fails or runs out of time does not stop the next. OUT/summary.txt holds each step's command,
# exit status, time and the end of its output; the figures go to OUT as JSON (six files in all,
# so that the device tool brings every one back). The steps, most important first:
#   tolerance   float32 errors on the device against the grader's tolerances
#   pytest      the tests that skip without CUDA
#   compare     chapter 9's protocol (3 epochs, 3 seeds, batch 16) at the classic input sizes
#   grading     one class graded with --device cpu and --device cuda: identical scores, GPU memory
#   train       images/s of d2l's trainer beside the course's loop, d2l's recipes
# Before the steps, where a folder .whl of wheels is present (packages the machine lacks:
# nbgrader, Jupyter, d2l), they are installed into the running Python, and the repository is
# put on its path.
set -u
OUT=${1:?usage: gpu_check.sh OUT [--dry] [STEP,STEP...]}
DRY=${2:-}
ONLY=${3:-tolerance,pytest,compare,grading,train}
REPO=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
LOGS=${LOGS:-/tmp/gpu_check_logs}
mkdir -p "$OUT" "$LOGS"
cd "$REPO" || exit 1
export PYTHONUNBUFFERED=1

step() {  # step NAME LIMIT_SECONDS COMMAND...
  local name=$1 limit=$2 start rc
  shift 2
  [[ ",$ONLY," == *",$name,"* ]] || return 0
  echo "== $name (limit ${limit} s): $*" >>"$OUT/summary.txt"
  start=$(date +%s)
  timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  echo "== $name: exit $rc after $(($(date +%s) - start)) s" >>"$OUT/summary.txt"
  tail -n 40 "$LOGS/$name.log" >>"$OUT/summary.txt"
  echo >>"$OUT/summary.txt"
}

if [ -d .whl ] && [ -z "$DRY" ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir .whl/*.whl >"$OUT/install.log" 2>&1
  echo "$REPO" >"$("$PY" -c 'import site; print(site.getsitepackages()[0])')/course-repo.pth"
fi
if [ -d .gpu/fashion-mnist-sample ]; then
  export FASHION_MNIST_DIR="$REPO/.gpu/fashion-mnist-sample"
fi

{
  date -u +%FT%TZ
  nvidia-smi -L 2>&1
  "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__,
"| cuda", torch.version.cuda, "|", torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")'
  nproc
} >"$OUT/summary.txt" 2>&1

if [ -z "$DRY" ]; then
  DEV=cuda
  step tolerance 60 "$PY" benchmarks/cuda_tolerance.py --device cuda --json "$OUT/tolerance.json"
  step pytest 120 "$PY" -m pytest -q -p no:cacheprovider -o addopts= tests/test_data.py tests/test_check.py
  step compare 200 "$PY" benchmarks/compare_networks.py --networks classic --device cuda \
    --out "$OUT/compare_networks_gpu.json"
  step grading 330 "$PY" benchmarks/device_grading.py --students 7 --jobs 12 --json "$OUT/grading.json"
  step train 150 "$PY" benchmarks/train_networks.py --device cuda --epochs 2
else
  DEV=cpu
  step tolerance 60 "$PY" benchmarks/cuda_tolerance.py --device cpu --json "$OUT/tolerance.json"
  step pytest 120 "$PY" -m pytest -q -p no:cacheprovider -o addopts= tests/test_data.py -k cuda
  step compare 300 "$PY" benchmarks/compare_networks.py --networks classic --smoke --out "$OUT/compare_networks_gpu.json"
  step grading 300 "$PY" benchmarks/device_grading.py --students 2 --device cpu --jobs 3 ch01 \
    --json "$OUT/grading.json"
  step train 300 "$PY" benchmarks/train_networks.py --smoke --networks lenet
fi
[ -f "$LOGS/train.log" ] && cp "$LOGS/train.log" "$OUT/train.log"
echo "device $DEV; done $(date -u +%FT%TZ)" >>"$OUT/summary.txt"
