#!/usr/bin/env bash
# CI step: the package as a user gets it. Builds the wheel, installs it into a fresh venv outside
# the checkout, and runs `pytest --podnet --podnet-quick` from an empty directory against a
# cluster: the packaged suites must be collected from the fresh venv and pass. Prints its wall time.
#   scripts/wheel-check.sh [KUBECONFIG]   (default: the embedded local cluster's admin kubeconfig)
# Uses the cluster (healthy): run it under `flock -s /tmp/podnet-cluster.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$(date +%s)

kubeconfig=${1:-/var/lib/pytest-podnet/cluster/admin.kubeconfig}
[ -r "$kubeconfig" ] || { echo "wheel-check: no kubeconfig at $kubeconfig" >&2; exit 2; }
kubeconfig=$(realpath "$kubeconfig")

work=$(mktemp -d /tmp/podnet-wheel-check.XXXXXX)
trap 'rm -rf "$work"' EXIT
mkdir "$work/dist" "$work/empty" "$work/src"

python3 -m venv "$work/venv"
# From the committed tree only, so nothing lying around in the checkout gets into the wheel; the
# build runs in pip's isolated build environment (setuptools>=77, as pyproject.toml asks).
git archive --format=tar HEAD | tar -x -C "$work/src"
"$work/venv/bin/python" -m pip wheel -q --disable-pip-version-check --no-deps \
  -w "$work/dist" "$work/src"
wheel=$(echo "$work"/dist/pytest_podnet-*.whl)
echo "wheel-check: built $(basename "$wheel")"
# Installed by the checkout's uv when it has one (scripts/install.sh puts it there): the same
# wheel, the same dependency metadata (this check: 47 s instead of 63 s with pip); pip otherwise,
# or if uv fails.
if ! { [ -x "$root/.venv/bin/uv" ] &&
  UV_DEFAULT_INDEX=${UV_DEFAULT_INDEX:-${PIP_INDEX_URL:-https://pypi.org/simple}} \
    "$root/.venv/bin/uv" pip install -q --compile-bytecode --python "$work/venv/bin/python" \
    "$wheel"; }; then
  "$work/venv/bin/python" -m pip install -q --disable-pip-version-check "$wheel"
fi

# The installed package, not the checkout: an empty directory, no test path, no ini.
cd "$work/empty"
"$work/venv/bin/podnet" --version
status=0
"$work/venv/bin/python" -m pytest --podnet --podnet-quick --podnet-kubeconfig="$kubeconfig" \
  --podnet-report="$work/verdict.json" -p no:cacheprovider || status=$?

# The suites that ran are the installed ones, and every guarantee got its check from them.
"$work/venv/bin/python" - "$work/verdict.json" "$work/venv" <<'EOF' || { [ "$status" != 0 ] || status=1; }
import json
import sys
from pathlib import Path

import pytest_podnet.suites

installed = Path(pytest_podnet.suites.__file__).resolve()
if not installed.is_relative_to(Path(sys.argv[2]).resolve()):
    sys.exit(f"wheel-check: pytest_podnet.suites comes from {installed}, not the fresh venv")
document = json.loads(Path(sys.argv[1]).read_text())
checks = document["checks"]
print(f"wheel-check: suites from {installed.parent}")
for check in checks:
    print(f"wheel-check:   {check['guarantee']} {check['outcome']:<8} {check['nodeid']}")
print(f"wheel-check: verdicts {[(g['guarantee'], g['verdict']) for g in document['guarantees']]}")
if {c["guarantee"] for c in checks} != {g["guarantee"] for g in document["guarantees"]}:
    sys.exit("wheel-check: a guarantee got no check from the installed suites")
EOF
# The verdict matches the JSON Schema the wheel ships (jsonschema from the checkout's dev venv:
# the user's fresh venv has no reason to hold it).
schema=$("$work/venv/bin/python" -c 'from importlib import resources
print(resources.files("pytest_podnet") / "schema/verdict-v2.schema.json")')
"$root/.venv/bin/python" - "$work/verdict.json" "$schema" <<'EOF' || { [ "$status" != 0 ] || status=1; }
import json
import sys
from pathlib import Path

import jsonschema

document = json.loads(Path(sys.argv[1]).read_text())
validator = jsonschema.Draft202012Validator(json.loads(Path(sys.argv[2]).read_text()))
errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]
if errors:
    sys.exit(f"wheel-check: the verdict does not match the shipped schema: {errors}")
print(f"wheel-check: the verdict matches the shipped schema {sys.argv[2]}")
EOF
echo "wheel-check: exit $status, wall time $(( $(date +%s) - started ))s"
exit "$status"
