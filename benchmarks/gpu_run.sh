#!/usr/bin/env bash
# The whole GPU check in one go, for a machine with a CUDA GPU and the project
# installed: the CUDA tests, then the device benchmark at both MINE sizes.
# Results go to $OUT (default: benchmarks/results). Each step is bounded so
# that one slow step leaves time for the rest.
set -u
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${OUT:-$root/benchmarks/results}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
cd "$root"  # python -m benchmarks.bench_device runs from the repository root
nvidia-smi > "$out/nvidia_smi.txt" 2>&1
timeout 240 python -m pytest -q -rs tests/test_device.py tests/test_persistence.py \
    > "$out/cuda_tests.txt" 2>&1
echo "cuda tests: rc $?" | tee -a "$out/cuda_tests.txt"
timeout 150 python -m benchmarks.bench_device --device cuda --sizes default \
    --batches 256,1024,4096,16384 --out "$out/bench_device_default.json" \
    > "$out/bench_device_default.txt" 2>&1
echo "bench_device default: rc $?"
timeout 240 python -m benchmarks.bench_device --device cuda --sizes reference \
    --batches 256,1024,4096,16384 --repeats 1 --out "$out/bench_device_reference.json" \
    > "$out/bench_device_reference.txt" 2>&1
echo "bench_device reference: rc $?"
tail -n 5 "$out"/bench_device_*.txt
