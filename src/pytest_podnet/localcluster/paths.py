"""Where the embedded cluster keeps its build cache and its running state."""

from __future__ import annotations

import os
from pathlib import Path

from pytest_podnet.localcluster.versions import (
    CONTAINERD_VERSION,
    COREDNS_VERSION,
    FLANNEL_VERSION,
    KUBERNETES_VERSION,
)


def cache_root() -> Path:
    """Root of the build cache: ``$PODNET_CACHE_DIR`` or ``~/.cache/pytest-podnet``."""
    override = os.environ.get("PODNET_CACHE_DIR")
    return Path(override) if override else Path.home() / ".cache" / "pytest-podnet"


def bin_dir(version: str = KUBERNETES_VERSION) -> Path:
    """Built upstream binaries of Kubernetes ``version`` (default: the default release)."""
    return cache_root() / version / "bin"


def containerd_dir() -> Path:
    """The containerd 2.x build (containerd, containerd-shim-runc-v2, stamp)."""
    return cache_root() / f"containerd-{CONTAINERD_VERSION}"


def coredns_dir() -> Path:
    """The CoreDNS build (binary, stamp, image archive) for the pinned CoreDNS release."""
    return cache_root() / f"coredns-{COREDNS_VERSION}"


def flannel_dir() -> Path:
    """The Flannel build (flanneld, its CNI plugin, stamp) for the pinned Flannel release."""
    return cache_root() / f"flannel-{FLANNEL_VERSION}"


def images_dir() -> Path:
    """Image archives (pause, agnhost) for the pinned release."""
    return cache_root() / KUBERNETES_VERSION / "images"


def state_dir() -> Path:
    """Persistent state of the running cluster: PKI, kubeconfigs, etcd data, node roots."""
    return Path(os.environ.get("PODNET_STATE_DIR", "/var/lib/pytest-podnet/cluster"))


def run_dir() -> Path:
    """Volatile runtime files: sockets, pid files."""
    return Path(os.environ.get("PODNET_RUN_DIR", "/run/pytest-podnet"))


def admin_kubeconfig() -> Path:
    """Kubeconfig with cluster-admin rights on the local cluster."""
    return state_dir() / "admin.kubeconfig"
