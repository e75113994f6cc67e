"""The one place that pins what the embedded cluster is built from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Release:
    """A Kubernetes release the embedded cluster can run, built from the Go module proxy."""

    version: str
    #: Commit date of the release tag (the module proxy's ``.info``), the reproducible build
    #: date in the version ldflags.
    build_date: str
    #: The package-data directory whose go.mod pins k8s.io/kubernetes at this release.
    gomod: str
    #: Whether its nodes run containerd ``CONTAINERD_VERSION`` built from Go modules rather
    #: than Debian's containerd 1.6.20.
    containerd_2: bool


#: The releases ``podnet cluster up --version`` and ``podnet cluster upgrade --to`` take, oldest
#: first. v1.36.3 runs on Debian's containerd 1.6 (its kubelet falls back to its own cgroup driver
#: where containerd 1.6 lacks the RuntimeConfig CRI call). v1.37.2, the newest release on the
#: proxy, still has that fallback (measured 2026-12-04: its kubelet ran on containerd 1.6.20 with
#: "CRI implementation should be updated to support RuntimeConfig"), but containerd 1.x is past its
#: support for 1.37, so its nodes run containerd 2.x, the runtime upstream supports it on.
RELEASES: Final[dict[str, Release]] = {
    "v1.36.3": Release("v1.36.3", "2026-07-22T18:07:38Z", "gomod", containerd_2=False),
    "v1.37.2": Release("v1.37.2", "2026-10-27T12:01:04Z", "gomod_v1_37_2", containerd_2=True),
}
#: The release a cluster runs unless ``--version`` says otherwise.
KUBERNETES_VERSION: Final = "v1.36.3"
KUBERNETES_BUILD_DATE: Final = RELEASES[KUBERNETES_VERSION].build_date

#: containerd for the nodes of a release with ``containerd_2``: github.com/containerd/containerd/v2
#: at the newest release on the module proxy (it builds with Go 1.26 and runs with Debian's runc
#: 1.1.5 here), its containerd and containerd-shim-runc-v2 built with ``go install``.
CONTAINERD_MODULE: Final = "github.com/containerd/containerd/v2"
CONTAINERD_VERSION: Final = "v2.4.2"

#: The Go toolchain the build is made with (go.mod needs 1.26.0 or later; this is the release it is
#: tested with). Where `go` is missing or older, scripts/install.sh fetches exactly this one as the
#: module golang.org/toolchain through the module proxy. Deliberately not part of build.py's cache
#: stamp: which Go built the cached binaries must not force a cold rebuild (~7 min on 2 cores).
GO_TOOLCHAIN = "go1.26.8"

#: CoreDNS, the embedded cluster's DNS: built from the Go module github.com/coredns/coredns at this
#: release (the newest on the module proxy; it needs Go 1.26, which the build uses anyway), with
#: only the plugins its Corefile names (gomod_coredns/main.go), into an image of that upstream name.
COREDNS_VERSION = "v1.15.0"
COREDNS_IMAGE = f"registry.k8s.io/coredns/coredns:{COREDNS_VERSION}"

#: Flannel, the overlay CNI of ``podnet cluster up --cni flannel``: flanneld built from the Go
#: module github.com/flannel-io/flannel at this release (the newest on the module proxy), with
#: upstream's main.go less two backend imports that cannot build here (tencentvpc: its SDK module
#: is refused by the proxy; udp: needs cgo); the VXLAN backend the cluster uses is upstream's.
FLANNEL_VERSION = "v0.28.10"
#: Flannel's CNI plugin. github.com/flannel-io/cni-plugin, where it lives now, is refused by the
#: module proxy (403 for its version list and every tag tried); this is the last release of
#: github.com/containernetworking/plugins that still carried it (plugins/meta/flannel, moved out
#: in v1.0.0). It speaks CNI 0.4.0, the version of the cluster's CNI configuration.
FLANNEL_CNI_PLUGIN = "github.com/containernetworking/plugins/plugins/meta/flannel"
FLANNEL_CNI_PLUGIN_VERSION = "v0.9.1"

#: Tags named by test/utils/image/manifest.go of the pinned release.
AGNHOST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.63.0"
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.2"

#: Binaries built from k8s.io/kubernetes in one `go build`, by output name.
COMPONENT_PACKAGES = {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
    "kubelet": "k8s.io/kubernetes/cmd/kubelet",
    "kube-proxy": "k8s.io/kubernetes/cmd/kube-proxy",
    "kubectl": "k8s.io/kubernetes/cmd/kubectl",
    "agnhost": "k8s.io/kubernetes/test/images/agnhost",
}
