#!/usr/bin/env bash
# The distributed CLI: `mpirun -np P lowdim CMD ...` against the single-process `lowdim CMD ...`.
#   cli_mpi.sh LOWDIM MPIEXEC PYTHON P          outputs of project, whiten fit/apply, pca (bit-identical
#                                               to one process) and svd (bit-identical to P = 1);
#                                               the split is reported in --json
#   cli_mpi.sh LOWDIM MPIEXEC PYTHON failures   a NaN on the last rank only, an unwritable output,
#                                               a rank killed mid-run: a clear error, no hang, no output
set -euo pipefail
lowdim=$1 mpiexec=$2 python=$3 mode=$4
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
export OMPI_MCA_btl_vader_single_copy_mechanism=none
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cd "$dir"
run() { timeout 120 "$mpiexec" --oversubscribe -np "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

"$python" - <<'PY'
import numpy as np
rng = np.random.default_rng(1)
x = (rng.standard_normal((3000, 24)) * np.linspace(1, 5, 24) + 1e3).astype(np.float32)
np.save("x32.npy", x)
np.save("x64.npy", x.astype(np.float64))
bad = x.copy(); bad[2990, 7] = np.nan          # in the last rank's rows for any P <= 4
np.save("bad.npy", bad)
PY

if [ "$mode" != failures ]; then
  p=$mode
  # project: each rank's rows are the single-process rows (float32 and float64, two kinds)
  for f in x32 x64; do
    for kind in gaussian srht; do
      "$lowdim" project --input $f.npy --output one.npy --k 7 --kind $kind --seed 5
      run $p "$lowdim" project --input $f.npy --output many.npy --k 7 --kind $kind --seed 5 --json > project.json
      cmp one.npy many.npy || fail "project $f $kind on $p ranks differs from one process"
    done
  done
  grep -q "\"ranks\": $p" project.json || fail "project --json does not report $p ranks: $(cat project.json)"
  # one file per rank: their rows, in order, are the single-process output
  run $p "$lowdim" project --input x64.npy --output part.npy --k 7 --kind srht --seed 5 --per-rank-output --quiet
  "$python" -c "
import numpy as np, sys
parts = [np.load('part.rank%d.npy' % r) for r in range($p)]
sys.exit(0 if np.array_equal(np.concatenate(parts), np.load('one.npy')) else 1)" || fail "per-rank outputs differ"
  # whiten fit: the model file is byte-identical (blocks of 512 rows; of 2000: ranks without rows when p > 1)
  for block in 512 2000; do
    "$lowdim" whiten fit -i x32.npy -m one.model --block-rows $block --quiet
    run $p "$lowdim" whiten fit -i x32.npy -m many.model --block-rows $block --json > fit.json
    cmp one.model many.model || fail "whiten fit (blocks of $block) on $p ranks differs from one process"
  done
  grep -q '"rows_per_rank": \[' fit.json || fail "whiten fit --json has no rows_per_rank: $(cat fit.json)"
  "$lowdim" whiten apply -m one.model -i x64.npy -o one.npy --quiet
  run $p "$lowdim" whiten apply -m one.model -i x64.npy -o many.npy --quiet
  cmp one.npy many.npy || fail "whiten apply on $p ranks differs from one process"
  # pca: projected data and components byte-identical
  "$lowdim" pca -i x64.npy --k 5 -o one.npy --components one_c.npy --block-rows 400 --quiet
  run $p "$lowdim" pca -i x64.npy --k 5 -o many.npy --components many_c.npy --block-rows 400 > pca.txt
  cmp one.npy many.npy && cmp one_c.npy many_c.npy || fail "pca on $p ranks differs from one process"
  grep -q "distributed: $p rank" pca.txt || fail "pca does not say how the rows were split: $(cat pca.txt)"
  [ "$(grep -c 'pca (exact)' pca.txt)" = 1 ] || fail "more than one rank printed: $(cat pca.txt)"
  # svd: bit-identical to the 1-rank run, close to the single-process rsvd
  run 1 "$lowdim" svd -i x64.npy --rank 4 -q 3 --seed 2 -o one --block-rows 256 --quiet
  run $p "$lowdim" svd -i x64.npy --rank 4 -q 3 --seed 2 -o many --block-rows 256 --quiet
  for f in U S Vt; do cmp one_$f.npy many_$f.npy || fail "svd $f on $p ranks differs from 1 rank"; done
  "$lowdim" svd -i x64.npy --rank 4 -q 3 --seed 2 -o single --method rsvd --quiet
  "$python" -c "
import numpy as np, sys
a, b = np.load('one_S.npy'), np.load('single_S.npy')
sys.exit(0 if np.max(np.abs(a - b) / b) < 1e-10 else 1)" || fail "svd singular values differ from lowdim svd --method rsvd"
  # jl: the figures are the single-process ones (the projections are dealt over the ranks)
  "$lowdim" jl --input x32.npy --kinds gaussian,srht,sparse --k 4,8,16 --pairs 400 --target 0.5 --eps 0.3 --json > one.json
  run $p "$lowdim" jl --input x32.npy --kinds gaussian,srht,sparse --k 4,8,16 --pairs 400 --target 0.5 --eps 0.3 --json > many.json
  "$python" -c "
import json, sys
a, b = json.load(open('one.json')), json.load(open('many.json'))
same = all(a[key] == b[key] for key in ('results', 'smallest_k', 'pairs', 'min_dim_bound'))
sys.exit(0 if same and b['ranks'] == $p else 1)" || fail "jl on $p ranks differs from one process"
  # a method that is not distributed is refused, by rank 0 alone
  set +e
  run $p "$lowdim" svd -i x64.npy --rank 4 --method krylov -o no 2> err.txt; status=$?
  set -e
  [ $status = 2 ] && grep -q "only --method rsvd is distributed" err.txt || fail "krylov under MPI: status $status, $(cat err.txt)"
  [ "$(grep -c 'lowdim:' err.txt)" = 1 ] || fail "the error was printed more than once: $(cat err.txt)"
  echo "ok: $p ranks"
  exit 0
fi

# --- failures ---------------------------------------------------------------------------------
# A NaN in the last rank's rows only: every rank stops, rank 0 prints that rank's message.
set +e
run 3 "$lowdim" project --input bad.npy --output out.npy --k 4 2> err.txt; status=$?
set -e
[ $status = 2 ] || fail "NaN on rank 2: status $status, not 2: $(cat err.txt)"
grep -q "rank 2: project: bad.npy: non-finite value nan at row 2990, column 7" err.txt || fail "NaN message: $(cat err.txt)"
[ ! -e out.npy ] || fail "NaN on rank 2 left out.npy"
set +e
run 4 "$lowdim" whiten fit -i bad.npy -m out.model --block-rows 256 2> err.txt; status=$?
set -e
[ $status = 2 ] && grep -q "rank 3: moments: non-finite value nan at row 2990, column 7" err.txt || fail "whiten NaN: $status $(cat err.txt)"
[ ! -e out.model ] || fail "whiten fit left a model"
# An output that cannot be written: an I/O error (status 3), nothing left behind.
set +e
run 2 "$lowdim" project --input x32.npy --output missing/out.npy --k 4 2> err.txt; status=$?
set -e
[ $status = 3 ] && grep -q "rank 0:" err.txt || fail "unwritable output: status $status, $(cat err.txt)"
# A rank killed mid-run: mpirun ends every rank (no hang) with a failure, and no output appears.
"$python" -c "
import numpy as np
np.save('big.npy', np.random.default_rng(2).standard_normal((20000, 200)))"
"$mpiexec" --oversubscribe -np 3 "$lowdim" svd -i big.npy --rank 40 -q 200 -o killed --quiet > /dev/null 2> err.txt &
launcher=$!
ranks=""
for _ in $(seq 1 100); do
  ranks=$(pgrep -P $launcher || true)
  [ "$(echo "$ranks" | wc -w)" -ge 3 ] && break
  sleep 0.1
done
[ "$(echo "$ranks" | wc -w)" -ge 3 ] || fail "the 3 ranks did not start"
sleep 1
kill -9 $(echo "$ranks" | tail -1)
start=$SECONDS
set +e
wait $launcher; status=$?
set -e
[ $status != 0 ] || fail "a killed rank: mpirun exited 0"
[ $((SECONDS - start)) -lt 60 ] || fail "a killed rank: the others took $((SECONDS - start)) s to stop"
ls killed_* > /dev/null 2>&1 && fail "a killed rank left output files: $(ls killed_*)"
echo "ok: failures (killed rank: mpirun status $status after $((SECONDS - start)) s)"
