"""Addresses and names of the embedded cluster, derived from its node count; its dataplane."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

BRIDGE = "podnet0"
BRIDGE_NETWORK = ipaddress.ip_network("172.30.0.0/24")
BRIDGE_ADDRESS = "172.30.0.1"
POD_CIDR = "10.244.0.0/16"
SERVICE_CIDR = "10.96.0.0/16"
API_PORT = 6443
ETCD_CLIENT_PORT = 12379
ETCD_PEER_PORT = 12380
CONTEXT = "podnet-local"
#: The cluster DNS: the ``kube-dns`` Service's ClusterIP (the kubelets' ``clusterDNS``) and domain.
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
#: Ranges that must never leave the machine: the host gets `unreachable` routes for these.
GUARDED_RANGES = (POD_CIDR, SERVICE_CIDR)
#: kube-proxy backends the cluster can run; the first is the default.
PROXY_MODES = ("iptables", "nftables")
#: CNI plugins the cluster can run; the first is the default. ``bridge``: Debian's bridge +
#: host-local, with a plain route per node to every other node's Pod CIDR. ``flannel``: flanneld
#: (VXLAN backend, Kubernetes subnet manager) on every node and its CNI plugin, which hands off to
#: bridge + host-local; Pod traffic between nodes crosses the VXLAN device.
CNIS = ("bridge", "flannel")


@dataclass(frozen=True)
class Node:
    """One node: a network namespace named like the Kubernetes Node, on the host bridge."""

    index: int

    @property
    def name(self) -> str:
        return f"podnet-node-{self.index}"

    @property
    def netns(self) -> str:
        return self.name

    @property
    def ip(self) -> str:
        return str(BRIDGE_NETWORK.network_address + 10 + self.index)

    @property
    def host_veth(self) -> str:
        """Host end of the node's veth (interface names are limited to 15 characters)."""
        return f"pn-node{self.index}"


@dataclass(frozen=True)
class Topology:
    """The whole cluster layout for ``node_count`` nodes, and the dataplane they run."""

    node_count: int
    proxy_mode: str = PROXY_MODES[0]
    cni: str = CNIS[0]

    @property
    def dataplane(self) -> str:
        """One line for status and run headers."""
        cni = "bridge + host-local"
        if self.cni == "flannel":
            cni = f"flannel (VXLAN) -> {cni}"
        return f"CNI {cni}, kube-proxy {self.proxy_mode}, IPv4"

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(Node(i) for i in range(1, self.node_count + 1))

    @property
    def server(self) -> str:
        return f"https://{BRIDGE_ADDRESS}:{API_PORT}"
