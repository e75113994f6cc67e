"""The one place that pins what the embedded cluster is built from."""

from __future__ import annotations

#: Upstream release built from the Go module proxy. v1.36 is the newest minor on the proxy; its
#: kubelet still falls back to its own cgroup driver when Debian's containerd 1.6 lacks the
#: RuntimeConfig CRI call (v1.37 removes that fallback).
KUBERNETES_VERSION = "v1.36.3"
#: Commit date of the release tag, used as the reproducible build date in version ldflags.
KUBERNETES_BUILD_DATE = "2026-07-22T18:07:38Z"

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
