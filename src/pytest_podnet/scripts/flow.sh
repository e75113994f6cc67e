#!/usr/bin/env bash
# A UDP flow of pytest-podnet: calls to one target from ONE fixed source port, kept going in the
# background of the source Pod (started by one exec, flows.start) and read back in batches by
# later execs (flows.read), so a long run of calls costs a few execs, not one each.
#   bash -c "$(cat flow.sh)" podnet-flow LOG IP PORT SPORT REQUEST INTERVAL T LIMIT
# Every call is `nc -u -p SPORT`, the same 5-tuple: the dataplane keeps one conntrack entry for
# the whole flow, as it does for a real UDP client (DNS, syslog, statsd) that keeps its socket.
# Calls every INTERVAL seconds (T seconds at most each; a reply ends a call at once) until
# LIMIT seconds have passed, then stops by itself. Appends one line per call to LOG (START in
# microseconds since the flow began), and "@@flow-end SEQ" when it stops:
#   @@flow SEQ START EXIT-CODE ELAPSED-MICROSECONDS OUTPUT-WITH-NEWLINES-FLATTENED
set -u
LOG=$1 IP=$2 PORT=$3 SPORT=$4 REQUEST=$5 INTERVAL=$6 T=$7 LIMIT=$8
now() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
pause() { read -rt "$1" _ <> <(:) || :; }
start=$(now)
seq=0
while [ $(( $(now) - start )) -lt $(( LIMIT * 1000000 )) ]; do
  seq=$((seq + 1))
  began=$(now)
  out=$(printf '%s\n' "$REQUEST" | nc -u -W 1 -w "$T" -p "$SPORT" "$IP" "$PORT" 2>&1); rc=$?
  elapsed=$(( $(now) - began ))
  # As in probe.sh: OpenBSD nc ends at once and silently on ICMP unreachable.
  if [ "$rc" = 0 ] && [ -z "$out" ] && [ "$elapsed" -lt $(( T * 1000000 - 500000 )) ]; then
    rc=111; out="nc: connection refused (ended at once without a reply: ICMP unreachable)"
  fi
  out=${out//$'\r'/}
  printf '%s %s %s %s %s %s\n' "@@flow" "$seq" $(( began - start )) "$rc" "$elapsed" \
    "${out//$'\n'/ | }" >> "$LOG"
  pause "$INTERVAL"
done
echo "@@flow-end $seq" >> "$LOG"
