#!/usr/bin/env bash
# Calls a Service by its DNS names from the source Pod, as an application there would: curl
# resolves each name through the Pod's resolv.conf (search path, ndots), then connects.
#   bash -c "$(cat by_name.sh)" podnet-by-name W T PORT REQUEST NAME...
# W: seconds to wait before the first call (paces repeated rounds); T: seconds per call
# (resolution included). Prints one line per name:
#   @@name NAME EXIT-CODE ADDRESS-CONNECTED-TO-OR-- OUTPUT-WITH-NEWLINES-FLATTENED
set -u
W=$1 T=$2 PORT=$3 REQUEST=$4; shift 4
[ "$W" = 0 ] || read -rt "$W" _ <> <(:) || :
for name in "$@"; do
  out=$(curl -sS --max-time "$T" -w '\n@@address %{remote_ip}' "http://$name:$PORT/$REQUEST" \
    2>&1); rc=$?
  address=${out##*@@address }
  body=${out%@@address*}
  while [ "${body%$'\n'}" != "$body" ]; do body=${body%$'\n'}; done
  body=${body//$'\r'/}
  printf '%s %s %s %s %s\n' "@@name" "$name" "$rc" "${address:--}" "${body//$'\n'/ | }"
done
