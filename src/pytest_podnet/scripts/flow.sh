#!/usr/bin/env bash
# A flow of pytest-podnet: calls to one target, kept going in the background of the source Pod
# (started by one exec, flows.start) and read back in batches by later execs (flows.read), so a
# long run of calls costs a few execs, not one each.
#   bash -c "$(cat flow.sh)" podnet-flow LOG PROTO IP PORT SPORT REQUEST INTERVAL T LIMIT
# PROTO udp: every call is `nc -u -p SPORT`, the same 5-tuple: the dataplane keeps one conntrack
# entry for the whole flow, as it does for a real UDP client (DNS, syslog, statsd) that keeps its
# socket. PROTO http: every call is a new TCP connection (`curl`, a kernel-chosen source port;
# SPORT is ignored), as a client that reconnects for each request does.
# Calls every INTERVAL seconds (T seconds at most each; a reply ends a call at once) until
# LIMIT seconds have passed, then stops by itself. Appends one line per call to LOG (START in
# microseconds since the flow began), and "@@flow-end SEQ" when it stops:
#   @@flow SEQ START EXIT-CODE ELAPSED-MICROSECONDS OUTPUT-WITH-NEWLINES-FLATTENED
set -u
LOG=$1 PROTO=$2 IP=$3 PORT=$4 SPORT=$5 REQUEST=$6 INTERVAL=$7 T=$8 LIMIT=$9
now() { local t=${EPOCHREALTIME/./}; echo "${t#0}"; }
pause() { read -rt "$1" _ <> <(:) || :; }
start=$(now)
seq=0
while [ $(( $(now) - start )) -lt $(( LIMIT * 1000000 )) ]; do
  seq=$((seq + 1))
  began=$(now)
  if [ "$PROTO" = http ]; then
    host=$IP; case $IP in *:*) host="[$IP]";; esac
    out=$(curl -sS -g --max-time "$T" "http://$host:$PORT/$REQUEST" 2>&1); rc=$?
  else
    out=$(printf '%s\n' "$REQUEST" | nc -u -W 1 -w "$T" -p "$SPORT" "$IP" "$PORT" 2>&1); rc=$?
  fi
  elapsed=$(( $(now) - began ))
  # As in probe.sh: OpenBSD nc ends at once and silently on ICMP unreachable.
  if [ "$PROTO" = udp ] && [ "$rc" = 0 ] && [ -z "$out" ] &&
    [ "$elapsed" -lt $(( T * 1000000 - 500000 )) ]; then
    rc=111; out="nc: connection refused (ended at once without a reply: ICMP unreachable)"
  fi
  out=${out//$'\r'/}
  printf '%s %s %s %s %s %s\n' "@@flow" "$seq" $(( began - start )) "$rc" "$elapsed" \
    "${out//$'\n'/ | }" >> "$LOG"
  pause "$INTERVAL"
done
echo "@@flow-end $seq" >> "$LOG"
