#!/usr/bin/env bash
# Runs every libFuzzer target, bounded: tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET [RUNS_PER_TARGET]
# Each target stops after RUNS executions (default: unbounded) or SECONDS, whichever comes first.
# Seeds are written fresh by lowdim_io_fixtures; the corpus grows in
# BUILD_DIR/fuzz-corpus/<target> across runs; crashes land in BUILD_DIR/fuzz-artifacts.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS_PER_TARGET}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS_PER_TARGET [RUNS_PER_TARGET]}
runs=${3:--1}
bin="$build/tests/fuzz"
seeds="$build/fuzz-seeds"
rm -rf "$seeds" && mkdir -p "$seeds" "$build/fuzz-artifacts"
"$bin/lowdim_io_fixtures" "$seeds/all" >/dev/null

seed() {  # seed TARGET [PREFIX_BYTE] FILES...
  local target=$1 prefix=$2; shift 2
  mkdir -p "$seeds/$target"
  for f in "$@"; do
    [ -f "$f" ] || continue
    if [ -n "$prefix" ]; then
      { printf "\\x$prefix"; cat "$f"; } >"$seeds/$target/${prefix}_$(basename "$f")"
    else
      cp "$f" "$seeds/$target/"
    fi
  done
}
shopt -s nullglob
a="$seeds/all"
seed npy "" "$a"/*.npy
seed idx "" "$a"/*-ubyte
seed idx_gz 00 "$a"/*-ubyte
seed idx_gz 01 "$a"/*-ubyte.gz
seed fvecs "" "$a"/*.fvecs
seed ivecs "" "$a"/*.ivecs
seed archive 01 "$a"/*.ldm
# The archive's content alone (after the 20-byte prelude, before the CRC), for mode 0.
for f in "$a"/*.ldm; do
  size=$(stat -c %s "$f")
  { printf '\x00'; tail -c +21 "$f" | head -c $((size - 24)); } >"$seeds/archive/00_$(basename "$f")"
done

# Models: each saved model as a whole file (mode = its loader) and as content alone (mode + 8).
byte() { printf "\\x$(printf %02x "$1")"; }  # byte N: one byte of value N
content() {  # content FILE: the archive after its 20-byte prelude, before the CRC
  local size; size=$(stat -c %s "$1")
  tail -c +21 "$1" | head -c $((size - 24))
}
mkdir -p "$seeds/models"
for pair in 0:rp 1:whitening 2:pca 3:lsh 4:lsh; do
  mode=${pair%%:*} name=${pair#*:}
  f="$a/models_$name.ldm"
  { byte "$mode"; cat "$f"; } >"$seeds/models/${mode}_$name"
  { byte $((mode + 8)); content "$f"; } >"$seeds/models/$((mode + 8))_$name"
done

# Inputs are written to files (the readers take paths): in memory (/dev/shm) when it exists,
# which makes a run about 4x faster than a disk-backed /tmp.
scratch_base=/dev/shm; [ -d "$scratch_base" ] && [ -w "$scratch_base" ] || scratch_base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$scratch_base/lowdim-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

run_target() {  # run_target TARGET: one bounded run; the log keeps the findings and the stats
  local target=$1 corpus="$build/fuzz-corpus/$1"
  mkdir -p "$corpus"
  # A reader must never allocate what a header merely claims. The largest honest
  # allocation for a 64 KiB input is a gzip stream at the 1032:1 deflate bound read
  # as double (~540 MB), so a single malloc above 1 GB is a finding.
  TMPDIR="$scratch" "$bin/fuzz_$target" -max_total_time="$seconds" -runs="$runs" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" \
      "$corpus" "$seeds/$target" 2>"$build/fuzz-artifacts/$target.log"
}

# As many targets at once as there are processors (each fuzzer is single-threaded).
targets=(npy idx idx_gz fvecs ivecs archive models)
parallel=$(nproc)
echo "fuzzing ${#targets[@]} targets, each until $( [ "$runs" -ge 0 ] && echo "$runs executions or " )${seconds}s, $parallel at a time"
declare -A pids
for target in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
  run_target "$target" &
  pids[$target]=$!
done
failed=()
for target in "${targets[@]}"; do
  if ! wait "${pids[$target]}"; then
    failed+=("$target")
    echo "== fuzz_$target: FINDING"
    tail -40 "$build/fuzz-artifacts/$target.log"
  else
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$build/fuzz-artifacts/$target.log")
    cov=$(grep -o 'cov: [0-9]*' "$build/fuzz-artifacts/$target.log" | tail -1)
    echo "== fuzz_$target: $execs executions, $cov, no findings"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $build/fuzz-artifacts)"
  exit 1
fi
echo "fuzzing: no findings"
