#!/usr/bin/env bash
# Issue 12: every CUDA path of `cnntool bench` once, in one call of the device tool.
#
#   run(command="bash bench/gpu_session.sh", timeout_s=540)        # on the lent GPU machine
#   DEVICE=cpu QUICK=1 bash bench/gpu_session.sh                   # the same script, rehearsed on CPU
#
# The GPU machine reaches no package index: it has torch, torchvision, typer, rich, pyyaml and pytest
# in its python3, so cnntool is installed from the working tree with --no-deps --no-index.
# Everything it measures lands under $OUT (at most 8 files come back): log.txt plus seven JSON files.
set -uo pipefail
OUT="${OUT:-out/gpu}"
DEVICE="${DEVICE:-cuda}"
QUICK="${QUICK:-}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 MPLBACKEND=Agg
exec > >(tee "$OUT/log.txt") 2>&1

if [ -n "$QUICK" ]; then   # a CPU rehearsal: tiny batches and budgets, same commands
    BATCHES=1,2; BIG=2; OOM=1,2; BUDGET="--budget 0.5 --repeats 5 --warmup 1 --warmup-time 0"
else
    BATCHES=1,32,256; BIG=256; OOM=256,1024,4096,16384; BUDGET=""
fi
PY=python3
step() { echo; echo "=== $* ($(date -u +%T))"; }

step environment
$PY -m pip install -q --no-deps --no-build-isolation --no-index -e . || export PYTHONPATH="$PWD"
$PY -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__,
'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'gpu',
torch.cuda.get_device_name(0) if torch.cuda.is_available() else None)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,power.limit --format=csv

step "CUDA tests (those that skip on CPU)"
timeout 240 $PY -m pytest -q -p no:cacheprovider tests/bench/test_bench_runner.py -k cuda -rs

bench() {  # bench NAME ARGS...: one configuration, JSON into $OUT/NAME.json, a one-line summary
    local name=$1; shift
    step "bench $name: $*"
    timeout 300 $PY -m cnntool bench resnet50 --device "$DEVICE" --format json $BUDGET "$@" >"$OUT/$name.json"
    echo "exit $?"
    $PY - "$OUT/$name.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit(f"no JSON: {e}")
for row in r.get("rows", []):
    t, l = row.get("throughput") or {}, row.get("latency") or {}
    ms = lambda s: None if s is None else round(s * 1e3, 3)
    print("batch", row.get("batch"), row.get("status"), row.get("message") or "",
          "img/s", t.get("median_img_s"), "IQR/median", t.get("iqr_rel"),
          "p50/p99 ms", ms(l.get("p50_s")), ms(l.get("p99_s")), "TFLOP/s", row.get("tflops"),
          "MFU", row.get("mfu"), "peak", (row.get("memory") or {}).get("peak_allocated_bytes"))
EOF
}
bench fp32 --batch "$BATCHES" --dtype fp32
bench tf32 --batch "$BATCHES" --dtype tf32
bench bf16_cl --batch "$BATCHES" --dtype bf16 --channels-last
bench bf16_cl_compile --batch "$BIG" --dtype bf16 --channels-last --compile default
bench per_layer --batch "$BIG" --dtype bf16 --channels-last --per-layer
bench oom_sweep --batch "$OOM" --dtype fp32 --no-check

step "harness overhead: cnntool bench vs a plain inference_mode loop with CUDA events (resnet50)"
if [ -n "$QUICK" ]; then
    timeout 200 $PY bench/bench_harness_overhead.py --model resnet50 --device "$DEVICE" --batch 2 \
        --dtype bf16 --channels-last --rounds 2 --iters 1 --repeats 2 --threads 1
else
    timeout 200 $PY bench/bench_harness_overhead.py --model resnet50 --device "$DEVICE" --batch 256 \
        --dtype bf16 --channels-last --rounds 6 --iters 20 --repeats 5 --warmup 10
fi
step done
