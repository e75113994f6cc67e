#!/usr/bin/env bash
# The two set-up commands of pytest-podnet (see README.md):
#   ./run.sh suites [--kubeconfig PATH] [pytest args...]   the conformance suites
#   ./run.sh tests [pytest args...]                        the project's own tests
# Both install what is missing first (scripts/install.sh), into the project venv .venv/ of this
# checkout, never the system interpreter. Without --kubeconfig the suites run on the embedded local
# cluster, which is started for the run and stopped after it (unless it was already running).
# The suites run as a user's repository runs them: pytest.ini and conftest.py at the top level
# (the packaged suites plus examples/, see docs/using.md).
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv

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
  # A user's cluster needs no root, no Go, no build and no dev tools: only the Python package.
  scripts/install.sh --python-only
  exec "$VENV/bin/python" -m pytest --podnet --podnet-kubeconfig="$kubeconfig" \
    --podnet-report=reports/podnet.json "$@"
fi

if [ "$job" = tests ]; then
  scripts/install.sh --dev
else
  scripts/install.sh
fi

started=0
if ! "$VENV/bin/podnet" cluster status >/dev/null 2>&1; then
  "$VENV/bin/podnet" cluster up --nodes 2
  started=1
fi
# An `if`, not `[ ] && ...`: a false test as the trap's last command would turn the exit status 1.
stop() { if [ "$started" = 1 ]; then "$VENV/bin/podnet" cluster down; fi; }
trap stop EXIT

kubeconfig=$("$VENV/bin/podnet" cluster kubeconfig)
if [ "$job" = suites ]; then
  "$VENV/bin/python" -m pytest --podnet --podnet-kubeconfig="$kubeconfig" \
    --podnet-report=reports/podnet.json "$@"
else
  # --podnet points the integration tests (and their inner runs) at the local cluster; the unit
  # tests run their own inner sessions with pytester and need no cluster.
  cluster_tests() { "$VENV/bin/python" -m pytest --podnet --podnet-kubeconfig="$kubeconfig" "$@"; }
  for arg in "$@"; do
    case "$arg" in
      -*) ;;
      *) if [ -e "${arg%%::*}" ]; then
           cluster_tests "$@" # test paths given: one session for exactly those
           exit
         fi ;;
    esac
  done
  # The whole of tests/ in three sessions: the unit tests on 2 xdist workers (~270 inner pytest
  # sessions, CPU-bound), the integration tests on 3 (each in namespaces of its own, mostly
  # waiting on the cluster), then, one at a time, the tests that take the whole cluster (faults,
  # restarts, other dataplanes) and those that no other run may start beside
  # (tests/integration/exclusive: any run's start removes a killed run's leftovers). Exit 5
  # (nothing collected) of a session is fine when another ran tests: a -k or -m that matches only
  # there.
  alone=(tests/integration/exclusive)
  for dir in tests/*/; do
    case "$dir" in
      tests/unit/ | tests/integration/ | tests/__pycache__/) ;;
      *) alone+=("${dir%/}") ;;
    esac
  done
  codes=()
  "$VENV/bin/python" -m pytest -n 2 tests/unit "$@" && codes+=(0) || codes+=($?)
  cluster_tests -n 3 tests/integration --ignore=tests/integration/exclusive "$@" && codes+=(0) ||
    codes+=($?)
  cluster_tests "${alone[@]}" "$@" && codes+=(0) || codes+=($?)
  for code in "${codes[@]}"; do
    if [ "$code" != 0 ] && [ "$code" != 5 ]; then exit "$code"; fi
  done
  for code in "${codes[@]}"; do
    if [ "$code" = 0 ]; then exit 0; fi
  done
  exit 5
fi
