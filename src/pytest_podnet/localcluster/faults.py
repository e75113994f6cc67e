"""Named, reversible faults that each break one Pod-networking guarantee on the local cluster.

A conformance check that passes a broken cluster is worse than none: these faults let the
project show every check failing for the right reason. Each fault records itself in the state
directory, so `fault list` shows what is applied and `fault remove` (or `cluster down`) undoes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_podnet.localcluster import cluster, controlplane, dns, node, paths, procs
from pytest_podnet.localcluster.network import node_root
from pytest_podnet.localcluster.topology import (
    API_PORT,
    POD_CIDR,
    POD_CIDR_V6,
    PROXY_MODES,
    SERVICE_CIDR,
    Node,
    Topology,
)

FAULT_CHAIN = "PODNET-FAULT-SNAT"
#: The daemon of serve-terminating: one for the cluster, on the host, programming every node.
TERMINATING_DAEMON = f"cluster{node.FAULT_DAEMON_INFIX}serve-terminating"


class FaultError(RuntimeError):
    """A fault could not be applied or removed; the message says why."""


@dataclass(frozen=True)
class Fault:
    name: str
    breaks: str
    how: str
    undo: str
    add: Callable[[list[Node]], None]
    remove: Callable[[list[Node]], None]
    #: Nodes it applies to when --node is not given: "last" or "all".
    default_nodes: str = "last"


def _nodes() -> list[Node]:
    # Not cluster.is_running(): a fault may itself stop a daemon (dataplane-stopped).
    topology = cluster.current_topology()
    apiserver = procs.find("kube-apiserver")
    if topology is None or apiserver is None or not apiserver.alive:
        raise FaultError("the local cluster is not running (`podnet cluster up`)")
    return list(topology.nodes)


def pod_cidr(n: Node) -> str:
    """The node's (IPv4) Pod CIDR."""
    return cluster.kubectl("get", f"node/{n.name}", "-o", "jsonpath={.spec.podCIDR}").strip()


def pod_cidrs(n: Node) -> list[str]:
    """The node's Pod CIDRs, one per family, IPv4 first."""
    return cluster.kubectl("get", f"node/{n.name}", "-o", "jsonpath={.spec.podCIDRs[*]}").split()


#: Both families' rule tools (ip6tables rules on an IPv4-only node are harmless no-ops).
IPTABLES = ("iptables", "ip6tables")


def _flush_conntrack(n: Node) -> None:
    """Forget the node's connection tracking, both families (``conntrack -F`` is IPv4 only)."""
    for family in ("ipv4", "ipv6"):
        procs.run(["conntrack", "-F", "-f", family], netns=n.netns, check=False)


@dataclass(frozen=True)
class _Chain:
    """A fault's own iptables chain, jumped to first from ``hook`` of ``table`` on a node."""

    table: str
    hook: str
    name: str
    #: ``iptables`` or, for an IPv6 chain, ``ip6tables``.
    tool: str = "iptables"

    def install(self, n: Node, rules: Sequence[Sequence[str]] = ()) -> None:
        """Create (or empty) the chain, append ``rules``, and jump to it first from the hook."""
        iptables = [self.tool, "-w", "-t", self.table]
        procs.run([*iptables, "-N", self.name], netns=n.netns, check=False)
        procs.run([*iptables, "-F", self.name], netns=n.netns)
        for rule in rules:
            procs.run([*iptables, "-A", self.name, *rule], netns=n.netns)
        procs.run([*iptables, "-D", self.hook, "-j", self.name], netns=n.netns, check=False)
        procs.run([*iptables, "-I", self.hook, "1", "-j", self.name], netns=n.netns)

    def remove(self, n: Node) -> None:
        """Delete the jump and the chain (no-op for what is not there)."""
        iptables = [self.tool, "-w", "-t", self.table]
        procs.run([*iptables, "-D", self.hook, "-j", self.name], netns=n.netns, check=False)
        procs.run([*iptables, "-F", self.name], netns=n.netns, check=False)
        procs.run([*iptables, "-X", self.name], netns=n.netns, check=False)


#: Where snat-pod-traffic masquerades the node's Pod-to-Pod traffic.
SNAT_CHAIN = _Chain("nat", "POSTROUTING", FAULT_CHAIN)
#: Where snat-pod-traffic-ipv6 masquerades the node's IPv6 Pod-to-Pod traffic.
SNAT_CHAIN_V6 = _Chain("nat", "POSTROUTING", FAULT_CHAIN, tool="ip6tables")
#: Where the stale-udp-conntrack daemon pins UDP flows to their old backends.
PIN_CHAIN = _Chain("nat", "PREROUTING", "PODNET-FAULT-UDP-PIN")
#: Where the serve-terminating daemon sends new connections to terminating Pods.
TERMINATING_CHAIN = _Chain("nat", "PREROUTING", "PODNET-FAULT-TERMINATING")
#: What cuts the cluster DNS off from the API server (stale-dns).
DNS_CHAIN = _Chain("filter", "FORWARD", "PODNET-FAULT-DNS")


def _iptables_mode_only(fault: str, how: str) -> None:
    """Refuse a fault whose DNAT rules must run ahead of kube-proxy's, outside iptables mode."""
    if _proxy_mode() != "iptables":
        raise FaultError(
            f"{fault} {how} with iptables DNAT rules ahead of kube-proxy's; in {_proxy_mode()}"
            " mode kube-proxy's own nat chain runs at the same priority and may translate"
            " first, so the fault does not apply there"
        )


# --- snat-pod-traffic --------------------------------------------------------------------------


def _add_snat(nodes: list[Node]) -> None:
    for n in nodes:
        # Every Pod-to-Pod packet from this node's Pods, bridged (same node) or routed (other
        # nodes), leaves with the node's address instead of the Pod's.
        SNAT_CHAIN.install(n, [["-s", pod_cidr(n), "-d", POD_CIDR, "-j", "MASQUERADE"]])
        procs.run(["conntrack", "-F"], netns=n.netns, check=False)


def _remove_snat(nodes: list[Node]) -> None:
    for n in nodes:
        SNAT_CHAIN.remove(n)
        procs.run(["conntrack", "-F"], netns=n.netns, check=False)


def _add_snat_v6(nodes: list[Node]) -> None:
    if not _topology().dual_stack:
        raise FaultError(
            "snat-pod-traffic-ipv6 masquerades IPv6 Pod traffic; this cluster is IPv4 only"
            " (`podnet cluster up --ip-family dual`)"
        )
    for n in nodes:
        # IPv6 only: the node's IPv4 Pod traffic keeps its source, so a check that reads one
        # family alone would pass.
        v6 = [c for c in pod_cidrs(n) if ":" in c]
        SNAT_CHAIN_V6.install(n, [["-s", v6[0], "-d", POD_CIDR_V6, "-j", "MASQUERADE"]])
        procs.run(["conntrack", "-F", "-f", "ipv6"], netns=n.netns, check=False)


def _remove_snat_v6(nodes: list[Node]) -> None:
    for n in nodes:
        SNAT_CHAIN_V6.remove(n)
        procs.run(["conntrack", "-F", "-f", "ipv6"], netns=n.netns, check=False)


# --- dataplane-stopped / dataplane-frozen ------------------------------------------------------


def _proxy_name(n: Node) -> str:
    return f"{n.name}-kube-proxy"


def _topology() -> Topology:
    topology = cluster.current_topology()
    if topology is None:
        raise FaultError("the local cluster is not running (`podnet cluster up`)")
    return topology


def _proxy_mode() -> str:
    topology = cluster.current_topology()
    return topology.proxy_mode if topology is not None else PROXY_MODES[0]


def _add_dataplane_stopped(nodes: list[Node]) -> None:
    mode = _proxy_mode()
    for n in nodes:
        procs.stop(_proxy_name(n))
        # With kube-proxy gone, its Service rules would still work; flush them like a crashed
        # dataplane that lost its state: ClusterIPs on this node no longer lead anywhere.
        if mode == "nftables":
            flushes = [["nft", "delete", "table", family, "kube-proxy"] for family in ("ip", "ip6")]
        else:
            flushes = [[tool, "-w", "-t", "nat", "-F", "KUBE-SERVICES"] for tool in IPTABLES]
        for flush in flushes:
            procs.run(flush, netns=n.netns, check=False)
        _flush_conntrack(n)


def _remove_dataplane_stopped(nodes: list[Node]) -> None:
    for n in nodes:
        node.start_kube_proxy(n, _topology())


def _signal_proxy(nodes: list[Node], sig: signal.Signals) -> None:
    for n in nodes:
        daemon = procs.find(_proxy_name(n))
        if daemon is None or not daemon.alive:
            raise FaultError(f"kube-proxy of {n.name} is not running")
        os.kill(daemon.pid, sig)


def _add_dataplane_frozen(nodes: list[Node]) -> None:
    # Paused, not stopped: its rules stay exactly as they were, so Service traffic keeps going
    # to backends the API has since removed (a stale dataplane).
    _signal_proxy(nodes, signal.SIGSTOP)


def _remove_dataplane_frozen(nodes: list[Node]) -> None:
    _signal_proxy(nodes, signal.SIGCONT)


# --- stale-endpoints ---------------------------------------------------------------------------


def _restart_controller_manager(controllers: str) -> None:
    procs.stop("kube-controller-manager")
    controlplane.start_controller_manager(_topology(), controllers)


def _add_stale_endpoints(nodes: list[Node]) -> None:
    _restart_controller_manager("*,-endpointslice-controller")


def _remove_stale_endpoints(nodes: list[Node]) -> None:
    _restart_controller_manager(controlplane.DEFAULT_CONTROLLERS)


# --- stale-udp-conntrack -----------------------------------------------------------------------


def _pin_daemon(n: Node) -> str:
    return node.fault_daemon_name(n, "udp-pin")


def _add_stale_udp_conntrack(nodes: list[Node]) -> None:
    _iptables_mode_only("stale-udp-conntrack", "pins flows")
    for n in nodes:
        PIN_CHAIN.install(n)
        procs.start(
            _pin_daemon(n),
            [
                sys.executable,
                "-m",
                "pytest_podnet.localcluster.udp_pin",
                SERVICE_CIDR,
                PIN_CHAIN.name,
            ],
            netns=n.netns,
        )


def _remove_stale_udp_conntrack(nodes: list[Node]) -> None:
    for n in nodes:
        procs.stop(_pin_daemon(n))
        PIN_CHAIN.remove(n)
        # A pinned flow's entry still points at its old backend: let every UDP flow choose again.
        procs.run(["conntrack", "-D", "-p", "udp"], netns=n.netns, check=False)


# --- serve-terminating -------------------------------------------------------------------------


def _add_serve_terminating(nodes: list[Node]) -> None:
    _iptables_mode_only("serve-terminating", "diverts connections")
    for n in nodes:
        TERMINATING_CHAIN.install(n)
    procs.start(
        TERMINATING_DAEMON,
        [
            sys.executable,
            "-m",
            "pytest_podnet.localcluster.serve_terminating",
            str(paths.bin_dir() / "kubectl"),
            str(paths.admin_kubeconfig()),
            TERMINATING_CHAIN.name,
            *(n.netns for n in nodes),
        ],
    )


def _remove_serve_terminating(nodes: list[Node]) -> None:
    procs.stop(TERMINATING_DAEMON)
    for n in nodes:
        TERMINATING_CHAIN.remove(n)


# --- stale-dns ---------------------------------------------------------------------------------


def _coredns_pods() -> list[tuple[str, str]]:
    """``(node name, Pod IP)`` of every running CoreDNS Pod of the cluster DNS."""
    listed = cluster.kubectl(
        "get",
        "pods",
        "-n",
        dns.NAMESPACE,
        "-l",
        "k8s-app=kube-dns",
        "--field-selector=status.phase=Running",
        "-o",
        "jsonpath={range .items[*]}{.spec.nodeName} {.status.podIP}{'\\n'}{end}",
    )
    return [
        (fields[0], fields[1]) for line in listed.splitlines() if len(fields := line.split()) == 2
    ]


def _add_stale_dns(nodes: list[Node]) -> None:
    names = {n.name for n in nodes}
    cut = [(name, ip) for name, ip in _coredns_pods() if name in names]
    if not cut:
        raise FaultError(f"no running CoreDNS Pod on {', '.join(sorted(names))}")
    by_name = {n.name: n for n in nodes}
    port = str(API_PORT)
    for name, ip in cut:
        # Every packet of its API connections, the established watch included: CoreDNS keeps
        # answering from what it last saw, and never hears of a Service created since.
        DNS_CHAIN.install(
            by_name[name],
            [
                ["-s", ip, "-p", "tcp", "--dport", port, "-j", "DROP"],
                ["-d", ip, "-p", "tcp", "--sport", port, "-j", "DROP"],
            ],
        )


def _remove_stale_dns(nodes: list[Node]) -> None:
    for n in nodes:
        DNS_CHAIN.remove(n)
    # Its informers may be backing off after the cut: a new CoreDNS lists everything afresh.
    deployment = f"deployment/{dns.NAME}"
    cluster.kubectl("rollout", "restart", "-n", dns.NAMESPACE, deployment)
    cluster.kubectl(
        "rollout",
        "status",
        "-n",
        dns.NAMESPACE,
        deployment,
        f"--timeout={dns.COREDNS_READY:.0f}s",
        timeout=dns.COREDNS_READY + 10,
    )


# --- ip-reuse ----------------------------------------------------------------------------------

#: host-local wrapper: an IP a DEL frees is kept back for the Pod's Kubernetes namespace, and the
#: next ADD in that namespace asks host-local for it (host-local honours `IP=` in CNI_ARGS), so a
#: replacement Pod gets its predecessor's IP back. Per namespace, because other runs' and
#: checks' namespaces are torn down in the background and their DELs would otherwise hand the
#: replacement some other Pod's IP (a CI run on 2026-12-02 MISSED a delete that way). Kept back,
#: because host-local would otherwise hand the freed IP to the next Pod of any namespace that
#: came first (a CI run on 2026-12-06 MISSED an eviction that way: a concurrent check's Pod got
#: it): the DEL leaves the IP's reservation file in place, marked held for the namespace, under
#: host-local's own lock (flock on the `lock` file of its data directory), and the ADD releases
#: it just before asking for it. An ADD waits up to 6 s for a DEL only while the namespace still
#: has a Pod on this node (a predecessor that may be torn down a moment after its replacement
#: starts).
IP_REUSE_WRAPPER = """#!/bin/bash
# podnet fault ip-reuse: hand a freed Pod IP straight back to the next Pod of its namespace.
real={real}
data={data}/podnet
ns=$(tr ';' '\\n' <<<"$CNI_ARGS" | sed -n 's/^K8S_POD_NAMESPACE=//p')
held="{held_marker} ${{ns:-none}}"
freed={data}/podnet-freed/${{ns:-none}}
members={data}/podnet-members/${{ns:-none}}
mkdir -p "$freed" "$members" "$data"
if [ "$CNI_COMMAND" = DEL ]; then
  export CNI_CONTAINERID held freed data
  flock "$data/lock" bash -c '
    file=$(grep -lx -- "$CNI_CONTAINERID" "$data"/* 2>/dev/null | head -n1)
    [ -z "$file" ] && file=$(grep -l -- "^$CNI_CONTAINERID" "$data"/* 2>/dev/null | head -n1)
    if [ -n "$file" ]; then
      printf "%s\\n" "$held" > "$file"
      touch "$freed/${{file##*/}}"
    fi'
  rm -f "$members/$CNI_CONTAINERID"
fi
if [ "$CNI_COMMAND" = ADD ]; then
  if [ -n "$(ls -A "$members")" ]; then
    for _ in $(seq 30); do [ -n "$(ls -A "$freed")" ] && break; sleep 0.2; done
  fi
  export held freed data
  ip=$(flock "$data/lock" bash -c '
    ip=$(ls -t "$freed" | head -n1)
    [ -n "$ip" ] || exit 0
    rm -f "$freed/$ip"
    [ "$(head -n1 "$data/$ip" 2>/dev/null)" = "$held" ] || exit 0
    rm -f "$data/$ip"
    echo "$ip"')
  [ -n "$ip" ] && export CNI_ARGS="${{CNI_ARGS:+$CNI_ARGS;}}IP=$ip"
  touch "$members/$CNI_CONTAINERID"
fi
exec "$real"
"""
#: The first line of a reservation file that the ip-reuse fault holds back for a namespace.
HELD_MARKER = "podnet-ip-reuse-held"


def _wrap_host_local(n: Node, script: str) -> None:
    """Put ``script`` in place of the node's host-local IPAM plugin (its own bin dir only)."""
    plugin = node.cni_bin_dir(n) / "host-local"
    plugin.unlink(missing_ok=True)
    plugin.write_text(script)
    plugin.chmod(plugin.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def _unwrap_host_local(n: Node) -> None:
    plugin = node.cni_bin_dir(n) / "host-local"
    plugin.unlink(missing_ok=True)
    plugin.symlink_to(node.SYSTEM_CNI_BIN / "host-local")


def _add_ip_reuse(nodes: list[Node]) -> None:
    for n in nodes:
        _wrap_host_local(
            n,
            IP_REUSE_WRAPPER.format(
                real=node.SYSTEM_CNI_BIN / "host-local",
                data=node_root(n) / "ipam",
                held_marker=HELD_MARKER,
            ),
        )


def _forget_neighbours(n: Node) -> None:
    """Drop the node's neighbour (ARP/NDP) entries for its Pods: a handed-back IP leaves its
    previous holder's MAC there, which would blackhole the next Pod with that IP for seconds."""
    procs.run(["ip", "neigh", "flush", "dev", node.CNI_BRIDGE], netns=n.netns, check=False)


def _remove_ip_reuse(nodes: list[Node]) -> None:
    for n in nodes:
        _unwrap_host_local(n)
        ipam = node_root(n) / "ipam"
        for kept in ("podnet-freed", "podnet-members"):
            shutil.rmtree(ipam / kept, ignore_errors=True)
        # IPs still held back for a namespace whose next Pod never came: free them.
        for reservation in (ipam / "podnet").glob("*"):
            with contextlib.suppress(OSError, UnicodeDecodeError):
                if reservation.read_text().startswith(HELD_MARKER):
                    reservation.unlink()
        _forget_neighbours(n)


# --- duplicate-ip ------------------------------------------------------------------------------

#: host-local wrapper for the faulted node: each ADD asks for the IP most recently allocated on the
#: donor node that this node does not hold already (waiting up to 10 s for one), so two running
#: Pods of the cluster share an IP. Skipping IPs held here matters: host-local refuses an IP it
#: has allocated, and a Pod asking for it again on every sandbox retry never starts (seen in CI on
#: 2026-12-02: a second sender Pod on the faulted node stayed Pending for 120 s).
DUPLICATE_IP_WRAPPER = """#!/bin/bash
# podnet fault duplicate-ip: give this node's Pods IPs already in use on {donor_name}.
real={real}
donor={donor_data}/podnet
own={own_data}/podnet
if [ "$CNI_COMMAND" = ADD ]; then
  for _ in $(seq 50); do
    ip=$(ls -t "$donor" 2>/dev/null | grep -E '^[0-9.]+$' | while read -r c; do
      [ -e "$own/$c" ] || {{ echo "$c"; break; }}
    done)
    [ -n "$ip" ] && break
    sleep 0.2
  done
  [ -n "$ip" ] && export CNI_ARGS="${{CNI_ARGS:+$CNI_ARGS;}}IP=$ip"
fi
exec "$real"
"""


def _donor(nodes: list[Node], n: Node) -> Node:
    others = [o for o in _nodes() if o.name != n.name]
    if not others:
        raise FaultError("duplicate-ip needs a second node to copy IPs from")
    return others[0]


def _add_duplicate_ip(nodes: list[Node]) -> None:
    topology = cluster.current_topology()
    if topology is not None and topology.cni != "bridge":
        raise FaultError(
            "duplicate-ip widens the bridge plugin's IPAM ranges in the node's CNI config; with"
            f" {topology.cni} the ranges come from the CNI's own state (Flannel: its subnet"
            " file), so the fault does not apply there"
        )
    for n in nodes:
        donor = _donor(nodes, n)
        config_path = node.write_cni_config(n, pod_cidrs(n))
        config = json.loads(config_path.read_text())
        bridge = config["plugins"][0]
        # The donor's range joins this node's range set so host-local accepts the donor's IPs;
        # no gateway address for it on cni0, so this node keeps routing the donor's range to it.
        bridge["isGateway"] = False
        bridge["ipam"]["ranges"][0].append({"subnet": pod_cidr(donor)})
        config_path.write_text(json.dumps(config, indent=2))
        _wrap_host_local(
            n,
            DUPLICATE_IP_WRAPPER.format(
                donor_name=donor.name,
                real=node.SYSTEM_CNI_BIN / "host-local",
                donor_data=node_root(donor) / "ipam",
                own_data=node_root(n) / "ipam",
            ),
        )


def _remove_duplicate_ip(nodes: list[Node]) -> None:
    for n in nodes:
        node.write_cni_config(n, pod_cidrs(n))
        _unwrap_host_local(n)
    # Both sides learnt MACs for the shared IPs: the donors' bridges too (each node once).
    donors = [_donor(nodes, n) for n in nodes]
    for involved in {m.name: m for m in [*nodes, *donors]}.values():
        _forget_neighbours(involved)


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "snat-pod-traffic",
            "G2: the receiver no longer sees the sender's Pod IP",
            "an iptables MASQUERADE rule in the node's nat POSTROUTING for (IPv4) Pod-to-Pod"
            " traffic from its Pods (same node and cross node)",
            "delete the rule and its chain, flush conntrack",
            _add_snat,
            _remove_snat,
        ),
        Fault(
            "snat-pod-traffic-ipv6",
            "G2, IPv6 only: the receiver sees the node's IPv6 address, IPv4 stays intact",
            "an ip6tables MASQUERADE rule in the node's nat POSTROUTING for IPv6 Pod-to-Pod"
            " traffic from its Pods (dual-stack clusters only)",
            "delete the rule and its chain, flush IPv6 conntrack",
            _add_snat_v6,
            _remove_snat_v6,
        ),
        Fault(
            "dataplane-stopped",
            "G3 (and G2 through a ClusterIP): ClusterIPs stop answering from the node's Pods",
            "kube-proxy stopped and its Service rules removed on the node (the nat KUBE-SERVICES"
            " chain flushed, or in nftables mode its `ip kube-proxy` table deleted)",
            "start kube-proxy again; it rewrites every Service rule",
            _add_dataplane_stopped,
            _remove_dataplane_stopped,
        ),
        Fault(
            "dataplane-frozen",
            "G3: traffic to a ClusterIP keeps reaching Pods that are no longer Ready/listed",
            "kube-proxy paused (SIGSTOP) on the node: its rules stay but stop following the API",
            "SIGCONT; kube-proxy resyncs",
            _add_dataplane_frozen,
            _remove_dataplane_frozen,
        ),
        Fault(
            "stale-udp-conntrack",
            "G3: a UDP client that keeps its socket stays on a replaced backend's IP",
            "a daemon on the node follows conntrack DESTROY events and pins each UDP flow to a"
            " ClusterIP whose entry kube-proxy deletes back to its old backend (an iptables DNAT"
            " rule ahead of kube-proxy's), as if the entry had outlived the backend; iptables"
            " proxy mode only",
            "stop the daemon, delete the pin rules, delete the node's UDP conntrack entries",
            _add_stale_udp_conntrack,
            _remove_stale_udp_conntrack,
            default_nodes="all",
        ),
        Fault(
            "serve-terminating",
            "G3: new connections to a ClusterIP reach terminating Pods while Ready ones exist",
            "a daemon follows every EndpointSlice; while a Service has Ready and"
            " serving-terminating endpoints, an iptables DNAT rule ahead of kube-proxy's sends"
            " half of the new connections to its ClusterIP to the terminating ones; iptables"
            " proxy mode only",
            "stop the daemon, delete the rules",
            _add_serve_terminating,
            _remove_serve_terminating,
            default_nodes="all",
        ),
        Fault(
            "stale-dns",
            "G3: the cluster DNS answers from a stale view: a Service created since has no name",
            "an iptables DROP, first in the filter FORWARD of the node that runs CoreDNS, for"
            " every packet between the CoreDNS Pod and the API server: it keeps answering from"
            " what it last saw",
            "delete the rules, restart CoreDNS (it lists every Service afresh)",
            _add_stale_dns,
            _remove_stale_dns,
            default_nodes="all",
        ),
        Fault(
            "stale-endpoints",
            "G3: EndpointSlices no longer follow Ready Pods",
            "kube-controller-manager restarted without the endpointslice controller",
            "restart kube-controller-manager with every controller",
            _add_stale_endpoints,
            _remove_stale_endpoints,
            default_nodes="all",
        ),
        Fault(
            "ip-reuse",
            "G1 (strict): a replacement Pod gets the IP its predecessor just freed",
            "the node's host-local IPAM wrapped to keep each IP a Pod frees back for that Pod's"
            " namespace and hand it to the namespace's next Pod (an ADD waits up to 6 s for a DEL"
            " while the namespace still has a Pod on the node)",
            "restore the plain host-local plugin, free the IPs still kept back, flush the node's"
            " neighbour cache",
            _add_ip_reuse,
            _remove_ip_reuse,
            default_nodes="all",
        ),
        Fault(
            "duplicate-ip",
            "G1: two running Pods of the cluster share one IP",
            "the node's host-local IPAM wrapped to hand out the IP most recently allocated on"
            " another node (that node's range added to its range set)",
            "restore the node's CNI config and the plain host-local plugin, flush both nodes'"
            " neighbour caches",
            _add_duplicate_ip,
            _remove_duplicate_ip,
        ),
    )
}


def applied_file() -> Path:
    return paths.state_dir() / "faults.json"


def applied() -> dict[str, list[str]]:
    """Applied faults: name -> node names."""
    if not applied_file().exists():
        return {}
    data: dict[str, list[str]] = json.loads(applied_file().read_text())
    return data


def _save(state: dict[str, list[str]]) -> None:
    applied_file().write_text(json.dumps(state, indent=2))


def _select(fault: Fault, node_name: str | None) -> list[Node]:
    nodes = _nodes()
    if node_name is not None:
        chosen = [n for n in nodes if n.name == node_name]
        if not chosen:
            raise FaultError(f"no node {node_name}; nodes are {', '.join(n.name for n in nodes)}")
        return chosen
    return nodes if fault.default_nodes == "all" else nodes[-1:]


def add(name: str, node_name: str | None = None) -> list[str]:
    """Apply fault ``name``; returns the node names it was applied to."""
    fault = _lookup(name)
    state = applied()
    if name in state:
        return state[name]
    nodes = _select(fault, node_name)
    fault.add(nodes)
    state[name] = [n.name for n in nodes]
    _save(state)
    return state[name]


def remove(name: str) -> None:
    """Undo fault ``name`` (no-op if it is not applied)."""
    fault = _lookup(name)
    state = applied()
    if name not in state:
        return
    by_name = {n.name: n for n in _nodes()}
    fault.remove([by_name[n] for n in state[name] if n in by_name])
    del state[name]
    _save(state)


def _lookup(name: str) -> Fault:
    if name not in FAULTS:
        raise FaultError(f"unknown fault {name!r}; known: {', '.join(FAULTS)}")
    return FAULTS[name]


def main(action: str, name: str | None, node_name: str | None) -> int:
    """Entry point of `podnet cluster fault add|remove|list`."""
    try:
        if action == "list":
            current = applied() if applied_file().parent.exists() else {}
            for fault in FAULTS.values():
                where = current.get(fault.name)
                mark = f"APPLIED on {', '.join(where)}" if where else "-"
                print(
                    f"{fault.name:20} {mark}\n    breaks: {fault.breaks}\n    how:    {fault.how}"
                    f"\n    undo:   {fault.undo}"
                )
            return 0
        if name is None:
            print(
                f"podnet cluster fault {action}: name a fault ({', '.join(FAULTS)})",
                file=sys.stderr,
            )
            return 2
        if action == "add":
            print(f"{name} applied on {', '.join(add(name, node_name))}")
        else:
            remove(name)
            print(f"{name} removed")
        return 0
    except FaultError as error:
        print(f"podnet cluster fault {action}: {error}", file=sys.stderr)
        return 1
