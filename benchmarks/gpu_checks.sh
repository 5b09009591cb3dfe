#!/usr/bin/env bash
# The cuda paths on a GPU host, in one go: the GPU tests, then the benchmarks that have a cuda
# side. Every step has its own time limit, so one slow step does not take the others with it;
# each step's output goes to $OUT/<step>.log (default folder: gpu-checks/).
#
#   PYTHON=.venv/bin/python bash benchmarks/gpu_checks.sh
#
# Steps (about 8 minutes on one H100 with 2 threads for the jobs' CPU work):
#   pytest     tests/test_cuda.py: GPU fits equal CPU fits, epochs never wait for the GPU
#   mlp        benchmarks/mlp_throughput.py at THINGS-MEG1's real size (22,248 × 250 → 76,151)
#   decoder    benchmarks/decoder_throughput.py at one BOLD5000 subject's size (4,803 × 20,484
#              × 4 TRs → 1536)
#   scale      benchmarks/scale.py --device cuda: fit_mlp, fit_shared, evaluate_unseen at small
#              fractions (the job as the workflow runs it: host peak, GPU peak, time)
#   features   benchmarks/features.py on cuda, then on the host's CPU threads
set -u
PY=${PYTHON:-python3}
OUT=${OUT:-gpu-checks}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1

step() {  # step NAME SECONDS COMMAND...: run with a time limit, log, and say how it ended
    local name=$1 limit=$2
    shift 2
    local began=$SECONDS
    echo "=== $name (limit ${limit} s): $*"
    timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
    local rc=$?
    tail -n "${TAIL:-25}" "$OUT/$name.log"
    echo "=== $name: rc $rc in $((SECONDS - began)) s"
}

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
"$PY" -c "import torch, numpy; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'numpy', numpy.__version__, torch.cuda.get_device_name(0))"

step pytest 120 "$PY" -m pytest tests/test_cuda.py -q -p no:cacheprovider -o addopts="-ra"
step mlp 90 "$PY" benchmarks/mlp_throughput.py --device cuda --samples 22248 --targets 76151
step decoder 120 "$PY" benchmarks/decoder_throughput.py --device cuda
TMPS=$(mktemp -d)
step scale-mlp 100 env OMP_NUM_THREADS=2 "$PY" benchmarks/scale.py --device cuda --full never \
    --rule fit_mlp --fractions 0.015625 0.0625 --tmp "$TMPS" --json "$OUT/scale-mlp.json"
step scale-shared 150 env OMP_NUM_THREADS=2 "$PY" benchmarks/scale.py --device cuda \
    --full never --rule fit_shared evaluate_unseen --fractions 0.015625 --tmp "$TMPS" \
    --json "$OUT/scale-shared.json"
step features-cuda 50 "$PY" benchmarks/features.py --device cuda --threads 8 --images 512
step features-cpu 50 "$PY" benchmarks/features.py --device cpu --threads 16 --repeats 1
rm -rf "$TMPS"
