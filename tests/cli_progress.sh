#!/usr/bin/env bash
# The progress bar of long commands: drawn on stderr when it is a terminal (a pseudo-terminal
# from `script`), cleared at the end so tmux's final screen shows only the command's output,
# absent on a pipe and with --quiet.  usage: cli_progress.sh LOWDIM DATA WORKDIR
set -euo pipefail
cli=$1 data=$2 work=$3
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*"; exit 1; }

commands=(
  "project --input $data --output $work/p.npy --k 64"
  "jl --input $data --kinds gaussian --k 16,32 --pairs 200 --target 0"
)
for args in "${commands[@]}"; do
  name=${args%% *}
  # 1. On a terminal: the bar is drawn ("[###...] 100%") and then erased with a carriage return.
  script -qfec "$cli $args" "$work/$name.tty" > /dev/null || fail "$name failed on a terminal"
  grep -aq '\[#*\.*\] *[0-9]*%' "$work/$name.tty" || fail "$name drew no progress bar on a terminal"
  # 2. With --quiet: no bar.
  script -qfec "$cli $args --quiet" "$work/$name.quiet" > /dev/null || fail "$name --quiet failed"
  ! grep -aq '\[#*\.*\] *[0-9]*%' "$work/$name.quiet" || fail "$name --quiet drew a progress bar"
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
  if grep -q '\[#*\.*\] *[0-9]*%' <<< "$screen"; then fail "$name left its progress bar on the screen: $screen"; fi
  echo "$name: bar drawn on a terminal, erased at the end, absent with --quiet and on a pipe"
done
