#!/usr/bin/env bash
# Sharded LSH under mpirun: `mpirun -np P lowdim lsh build|query` against the single-process index.
#   cli_lsh_mpi.sh LOWDIM MPIEXEC PYTHON P         P = 1: the ids are the single-process ids, bit for bit;
#                                                  any P: recall vs exact k-NN >= the single index's - 0.02,
#                                                  global ids (exact duplicates found on every rank's rows),
#                                                  distances those of the returned ids, only rank 0 prints,
#                                                  loading with another rank count is a clear error
#   cli_lsh_mpi.sh LOWDIM MPIEXEC PYTHON failures  a NaN on the last rank only: every rank stops, no index
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
x = rng.standard_normal((3000, 24)).astype(np.float32)
np.save("base.npy", x)
q = (x[rng.integers(0, 3000, 100)] + 0.5 * rng.standard_normal((100, 24))).astype(np.float32)
dup = [0, 999, 1000, 1499, 1500, 2000, 2250, 2999]   # exact copies of rows on every rank (P <= 4)
q[:len(dup)] = x[dup]
np.save("q.npy", q)
np.save("dup.npy", np.array(dup))
bad = x.copy(); bad[2990, 7] = np.nan               # in the last rank's rows for any P <= 4
np.save("bad.npy", bad)
PY
flags=(--tables 6 --hashes 12 --seed 3)

if [ "$mode" != failures ]; then
  p=$mode
  "$lowdim" lsh build --input base.npy --index one.lsh "${flags[@]}" > /dev/null
  "$lowdim" lsh query --index one.lsh --queries q.npy --k 10 --output one.npy --distances one_d.npy > /dev/null
  run $p "$lowdim" lsh build --input base.npy --index many "${flags[@]}" > build.txt
  [ "$(grep -c '^built' build.txt)" = 1 ] || fail "build: not exactly one rank printed: $(cat build.txt)"
  grep -q "distributed: $p rank" build.txt || fail "build does not say how the rows were split: $(cat build.txt)"
  grep -q "^ranks $p$" many/layout.txt || fail "layout.txt does not record $p ranks: $(cat many/layout.txt)"
  run $p "$lowdim" lsh query --index many --queries q.npy --k 10 --output many.npy --distances many_d.npy \
    --json stats.json > query.txt
  [ "$(grep -c 'queries in' query.txt)" = 1 ] || fail "query: not exactly one rank printed: $(cat query.txt)"
  "$python" - "$p" <<'PY' || fail "sharded LSH on $p ranks"
import json, sys
import numpy as np
p = int(sys.argv[1])
x, q = np.load("base.npy").astype(np.float64), np.load("q.npy").astype(np.float64)
d2 = ((q[:, None, :] - x[None]) ** 2).sum(-1)
truth = np.argsort(d2, axis=1, kind="stable")[:, :10]
ids, dist, one = np.load("many.npy"), np.load("many_d.npy"), np.load("one.npy")
recall = lambda got: np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, truth)])
r_one, r_many = recall(one), recall(ids)
print(f"{p} ranks: recall@10 {r_many:.3f}, single index {r_one:.3f}")
ok = True
if p == 1 and not np.array_equal(ids, one):
    print("1 rank: ids differ from the single-process index"); ok = False
if r_many < r_one - 0.02:
    print("recall below the single index's - 0.02"); ok = False
if ids.min() < 0 or ids.max() >= len(x):
    print("ids out of range"); ok = False
dup = np.load("dup.npy")
if not np.array_equal(ids[:len(dup), 0], dup) or np.any(dist[:len(dup), 0] != 0):
    print("exact duplicates not found at their global ids:", ids[:len(dup), 0], dup); ok = False
want = np.sqrt(np.take_along_axis(d2, ids, axis=1))
if np.max(np.abs(want - dist) / np.maximum(want, 1e-3)) > 1e-4:
    print("distances are not those of the returned ids"); ok = False
if np.any(np.diff(dist, axis=1) < 0):
    print("distances not ascending"); ok = False
s = json.load(open("stats.json"))
if s["ranks"] != p or len(s["per_query"]) != len(q) or s["mean"]["probes"] < 6 * p:
    print("stats.json:", s["ranks"], len(s["per_query"]), s["mean"]["probes"]); ok = False
sys.exit(0 if ok else 1)
PY
  # another rank count: a clear error, printed once, status 2
  other=$((p % 3 + 1))
  set +e
  run $other "$lowdim" lsh query --index many --queries q.npy --k 10 --output no.npy 2> err.txt; status=$?
  set -e
  [ $status = 2 ] && grep -q "built on $p rank.*this run has $other: run it with mpirun -np $p" err.txt ||
    fail "index of $p ranks loaded on $other: status $status, $(cat err.txt)"
  [ "$(grep -c 'lowdim:' err.txt)" = 1 ] || fail "the error was printed more than once: $(cat err.txt)"
  [ ! -e no.npy ] || fail "a failed query wrote its output"
  echo "ok: lsh on $p ranks"
  exit 0
fi

# --- failures ---------------------------------------------------------------------------------
set +e
run 3 "$lowdim" lsh build --input bad.npy --index out "${flags[@]}" 2> err.txt; status=$?
set -e
[ $status = 2 ] || fail "NaN on rank 2: status $status, not 2: $(cat err.txt)"
grep -q "rank 2: lsh build: bad.npy: non-finite value nan at row 2990, column 7" err.txt || fail "NaN message: $(cat err.txt)"
[ ! -e out/layout.txt ] || fail "a failed build left a loadable index"
# a query that fails on every rank (wrong dimension): status 2, once, no output
run 2 "$lowdim" lsh build --input base.npy --index many "${flags[@]}" > /dev/null
"$python" -c "import numpy as np; np.save('q5.npy', np.zeros((3, 5), np.float32))"
set +e
run 2 "$lowdim" lsh query --index many --queries q5.npy --k 3 --output no.npy 2> err.txt; status=$?
set -e
[ $status = 2 ] && [ "$(grep -c 'lowdim:' err.txt)" = 1 ] && [ ! -e no.npy ] || fail "bad queries: $status $(cat err.txt)"
# not distributed: refused with a message
set +e
run 2 "$lowdim" lsh build --input base.npy --index t --target-recall 0.9 2> err.txt; status=$?
set -e
[ $status = 1 ] && grep -q "not distributed" err.txt || fail "--target-recall under MPI: $status $(cat err.txt)"
echo "ok: lsh failures"
