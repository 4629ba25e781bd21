#!/usr/bin/env bash
# make bench: every C++ benchmark program, then every peer comparison.
# Results (JSON) go to benchmarks/results/. Ratios come from one run: each peer
# script times our code and the peer on the same data, in the same process tree.
set -euo pipefail
build=${1:-build-bench}
here=$(cd "$(dirname "$0")" && pwd)
results="$here/results"
mkdir -p "$results"
# Peers and lowdim run under the same OpenBLAS settings (whatever this machine sets).
echo "OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset} OPENBLAS_L2_SIZE=${OPENBLAS_L2_SIZE:-unset}; $(nproc) cores"
status=0
for script in "$here"/peers/*.py; do
  [ "$(basename "$script")" = common.py ] && continue
  echo
  echo "== $(basename "$script" .py) =="
  /usr/bin/python3 "$script" "$build" || { echo "peer comparison $(basename "$script") failed"; status=1; }
done
exit $status
