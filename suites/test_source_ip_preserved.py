"""G2: the cluster network is flat, without NAT between Pods.

A Pod MUST reach every other Pod by its Pod IP, on its own node and on every other node, over TCP
and UDP, in every IP family the cluster has, and the receiver MUST see the sender's own Pod IP as
the source (the CNI contract: "pods on a node can communicate with all pods on all nodes without
NAT"). Traffic sent to a ClusterIP MUST reach the backend with the client Pod's IP as its source.

Placement is pinned (node affinity by node name), never left to the scheduler, and every ordered
pair of schedulable nodes is covered; a failure reports one matrix for all pairs.
"""

from __future__ import annotations

import pytest

from pytest_podnet import waits
from pytest_podnet.kube import PodInfo
from pytest_podnet.matrix import any_source, source_is_sender_pod_ip
from pytest_podnet.workloads import OnNode

pytestmark = [pytest.mark.podnet_guarantee("G2")]

cross_node = pytest.mark.podnet_cross_node


def pods_on_every_node(podnet, *roles: str) -> list[dict[str, PodInfo]]:
    """For each role, one netexec Pod pinned to each schedulable node, by node name (all Pods
    created at once)."""
    sets = podnet.client_pod_sets([n.name for n in podnet.nodes()], *roles)
    return [sets[role] for role in roles]


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("same-node"),
        pytest.param("cross-node", marks=[cross_node, pytest.mark.podnet_quick]),
    ],
)
def test_pod_to_pod_traffic_keeps_the_sender_pod_ip(podnet, scope):
    """Pod -> Pod by Pod IP MUST arrive over TCP and UDP with the sender's Pod IP as source.

    Upstream: "[sig-network] NoSNAT Should be able to send traffic between Pods without SNAT"
    (TCP, cross-node pairs only) and "[sig-network] Networking Granular Checks: Pods should
    function for intra-pod communication: http|udp" (reachability, not the source IP).
    """
    # Senders: the session's probe Pods; receivers: new Pods of this check, so every run also
    # reaches Pods whose routes and neighbour entries the CNI has only just set up.
    senders = podnet.probe_pods()
    (receivers,) = pods_on_every_node(podnet, "receiver")

    # A receiver whose IP an earlier Pod held may be unreachable for a few seconds while its
    # node re-resolves the IP's neighbour entry: an unreachable pair is probed again until
    # POD_REACHABLE, an answer with another source IP never.
    with podnet.step(f"every sender calls every {scope} receiver's /clientip over TCP and UDP"):
        matrices = podnet.probe_pairs(
            senders,
            receivers,
            scope,
            what="pod -> pod",
            expect=source_is_sender_pod_ip,
            converge=waits.POD_REACHABLE,
        )

    podnet.record("node_pairs", matrices.pairs)
    assert not matrices.broken, str(matrices)


@pytest.mark.parametrize("scope", ["same-node", pytest.param("cross-node", marks=cross_node)])
def test_pod_to_cluster_ip_traffic_keeps_the_client_pod_ip(podnet, scope):
    """Pod -> ClusterIP -> Pod MUST reach the backend with the client's Pod IP as source, with
    the backend on the client's node and on every other node (never hairpin: the client is
    never its own backend).

    Upstream: "[sig-network] Services should preserve source pod IP for traffic thru service
    cluster IP [LinuxOnly]" (one pair, placement left to the scheduler).
    """
    nodes = [n.name for n in podnet.nodes()]
    echoes = podnet.echo_deployments({f"echo-{i}": OnNode(node) for i, node in enumerate(nodes)})
    clients = podnet.probe_pods()
    services = {node: podnet.service_for(echoes[f"echo-{i}"]) for i, node in enumerate(nodes)}
    # A new Service may not be programmed on every node yet: an unreachable pair is probed
    # again until DATAPLANE_PROPAGATION, a NATed answer never.
    with podnet.step(f"every client calls the ClusterIP of every {scope} backend"):
        matrices = podnet.probe_pairs(
            clients,
            services,
            scope,
            what="pod -> ClusterIP -> pod",
            expect=source_is_sender_pod_ip,
            converge=waits.DATAPLANE_PROPAGATION,
        )

    podnet.record("node_pairs", matrices.pairs)
    assert not matrices.broken, str(matrices)


@pytest.mark.podnet_privileged
def test_host_network_pod_reaches_every_pod(podnet):
    """A hostNetwork Pod (the node itself) MUST reach every Pod on its node and on every other
    node over TCP and UDP. Reachability only: the node picks its own source address (the bridge
    address for a local Pod), which is not NAT.

    Upstream: "[sig-network] Networking Granular Checks: Pods should function for node-pod
    communication: http|udp [LinuxOnly]".
    """
    nodes = [n.name for n in podnet.nodes()]
    hosts = {
        node: podnet.host_network_pod(node=node, name=f"host-{i}") for i, node in enumerate(nodes)
    }
    (receivers,) = pods_on_every_node(podnet, "receiver")

    with podnet.step("every node calls every Pod's /clientip over TCP and UDP"):
        matrices = podnet.probe_pairs(
            hosts, receivers, "every-pair", what="node -> pod", expect=any_source
        )

    podnet.record("node_pairs", matrices.pairs)
    assert not matrices.broken, str(matrices)
