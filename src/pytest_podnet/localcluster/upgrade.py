"""``podnet cluster upgrade --to V``: a rolling upgrade of the embedded cluster, in kubeadm's order.

The control plane first, one component at a time (kube-apiserver, then kube-controller-manager,
then kube-scheduler, each stopped and started on the new release's binary), then node by node,
as kubeadm's runbook ("Upgrading kubeadm clusters") does it:

1. cordon the node and drain it through the Eviction API (``kubectl drain --ignore-daemonsets
   --delete-emptydir-data``: DaemonSet Pods stay, everything else is evicted and rescheduled);
2. stop its kubelet and kube-proxy; where the new release runs on containerd 2.x and the old one
   did not, stop containerd 1.6 and start containerd 2.x on the same state (its running
   containers keep running in their shims, as they do across a containerd restart);
3. start the kubelet and kube-proxy of the new release; wait until the node is Ready and reports
   the new kubelet version; uncordon it.

``node_hook``, a shell command run in each node's turn between steps 2 and 3 (``PODNET_NODE``
names the node), rehearses an upgrade that goes wrong: e.g. a dataplane left down for 12 s, or
SNAT appearing on one node (tests/sensitivity/test_upgrade_gate.py).

The topology file records each step (``Topology.node_versions``), so a fault that restarts a
daemon mid-upgrade starts the release that node is on, and a failed upgrade can be run again: it
skips what is done.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import replace

from pytest_podnet.localcluster import build, cluster, controlplane, node, procs
from pytest_podnet.localcluster.cluster import ClusterError, log
from pytest_podnet.localcluster.topology import Node, Topology
from pytest_podnet.localcluster.versions import CONTAINERD_VERSION, RELEASES

#: Seconds a drain may take: evicting the few Pods of a node and their graceful stop.
DRAIN_TIMEOUT = 120.0
#: Seconds from the new kubelet's start to its node Ready on the new version.
NODE_UPGRADED = 90.0


def upgrade(to: str, *, node_hook: str | None = None) -> Topology:
    """Upgrade the running cluster to release ``to``; return its topology after."""
    if to not in RELEASES:
        raise ClusterError(f"no pinned Kubernetes release {to!r}: use one of {', '.join(RELEASES)}")
    topology = cluster.current_topology()
    if topology is None or not cluster.is_running():
        raise ClusterError("no local cluster is running: `podnet cluster up` first")
    order = list(RELEASES)
    if order.index(to) < order.index(topology.version):
        raise ClusterError(f"the cluster runs {topology.version}; {to} would be a downgrade")
    if order.index(to) - order.index(topology.version) > 1:
        raise ClusterError(
            f"{topology.version} -> {to} skips a minor release: upgrade one at a time"
        )
    started = time.monotonic()
    build.build(to)
    if RELEASES[to].containerd_2:
        build.build_containerd()
    if topology.version != to:
        topology = _control_plane(topology, to)
    for n in topology.nodes:
        if topology.node_version(n) != to:
            topology = _node(topology, n, to, node_hook)
    topology = replace(topology, node_versions=())
    cluster.write_topology(topology)
    log(f"upgraded to {to} in {time.monotonic() - started:.1f}s ({topology.versions})")
    return topology


def _control_plane(topology: Topology, to: str) -> Topology:
    upgraded = replace(
        topology,
        version=to,
        node_versions=tuple(topology.node_version(n) for n in topology.nodes),
    )
    cluster.write_topology(upgraded)
    log(f"control plane: kube-apiserver {topology.version} -> {to}")
    procs.stop("kube-apiserver")
    controlplane.start_apiserver(upgraded)
    cluster.wait_apiserver()
    log(f"control plane: kube-controller-manager, kube-scheduler -> {to}")
    procs.stop("kube-controller-manager")
    controlplane.start_controller_manager(upgraded)
    procs.stop("kube-scheduler")
    controlplane.start_scheduler(upgraded)
    return upgraded


def _node(topology: Topology, n: Node, to: str, hook: str | None) -> Topology:
    was = topology.node_version(n)
    log(f"{n.name}: cordon and drain")
    cluster.kubectl("cordon", n.name)
    cluster.kubectl(
        "drain",
        n.name,
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        f"--timeout={DRAIN_TIMEOUT:.0f}s",
        timeout=DRAIN_TIMEOUT + 30,
    )
    log(f"{n.name}: kubelet and kube-proxy {was} -> {to}")
    procs.stop(f"{n.name}-kubelet")
    procs.stop(f"{n.name}-kube-proxy")
    if RELEASES[to].containerd_2 != RELEASES[was].containerd_2:
        log(f"{n.name}: containerd -> {_runtime(to)}")
        procs.stop(f"{n.name}-containerd")
        node.start_containerd(n, to)
        cluster.wait_containerd(n)
    versions = list(topology.node_versions or [topology.version] * topology.node_count)
    versions[n.index - 1] = to
    topology = replace(topology, node_versions=tuple(versions))
    cluster.write_topology(topology)
    if hook:
        log(f"{n.name}: node hook: {hook}")
        ran = subprocess.run(["/bin/sh", "-c", hook], env={**os.environ, "PODNET_NODE": n.name})
        if ran.returncode != 0:
            raise ClusterError(f"the node hook failed on {n.name} (exit {ran.returncode}): {hook}")
    node.start_kubelet(n, topology)
    node.start_kube_proxy(n, topology)
    _wait_node_on(n, to)
    cluster.kubectl("uncordon", n.name)
    return topology


def _runtime(version: str) -> str:
    return f"containerd {CONTAINERD_VERSION}" if RELEASES[version].containerd_2 else "Debian's"


def _wait_node_on(n: Node, version: str) -> None:
    """Until ``n`` is Ready and its kubelet reports ``version`` (``NODE_UPGRADED``)."""
    jsonpath = (
        'jsonpath={.status.nodeInfo.kubeletVersion} {.status.conditions[?(@.type=="Ready")].status}'
    )
    command = controlplane.kubectl("get", "node", n.name, "-o", jsonpath)
    if not cluster.poll(command, every=0.5, within=NODE_UPGRADED, answer=f"{version} True"):
        raise ClusterError(
            f"{n.name} not Ready on {version} after {NODE_UPGRADED:.0f}s [NODE_UPGRADED];"
            f" see {procs.log_dir() / (n.name + '-kubelet.log')}"
        )
