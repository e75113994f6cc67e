#!/usr/bin/env bash
# Follows the log of a pytest-podnet flow (flow.sh) from ONE exec (flows.follow): prints its
# lines as the flow writes them, so the reader sees every call the moment it ends.
#   bash -c "$(cat follow.sh)" podnet-follow LOG AFTER MILLISECONDS
# AFTER: skip the first AFTER lines (-1: every line already written, so only calls from now on);
# MILLISECONDS: stop after that long. Stops earlier at the flow's end line ("@@flow-end SEQ", printed
# too), or as soon as the reader has gone: it waits on its stdin, which the reader keeps open (an
# exec with stdin) until it stops reading.
set -u
LOG=$1 AFTER=$2 MILLISECONDS=$3
# The time in microseconds, into NOW (a function that sets a variable: $(now) would fork a
# subshell, ~0.6 ms of CPU, twenty times a second).
now() { NOW=${EPOCHREALTIME/./}; NOW=${NOW#0}; }
# Waits on stdin: its end means the reader has gone.
pause() { local rc=0; read -rt "$1" _ || rc=$?; [ "$rc" != 1 ] || exit 0; }
now; began=$NOW
limit=$(( MILLISECONDS * 1000 ))
until [ -e "$LOG" ]; do
  now; [ $(( NOW - began )) -ge "$limit" ] && exit 0
  pause 0.05
done
exec 3<"$LOG"
seen=0 partial='' line=''
if [ "$AFTER" -lt 0 ]; then
  # Every complete line now; one still being written is completed below and printed.
  while IFS= read -r line <&3; do seen=$((seen + 1)); done
  AFTER=$seen partial=$line line=''
fi
while :; do
  # A line the flow is still writing is read in parts: the part before its end is kept.
  while IFS= read -r line <&3; do
    line=$partial$line partial=''
    seen=$((seen + 1))
    [ "$seen" -le "$AFTER" ] && continue
    printf '%s\n' "$line"
    case $line in @@flow-end*) exit 0;; esac
  done
  partial=$partial$line line=''
  now; [ $(( NOW - began )) -ge "$limit" ] && exit 0
  pause 0.05
done
