#!/usr/bin/env bash
# scripts/least-privilege-kubeconfig.sh ADMIN_KUBECONFIG OUT [DURATION]
#
# With the admin kubeconfig: apply manifests/rbac.yaml (ServiceAccount pytest-podnet:pytest-podnet
# and its least-privilege ClusterRole) and manifests/confine.yaml (the admission policy that
# confines it to namespaces labelled app.kubernetes.io/managed-by=pytest-podnet), then write OUT,
# a kubeconfig for the same API server that authenticates with a TokenRequest token of that
# ServiceAccount (valid DURATION, default 1h; nothing long-lived is stored in the cluster).
# Returns once the policy is enforced: a server-side dry run of a delete outside the managed
# namespaces is refused by it (bounded: 60 tries, one a second). KUBECTL=path overrides kubectl.
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 ADMIN_KUBECONFIG OUT [DURATION]" >&2; exit 2; }
admin=$1 out=$2 duration=${3:-1h}
kubectl=${KUBECTL:-kubectl}
here=$(cd "$(dirname "$0")/.." && pwd)
k() { "$kubectl" --kubeconfig="$admin" "$@"; }

k apply -f "$here/manifests/rbac.yaml" -f "$here/manifests/confine.yaml" >&2
token=$(k create token pytest-podnet -n pytest-podnet --duration="$duration")
server=$(k config view --raw --minify --flatten -o 'jsonpath={.clusters[0].cluster.server}')
ca=$(k config view --raw --minify --flatten \
  -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')

umask 077
rm -f "$out"
s() { "$kubectl" --kubeconfig="$out" config "$@" >/dev/null; }
s set-cluster podnet --server="$server"
[ -z "$ca" ] || s set clusters.podnet.certificate-authority-data "$ca"
s set-credentials pytest-podnet --token="$token"
s set-context pytest-podnet --cluster=podnet --user=pytest-podnet
s use-context pytest-podnet

# An admission policy takes effect a moment after it is created; wait for the refusal itself.
# The dry run never deletes: its target, the ServiceAccount's own namespace, has no managed label.
for _ in $(seq 60); do
  answer=$("$kubectl" --kubeconfig="$out" delete namespace pytest-podnet --dry-run=server 2>&1 || true)
  case $answer in
    *"ValidatingAdmissionPolicy 'pytest-podnet-confine'"*) echo "least-privilege kubeconfig: $out (confinement enforced)" >&2; exit 0 ;;
  esac
  sleep 1
done
echo "error: $answer; the confinement policy was not enforced within 60 s" >&2
exit 1
