// Command coredns is CoreDNS with only the plugins the embedded cluster's DNS uses.
//
// Upstream's main (github.com/coredns/coredns/coredns.go) imports every plugin, cloud SDKs
// included; this one imports the few its Corefile names, which keeps a cold build short. The
// server itself (coremain, the plugins) is upstream's code at the pinned release.
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

func main() {
	coremain.Run()
}
