#!/usr/bin/env bash
# The progress bar of long commands: drawn on stderr when it is a terminal (a pseudo-terminal
# from `script`), cleared at the end so tmux's final screen shows only the command's output,
# absent on a pipe and with --quiet.  usage: cli_progress.sh LOWDIM DATA WORKDIR
set -euo pipefail
cli=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

# Small inputs for the lsh commands: 10000 x 16 (a projection of the data).
"$cli" project --input "$data" --output "$work/p16.npy" --k 16 --quiet > /dev/null

# "bar|args": a bar with a percentage (Progress), or "activity|args": the moving bar with the
# elapsed time of one opaque step (Activity).
commands=(
  "bar|project --input $data --output $work/p.npy --k 64"
  "bar|jl --input $data --kinds gaussian --k 16,32 --pairs 200 --target 0"
  "bar|attention bench --d 16 --features 16 --lengths 64,128 --repeats 1"
  "activity|lsh build --input $work/p16.npy --index $work/i.lsh --tables 8"
  "bar|lsh eval --base $work/p16.npy --queries $work/p16.npy --tables 8 --probe-list 8,16,32"
)
any_bar='\[[#.]{30}\] '  # either kind of bar
for entry in "${commands[@]}"; do
  kind=${entry%%|*} args=${entry#*|}
  name=$(awk '{ print ($1 == "lsh" || $1 == "attention") ? $1 "_" $2 : $1 }' <<< "$args")
  if [ "$kind" = bar ]; then drawn='\[#*\.*\] *[0-9]*%'; else drawn='\[\.*#+\.*\] +[0-9]+\.[0-9] s'; fi
  # 1. On a terminal: the bar is drawn ("[###...] 100%") and then erased with a carriage return.
  script -qfec "$cli $args" "$work/$name.tty" > /dev/null || fail "$name failed on a terminal"
  grep -aEq "$drawn" "$work/$name.tty" || fail "$name drew no progress bar on a terminal"
  # 2. With --quiet: no bar.
  script -qfec "$cli $args --quiet" "$work/$name.quiet" > /dev/null || fail "$name --quiet failed"
  ! grep -aEq "$any_bar" "$work/$name.quiet" || fail "$name --quiet drew a progress bar"
  # 3. On a pipe: nothing on stderr.
  $cli $args 2> "$work/$name.err" | cat > /dev/null
  [ ! -s "$work/$name.err" ] || fail "$name wrote to stderr on a pipe: $(cat "$work/$name.err")"
  # 4. The terminal's final screen (tmux): the command's output and no remnant of the bar.
  session="lowdim-progress-$$-$name"
  tmux -L "$session" new-session -d -s "$session" -x 160 -y 50 "$cli $args; echo EXIT=\$?; sleep 60"
  for _ in $(seq 1 600); do
    screen=$(tmux -L "$session" capture-pane -p -t "$session" 2>/dev/null || true)
    grep -q '^EXIT=' <<< "$screen" && break
    sleep 0.1
  done
  tmux -L "$session" kill-server 2>/dev/null || true
  grep -q '^EXIT=0' <<< "$screen" || fail "$name did not finish with status 0 under tmux: $screen"
  if grep -Eq "$any_bar" <<< "$screen"; then fail "$name left its progress bar on the screen: $screen"; fi
  echo "$name: bar drawn on a terminal, erased at the end, absent with --quiet and on a pipe"
done
