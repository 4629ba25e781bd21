#!/usr/bin/env bash
# make bench: every C++ benchmark program, then every peer comparison.
# Results (JSON) go to benchmarks/results/. Ratios come from one run: each peer
# script times our code and the peer on the same data, in the same process tree.
set -euo pipefail
build=${1:-build-bench}
here=$(cd "$(dirname "$0")" && pwd)
results="$here/results"
mkdir -p "$results"
# Peers and lowdim alike run on OpenBLAS's native kernels: some machines set
# OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, which hold it (and NumPy) below them. Tests and CI
# leave both as the machine sets them; benchmarks do not.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
echo "CPU: $(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(nproc) cores"
"$build/lowdim" info || true
status=0
for script in "$here"/peers/*.py; do
  [ "$(basename "$script")" = common.py ] && continue
  echo
  echo "== $(basename "$script" .py) =="
  /usr/bin/python3 "$script" "$build" || { echo "peer comparison $(basename "$script") failed"; status=1; }
done
exit $status
