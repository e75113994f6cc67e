#!/usr/bin/env bash
# A flow of pytest-podnet: calls to one target, kept going in the background of the source Pod
# (started by one exec, flows.start) and read back in batches by later execs (flows.read), so a
# long run of calls costs a few execs, not one each.
#   bash -c "$(cat flow.sh)" podnet-flow LOG PROTO IP PORT SPORT REQUEST INTERVAL T LIMIT
# PROTO udp: every call is `nc -u -p SPORT`, the same 5-tuple: the dataplane keeps one conntrack
# entry for the whole flow, as it does for a real UDP client (DNS, syslog, statsd) that keeps its
# socket. PROTO http: every call is a new TCP connection (`curl`, a kernel-chosen source port;
# SPORT is ignored), as a client that reconnects for each request does. PROTO kept: every call is
# an HTTP/1.1 request on ONE established TCP connection (a connection pool's client): the
# connection is opened once (`nc`, a coprocess) and kept; a call that gets no reply within T
# leaves its request pending on the connection (TCP retransmits it) and the next call waits for
# that reply rather than sending another. The connection is replaced only when it is cut: closed
# or reset by the other end, or no reply for PATIENCE seconds. Each kept call's output starts
# with "conn=N " (the connection's number); exit codes as curl's: 7 could not connect, 28 no
# reply yet, 56 the established connection was cut.
# Calls every INTERVAL seconds (T seconds at most each; a reply ends a call at once) until
# LIMIT seconds have passed, then stops by itself. Appends one line per call to LOG (START in
# microseconds since the flow began), and "@@flow-end SEQ" when it stops:
#   @@flow SEQ START EXIT-CODE ELAPSED-MICROSECONDS OUTPUT-WITH-NEWLINES-FLATTENED
set -u
# A kept connection that is cut leaves its coprocess gone: a write to it must fail (EPIPE, a cut
# to report), not kill the flow with SIGPIPE.
trap '' PIPE
LOG=$1 PROTO=$2 IP=$3 PORT=$4 SPORT=$5 REQUEST=$6 INTERVAL=$7 T=$8 LIMIT=$9
# The time in microseconds, into NOW (a function that sets a variable: $(now) would fork a
# subshell, ~0.6 ms of CPU, three times a call).
now() { NOW=${EPOCHREALTIME/./}; NOW=${NOW#0}; }
pause() { read -rt "$1" _ <> <(:) || :; }
PATIENCE=30
conn=0 state=closed waited=0 kin='' kout='' kpid=''
kept_close() {
  [ -n "$kin" ] && exec {kin}<&- {kout}>&-
  [ -n "$kpid" ] && { kill "$kpid" 2>/dev/null; wait "$kpid" 2>/dev/null; }
  kin='' kout='' kpid='' state=closed
}
kept_open() {
  conn=$((conn + 1))
  coproc KEPT { exec nc -v "$IP" "$PORT" 2>"$LOG.conn"; }
  exec {kin}<&"${KEPT[0]}" {kout}>&"${KEPT[1]}"
  kpid=$KEPT_PID state=connecting waited=0
}
# One call on the kept connection: sets rc and out.
kept_call() {
  local line len=0 body
  [ "$state" = closed ] && kept_open
  if [ "$state" != pending ]; then
    if ! printf 'GET /%s HTTP/1.1\r\nHost: podnet\r\n\r\n' "$REQUEST" >&"$kout" 2>/dev/null; then
      kept_fail "the connection is closed"; return
    fi
  fi
  line=''
  IFS= read -r -t "$T" -u "$kin" line
  local status=$?
  if [ "$status" -gt 128 ] && [ -z "$line" ]; then  # no reply within T
    waited=$((waited + 1))
    if [ "$state" = connecting ] && ! grep -q succeeded "$LOG.conn" 2>/dev/null; then
      kept_close
      rc=28 out="conn=$conn could not connect within ${T}s"
      return
    fi
    state=pending
    if [ $((waited * T)) -ge "$PATIENCE" ]; then kept_fail "no reply for ${PATIENCE}s, given up"; return; fi
    rc=28 out="conn=$conn no reply yet (the request waits on the open connection)"
    return
  fi
  if [ "$status" -ne 0 ]; then
    [ -n "$line" ] && { kept_fail "the reply broke off"; return; }
    kept_fail "closed or reset"
    return
  fi
  while IFS= read -r -t "$T" -u "$kin" header && [ -n "${header%$'\r'}" ]; do
    case ${header,,} in content-length:*) len=${header#*:}; len=${len//[!0-9]/} ;; esac
  done
  body=''
  [ "${len:-0}" -gt 0 ] && ! IFS= read -r -N "$len" -t "$T" -u "$kin" body &&
    [ ${#body} -lt "$len" ] && { kept_fail "the reply broke off"; return; }
  state=open waited=0 rc=0 out="conn=$conn $body"
}
kept_fail() {
  local was=$state
  kept_close
  if [ "$was" = connecting ] && ! grep -q succeeded "$LOG.conn" 2>/dev/null; then
    rc=7 out="conn=$conn could not connect: $(tail -c 200 "$LOG.conn" 2>/dev/null)"
  else
    rc=56 out="conn=$conn cut: $1"
  fi
}
now; start=$NOW
seq=0
while now; [ $(( NOW - start )) -lt $(( LIMIT * 1000000 )) ]; do
  seq=$((seq + 1))
  now; began=$NOW
  if [ "$PROTO" = kept ]; then
    kept_call
  elif [ "$PROTO" = http ]; then
    host=$IP; case $IP in *:*) host="[$IP]";; esac
    out=$(curl -sS -g --max-time "$T" "http://$host:$PORT/$REQUEST" 2>&1); rc=$?
  else
    out=$(printf '%s\n' "$REQUEST" | nc -u -W 1 -w "$T" -p "$SPORT" "$IP" "$PORT" 2>&1); rc=$?
  fi
  now; elapsed=$(( NOW - began ))
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
[ "$PROTO" = kept ] && kept_close
echo "@@flow-end $seq" >> "$LOG"
