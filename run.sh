#!/usr/bin/env bash
# The two set-up commands of pytest-podnet (see README.md):
#   ./run.sh suites [--kubeconfig PATH] [pytest args...]   the conformance suites
#   ./run.sh tests [pytest args...]                        the project's own tests
# Both install what is missing first. Without --kubeconfig the suites run on the embedded local
# cluster, which is started for the run and stopped after it (unless it was already running).
set -euo pipefail
cd "$(dirname "$0")"

job=${1:-}
shift || true
case "$job" in
  suites|tests) ;;
  *) echo "usage: ./run.sh suites [--kubeconfig PATH] [pytest args...] | ./run.sh tests [pytest args...]" >&2
     exit 2 ;;
esac

kubeconfig=""
if [ "$job" = suites ] && [ "${1:-}" = "--kubeconfig" ]; then
  kubeconfig=${2:?--kubeconfig needs a path}
  shift 2
fi

if [ -n "$kubeconfig" ]; then
  # A user's cluster needs no root and no local build: only the Python package.
  python3 -m pip install -q --disable-pip-version-check -e '.[dev]'
  exec python3 -m pytest --podnet --podnet-kubeconfig="$kubeconfig" \
    --podnet-report=reports/podnet.json suites/ "$@"
fi

scripts/install.sh

started=0
if ! podnet cluster status >/dev/null 2>&1; then
  podnet cluster up --nodes 2
  started=1
fi
stop() { [ "$started" = 1 ] && podnet cluster down; }
trap stop EXIT

kubeconfig=$(podnet cluster kubeconfig)
if [ "$job" = suites ]; then
  python3 -m pytest --podnet --podnet-kubeconfig="$kubeconfig" \
    --podnet-report=reports/podnet.json suites/ "$@"
else
  # --podnet points the integration tests (and their inner runs) at the local cluster; the unit
  # tests run their own inner sessions with pytester and are unaffected.
  python3 -m pytest --podnet --podnet-kubeconfig="$kubeconfig" tests/ "$@"
fi
