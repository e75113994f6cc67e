#!/usr/bin/env bash
# The probe batch of pytest-podnet, run by ONE exec in the source Pod (probes.run_probes):
#   bash -c "$(cat probe.sh)" podnet-probe T A C P W R G  INDEX PROTO IP PORT REQUEST  ...
# T: seconds per attempt (curl --max-time, nc -w; a UDP reply ends the attempt at once);
# A: attempts while the answer is inconclusive;
# C: seconds to keep calling an unreachable target (0: no convergence); P: probes at once;
# W: seconds to wait before the first call;
# R: seconds to keep running the batch again (0: once), G seconds after each batch ends.
# Prints one line per probe, and after each batch (round) a line of its own:
#   @@podnet INDEX ATTEMPTS EXIT-CODE ELAPSED-MICROSECONDS OUTPUT-WITH-NEWLINES-FLATTENED
#   @@podnet-batch ROUND
# Inconclusive answers are retried here, in the Pod, so a batch stays one exec; a wrong answer
# is an answer and is never retried. Repeated batches (a wait for a dataplane to follow a
# change) stop after R seconds, or as soon as the reader has gone: between two batches the script
# waits on its stdin, which the reader keeps open (an exec with stdin) until it stops reading.
set -u
T=$1 A=$2 C=$3 P=$4 W=$5 R=$6 G=$7; shift 7
D=/tmp/podnet; [ -d "$D" ] && [ -w "$D" ] || D=${TMPDIR:-/tmp}
# The time in microseconds, into NOW (a function that sets a variable: $(now) would fork).
now() { NOW=${EPOCHREALTIME/./}; NOW=${NOW#0}; }
pause() { read -rt "$1" _ <> <(:) || :; }
[ "$W" = 0 ] || pause "$W"
inconclusive() {  # proto rc output
  if [ "$1" = http ]; then
    # curl exit codes that say the exchange broke half-way, not that the target refused or is
    # silent: 16 HTTP/2 framing, 18 partial file, 52 empty reply, 55 send failure, 56 receive
    # failure (reset). An exit 0 with an empty body is inconclusive too.
    case $2 in 16|18|52|55|56) return 0;; 0) [ -z "$3" ]; return;; esac
    return 1
  fi
  [ "$2" = 0 ] && [ -z "$3" ]
}
# While converging, the first attempts give up early: a SYN or datagram sent before the dataplane
# knows the target is dropped, and waiting for the kernel's retransmit (1 s) or nc's -w would set
# how fast a check converges. Attempt k waits CONNECT[k] s for the TCP connection (nc: -w in whole
# seconds, UDP[k]); later attempts, and every attempt outside convergence, wait the full T, so a
# path that is merely slow still answers.
CONNECT=(0.25 0.5 1) UDP=(1 1)
probe() {  # index proto ip port request
  local start attempt=0 out rc host began err="$D/.probe-$$-$1" line limit
  now; start=$NOW
  while :; do
    attempt=$((attempt + 1))
    now; began=$NOW
    if [ "$2" = http ]; then
      case $3 in *:*) host="[$3]";; *) host=$3;; esac
      limit=$T
      [ "$C" != 0 ] && [ "$attempt" -le ${#CONNECT[@]} ] && limit=${CONNECT[attempt - 1]}
      out=$(curl -sS -v -g --connect-timeout "$limit" --max-time "$T" "http://$host:$4/$5" \
        2>"$err"); rc=$?
      if [ "$rc" != 0 ]; then
        out=""
        while IFS= read -r line; do
          case $line in "* "*|curl:*) out="$out${out:+ | }${line#\* }";; esac
        done < "$err"
      fi
    else
      # -W 1: end at the first reply datagram (without it nc waits out -w even after the
      # answer: 3 s per UDP probe). OpenBSD nc ends at once, silently, when ICMP says port or
      # host unreachable; a target that stays silent keeps it waiting the full -w timeout.
      limit=$T
      [ "$C" != 0 ] && [ "$attempt" -le ${#UDP[@]} ] && limit=${UDP[attempt - 1]}
      out=$(printf '%s\n' "$5" | nc -u -W 1 -w "$limit" "$3" "$4" 2>&1); rc=$?
      if [ "$rc" = 0 ] && [ -z "$out" ] \
         && now && [ $(( NOW - began )) -lt $(( limit * 1000000 - 500000 )) ]; then
        rc=111; out="nc: connection refused (ended at once without a reply: ICMP unreachable)"
      fi
    fi
    if [ "$C" != 0 ]; then
      { [ "$rc" = 0 ] && [ -n "$out" ]; } && break
      now; [ $(( NOW - start )) -ge $(( C * 1000000 )) ] && break
      pause 0.2
    else
      inconclusive "$2" "$rc" "$out" || break
      [ "$attempt" -ge "$A" ] && break
    fi
  done
  out=${out//$'\r'/}
  now
  printf '%s %s %s %s %s %s\n' "@@podnet" "$1" "$attempt" "$rc" $(( NOW - start )) \
    "${out//$'\n'/ | }"
}
batch() {  # the probes, P at a time
  local running=0
  while [ $# -ge 5 ]; do
    probe "$1" "$2" "$3" "$4" "$5" &
    shift 5
    running=$((running + 1))
    if [ "$running" -ge "$P" ]; then wait -n; running=$((running - 1)); fi
  done
  wait
}
now; began=$NOW round=0
while :; do
  round=$((round + 1))
  batch "$@"
  printf '%s %s\n' "@@podnet-batch" "$round"
  now; [ $(( NOW - began )) -ge $(( R * 1000000 )) ] && break
  rc=0; read -rt "$G" _ || rc=$?
  [ "$rc" = 1 ] && break  # end of stdin: the reader has gone
done
# Each HTTP probe kept curl's messages in a file of its own, reused by every round.
rm -f "$D/.probe-$$-"*
