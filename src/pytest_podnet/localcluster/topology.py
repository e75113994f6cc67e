"""Addresses and names of the embedded cluster, derived from its node count; its dataplane."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from pytest_podnet.localcluster.versions import KUBERNETES_VERSION

BRIDGE = "podnet0"
BRIDGE_NETWORK = ipaddress.ip_network("172.30.0.0/24")
BRIDGE_ADDRESS = "172.30.0.1"
POD_CIDR = "10.244.0.0/16"
#: The prefix length of a node's IPv4 Pod range (the controller-manager carves them out of
#: POD_CIDR): 4094 addresses a node, which host-local hands out round-robin, so an address
#: comes round again only after that many Pods on the node (see controlplane).
NODE_POD_PREFIX = 20
#: Nodes the cluster can have: as many node ranges as POD_CIDR holds.
MAX_NODES = 2 ** (NODE_POD_PREFIX - ipaddress.ip_network(POD_CIDR).prefixlen)
SERVICE_CIDR = "10.96.0.0/16"
API_PORT = 6443
ETCD_CLIENT_PORT = 12379
ETCD_PEER_PORT = 12380
CONTEXT = "podnet-local"
#: The cluster DNS: the ``kube-dns`` Service's ClusterIP (the kubelets' ``clusterDNS``) and domain.
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
#: The IPv6 twins (unique local addresses) of a dual-stack cluster: Pod range (a /64 per node),
#: Service range, and the bridge network the nodes and the host share.
POD_CIDR_V6 = "fd00:10:244::/56"
SERVICE_CIDR_V6 = "fd00:10:96::/112"
BRIDGE_NETWORK_V6 = ipaddress.ip_network("fd00:172:30::/64")
BRIDGE_ADDRESS_V6 = "fd00:172:30::1"
#: Ranges that must never leave the machine: the host gets `unreachable` routes for these, for
#: both families whatever the cluster runs (an IPv4 cluster has no IPv6 address to leak, and the
#: routes cost nothing).
GUARDED_RANGES = (POD_CIDR, SERVICE_CIDR, POD_CIDR_V6, SERVICE_CIDR_V6)
#: kube-proxy backends the cluster can run; the first is the default.
PROXY_MODES = ("iptables", "nftables")
#: CNI plugins the cluster can run; the first is the default. ``bridge``: Debian's bridge +
#: host-local, with a plain route per node to every other node's Pod CIDR. ``flannel``: flanneld
#: (VXLAN backend, Kubernetes subnet manager) on every node and its CNI plugin, which hands off to
#: bridge + host-local; Pod traffic between nodes crosses the VXLAN device.
CNIS = ("bridge", "flannel")
#: IP families the cluster can run; the first is the default. ``dual``: IPv4 and IPv6 on every
#: node, Pod and (PreferDualStack) Service, IPv4 first.
IP_FAMILIES = ("ipv4", "dual")


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
    def ip6(self) -> str:
        """The node's IPv6 address on the bridge (used on a dual-stack cluster only)."""
        return str(BRIDGE_NETWORK_V6.network_address + 10 + self.index)

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
    ip_family: str = IP_FAMILIES[0]
    #: The Kubernetes release of the control plane (``versions.RELEASES``).
    version: str = KUBERNETES_VERSION
    #: Each node's release, by index (empty: every node runs ``version``); differs from
    #: ``version`` while ``podnet cluster upgrade`` is part-way through the nodes.
    node_versions: tuple[str, ...] = ()

    def node_version(self, node: Node) -> str:
        """The Kubernetes release ``node``'s kubelet and kube-proxy run."""
        return self.node_versions[node.index - 1] if self.node_versions else self.version

    @property
    def versions(self) -> str:
        """One line for status: the control plane's release, and the nodes' where they differ."""
        nodes = {self.node_version(n) for n in self.nodes}
        if nodes == {self.version}:
            return f"Kubernetes {self.version}"
        each = ", ".join(f"{n.name} {self.node_version(n)}" for n in self.nodes)
        return f"Kubernetes {self.version} (control plane); nodes {each}"

    @property
    def dataplane(self) -> str:
        """One line for status and run headers."""
        cni = "bridge + host-local"
        if self.cni == "flannel":
            cni = f"flannel (VXLAN) -> {cni}"
        families = "dual-stack IPv4/IPv6" if self.dual_stack else "IPv4"
        return f"CNI {cni}, kube-proxy {self.proxy_mode}, {families}"

    @property
    def dual_stack(self) -> bool:
        return self.ip_family == "dual"

    @property
    def pod_cidrs(self) -> tuple[str, ...]:
        """The cluster's Pod ranges, IPv4 first."""
        return (POD_CIDR, POD_CIDR_V6) if self.dual_stack else (POD_CIDR,)

    @property
    def service_cidrs(self) -> tuple[str, ...]:
        """The cluster's Service ranges, IPv4 first."""
        return (SERVICE_CIDR, SERVICE_CIDR_V6) if self.dual_stack else (SERVICE_CIDR,)

    def node_ips(self, node: Node) -> tuple[str, ...]:
        """``node``'s addresses, IPv4 first (the kubelet's ``--node-ip``)."""
        return (node.ip, node.ip6) if self.dual_stack else (node.ip,)

    @property
    def nodes(self) -> tuple[Node, ...]:
        return tuple(Node(i) for i in range(1, self.node_count + 1))

    @property
    def server(self) -> str:
        return f"https://{BRIDGE_ADDRESS}:{API_PORT}"
