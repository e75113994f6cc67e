#!/usr/bin/env bash
# Installs what pytest-podnet needs on a fresh Debian 12 machine, into this checkout only:
#   scripts/install.sh                 as root: apt packages, the project venv, Go, the cluster build
#   scripts/install.sh --dev           the same plus the dev tools (ruff, mypy: the "dev" extra),
#                                      Debian's chromium (the HTML report tests), and every
#                                      pinned Kubernetes release with containerd 2.x (the
#                                      upgrade gate's tests)
#   scripts/install.sh --python-only   no root: only the project venv with the package
#   scripts/install.sh --report        also what `podnet report` needs: the "report" extra
#                                      (matplotlib, jsonschema) and the pinned Allure 3 from npm
#                                      into ~/.cache/pytest-podnet/allure/<version>/ (as root it
#                                      apt-installs nodejs and npm when missing); combines with
#                                      the others, e.g. --python-only --report
# The Python package always goes into the project venv .venv/ of this checkout, never into the
# system interpreter (Debian's python3 refuses that anyway: PEP 668, externally-managed-environment).
# Go: when `go` is missing or older than the pinned toolchain (Debian 12 ships 1.19), Debian's
# golang-go fetches the pinned Go as the module golang.org/toolchain through the module proxy, and
# the build uses that. Go's default caches (GOMODCACHE, GOCACHE) are kept, so builds stay warm.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
dev=0
python_only=0
with_report=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    --python-only) python_only=1 ;;
    --report) with_report=1 ;;
    *) echo "usage: scripts/install.sh [--dev] [--python-only] [--report]" >&2; exit 2 ;;
  esac
done

say() { echo "install.sh: $*" >&2; }

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

if [ "$python_only" = 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "run as root (the local cluster needs namespaces, mounts and cgroups); for your own" \
        "cluster use ./run.sh suites --kubeconfig PATH, which needs no root"
    exit 1
  fi
  # python3-venv: Debian's python3 makes no venv without it.
  apt_install containerd runc containernetworking-plugins etcd-server iptables nftables conntrack iproute2 \
    util-linux netcat-openbsd busybox-static curl bash gcc libc6-dev python3 python3-venv
  # The project's own tests look at the HTML report in a real browser (tests/browser.py).
  if [ "$dev" = 1 ]; then apt_install chromium; fi
fi

# --- the project venv ---------------------------------------------------------------------------
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  say "$(command -v python3) is $(python3 -V 2>&1); pytest-podnet needs Python 3.11 or newer"
  exit 1
}
if [ ! -x "$VENV/bin/pip" ]; then
  say "creating the project venv $PWD/$VENV with $(command -v python3)"
  if ! python3 -m venv "$VENV"; then
    rm -rf "$VENV"
    say "python3 cannot make a venv: install python3-venv (apt-get install python3-venv, as root)"
    exit 1
  fi
fi
# uv (from PyPI, into the venv) installs the package and its dependencies in seconds, where pip
# takes over a minute (it resolves in Python and byte-compiles every module: 71 s against 7 s with
# an empty uv cache, measured 2026-12-03). pip stays the fallback whenever uv cannot be had or fails.
# --compile-bytecode as pip does: with PYTHONDONTWRITEBYTECODE set (as on our CI machine) nothing
# else ever writes the .pyc files, and every pytest process would compile the Kubernetes client
# anew (the unit tests took 175 s instead of 87 s with -n 2).
venv_install() {
  if [ -x "$VENV/bin/uv" ] ||
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv >/dev/null 2>&1; then
    # uv reads no pip configuration: hand it pip's index if one is set in the environment.
    if UV_DEFAULT_INDEX=${UV_DEFAULT_INDEX:-${PIP_INDEX_URL:-https://pypi.org/simple}} \
      "$VENV/bin/uv" pip install -q --compile-bytecode --python "$VENV/bin/python" "$@"; then
      return 0
    fi
    say "uv pip install failed; installing with pip instead"
  fi
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"
}
# Reinstall only when pyproject.toml changed (the install is editable: code changes need none).
# The dev extra holds the report extra's packages too, so a dev venv serves --report as well.
extra=base
[ "$with_report" = 1 ] && extra=report
[ "$dev" = 1 ] && extra=dev
want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$VENV/.podnet-install" 2>/dev/null || true)
if [ "$have" != "$want dev" ] && [ "$have" != "$want $extra" ]; then
  spec=$(case "$extra" in dev) echo '.[dev]' ;; report) echo '.[report]' ;; *) echo '.' ;; esac)
  say "install -e '$spec' into $VENV"
  venv_install -e "$spec"
  echo "$want $extra" >"$VENV/.podnet-install"
fi
if [ "$with_report" = 1 ]; then
  if ! command -v npm >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      apt_install nodejs npm
    else
      say "podnet report needs node and npm: apt-get install nodejs npm (as root)"
      exit 1
    fi
  fi
  # npm install --prefix ~/.cache/pytest-podnet/allure/<version> allure@<version> (pinned in
  # htmlreport.ALLURE_VERSION), unless that version is already there.
  "$VENV/bin/python" -c 'from pytest_podnet import htmlreport
print("install.sh: allure", htmlreport.ALLURE_VERSION, "at", htmlreport.install_allure())' >&2
fi
[ "$python_only" = 1 ] && exit 0

# --- Go, then the pinned Kubernetes build --------------------------------------------------------
pinned=$("$VENV/bin/python" -c \
  'from pytest_podnet.localcluster.versions import GO_TOOLCHAIN; print(GO_TOOLCHAIN)')
# go1.26.8 -> 1.26.8; true when the go on PATH is at least the pinned release.
go_is_recent() {
  local have
  have=$(go env GOVERSION 2>/dev/null) || return 1
  have=${have#go}
  have=${have%%[!0-9.]*}
  [ "$(printf '%s\n%s\n' "${pinned#go}" "$have" | sort -V | head -1)" = "${pinned#go}" ]
}
if ! go_is_recent; then
  say "$(command -v go >/dev/null && go env GOVERSION || echo 'no go') on PATH; fetching $pinned"
  apt_install golang-go
  case "$(dpkg --print-architecture)" in
    amd64) arch=amd64 ;;
    arm64) arch=arm64 ;;
    *) say "no pinned Go for $(dpkg --print-architecture)"; exit 1 ;;
  esac
  module="golang.org/toolchain@v0.0.1-$pinned.linux-$arch"
  # Debian's own go, from / (outside any module); into the default module cache.
  info=$(cd / && /usr/bin/go mod download -json "$module") || {
    say "go mod download $module failed: $info"
    exit 1
  }
  dir=$(printf '%s' "$info" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
  # A module zip keeps no file modes: make the toolchain's programs executable, as Go's own
  # toolchain switch does after the same download.
  chmod a+x "$dir"/bin/* "$dir"/pkg/tool/*/*
  export PATH="$dir/bin:$PATH"
  go_is_recent || { say "$dir/bin/go is not $pinned"; exit 1; }
fi
say "building with $(go version) ($(command -v go))"
# The project's own tests gate a real upgrade (v1.36.3 -> v1.37.2, tests/sensitivity): with --dev,
# every pinned release and containerd 2.x, so no test waits for a build.
if [ "$dev" = 1 ]; then
  "$VENV/bin/podnet" cluster build --all-releases
else
  "$VENV/bin/podnet" cluster build
fi
