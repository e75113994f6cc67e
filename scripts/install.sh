#!/usr/bin/env bash
# Installs everything pytest-podnet needs on a fresh Debian machine (root): the runtime packages,
# the Python package with its dev tools, and the pinned Kubernetes build (cached after the first).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "install.sh: run as root (the local cluster needs namespaces, mounts and cgroups)" >&2
  exit 1
fi

packages=(containerd runc containernetworking-plugins etcd-server iptables conntrack iproute2
          util-linux netcat-openbsd busybox-static curl bash gcc libc6-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || { echo "install.sh: Go 1.26+ is required to build Kubernetes" >&2; exit 1; }

python3 -m pip install -q --disable-pip-version-check --root-user-action=ignore -e '.[dev]'
podnet cluster build
