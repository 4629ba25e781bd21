#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time: tests/fuzz/run.sh BUILD_DIR SECONDS_PER_TARGET
# Seeds are written fresh by lowdim_io_fixtures; the corpus grows in
# BUILD_DIR/fuzz-corpus/<target> across runs; crashes land in BUILD_DIR/fuzz-artifacts.
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR SECONDS_PER_TARGET}
seconds=${2:?usage: run.sh BUILD_DIR SECONDS_PER_TARGET}
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

failed=()
for target in npy idx idx_gz fvecs ivecs archive; do
  corpus="$build/fuzz-corpus/$target"
  mkdir -p "$corpus"
  echo "== fuzz_$target: ${seconds}s"
  # A reader must never allocate what a header merely claims. The largest honest
  # allocation for a 64 KiB input is a gzip stream at the 1032:1 deflate bound read
  # as double (~540 MB), so a single malloc above 1 GB is a finding.
  if ! "$bin/fuzz_$target" -max_total_time="$seconds" -max_len=65536 -timeout=20 -rss_limit_mb=2048 \
      -malloc_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$build/fuzz-artifacts/$target-" \
      "$corpus" "$seeds/$target" 2>"$build/fuzz-artifacts/$target.log"; then
    failed+=("$target")
    tail -40 "$build/fuzz-artifacts/$target.log"
  else
    grep -E "stat::number_of_executed_units|cov:" "$build/fuzz-artifacts/$target.log" | tail -2
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (inputs in $build/fuzz-artifacts)"
  exit 1
fi
echo "fuzzing: no findings in ${seconds}s per target"
