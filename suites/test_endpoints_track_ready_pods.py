"""G3: a Service sends traffic to exactly its Ready Pods.

The EndpointSlices of a Service MUST list exactly its Ready Pods as ready: a replaced Pod leaves,
its replacement joins; a Pod whose readiness fails is removed and is added back when it passes
again. Traffic to the ClusterIP MUST NOT reach a Pod that is not Ready once the dataplane caught
up with its removal. The convergence times (Ready -> listed, NotReady -> removed, removed -> no
longer answering) are recorded in the JSON report.

Upstream: "[sig-network] EndpointSlice should create Endpoints and EndpointSlices for Pods
matching a Service [Conformance]" and "[sig-network] Connectivity Pod Lifecycle should be able to
have zero downtime on a Blue Green deployment using Services and Readiness Gates".
"""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_podnet.kube import PodInfo
from pytest_podnet.probes import HOSTNAME, REACHABLE, answered_by_each_of, answered_only_by

pytestmark = [pytest.mark.podnet_guarantee("G3")]

#: Requests sent to the ClusterIP while one of its two Pods is not Ready. Were the unready Pod
#: still in the dataplane, each request (a new connection, balanced afresh) would reach it with
#: probability 1/2, so all 32 miss it with probability 2^-32 (about 2 in 10^10): a pass is not
#: luck.
UNREADY_PROBES = 32
#: Requests per batch while the dataplane converges: a batch of 8 that still could reach the
#: unready Pod comes back clean with probability 2^-8; the 32 requests above then decide.
CONVERGE_PROBES = 8


def test_endpoint_slices_list_exactly_the_ready_pods(podnet, placement):
    """The EndpointSlices of a Service MUST list exactly its Ready Pods: after one Pod is
    replaced, the replacement and the survivor, and nothing of the deleted Pod."""
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    svc = podnet.service_for(echo)
    victim, survivor = podnet.pods(echo)
    assert podnet.endpoints(svc).ready_ips == {victim.ip, survivor.ip}, (
        f"{svc.ref} slices {podnet.endpoints(svc)} do not list its Ready Pods "
        f"{victim.ref} ({victim.ip}) and {survivor.ref} ({survivor.ip})"
    )

    with podnet.step(f"delete {victim.ref} ({victim.ip} on {victim.node})"):
        replacement = podnet.delete_pod(victim)

    # The wait is the assertion: it fails naming the Service, the IPs it expected and the
    # slices it last saw, e.g. a deleted Pod still listed by a stale EndpointSlice.
    listed = podnet.wait_endpoints(svc, [survivor, replacement])
    podnet.record("replacement_ready_to_listed_s", round(listed, 3))


def test_readiness_off_removes_the_pod_and_on_adds_it_back(podnet, placement):
    """A Pod whose readiness fails MUST leave the Service's ready endpoints, and MUST come back
    when it passes again; the times from the Pod's Ready condition changing to the slices
    following it are recorded (NotReady -> removed, Ready -> listed)."""
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    svc = podnet.service_for(echo)
    pod, other = podnet.pods(echo)

    # Each wait is an assertion: it fails naming the Service, the IPs it expected as ready and
    # the slices it last saw.
    with podnet.step(f"switch readiness of {pod.ref} ({pod.ip} on {pod.node}) off"):
        podnet.record("readiness_off_to_not_ready_s", round(podnet.set_ready(pod, False), 3))
        removed = podnet.wait_endpoints(svc, [other])
    podnet.record("not_ready_to_removed_s", round(removed, 3))

    with podnet.step(f"switch readiness of {pod.ref} back on"):
        podnet.record("readiness_on_to_ready_s", round(podnet.set_ready(pod, True), 3))
        listed = podnet.wait_endpoints(svc, [pod, other])
    podnet.record("ready_to_listed_s", round(listed, 3))


def test_cluster_ip_never_sends_traffic_to_an_unready_pod(podnet, placement):
    """Once a not-Ready Pod left the EndpointSlices, requests to the ClusterIP MUST NOT reach it
    from any node, although it still runs and answers on its own IP; the time from its removal
    to the slowest node's dataplane following is recorded (removed -> no longer answering)."""
    clients = podnet.client_pods([n.name for n in podnet.nodes()])
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    svc = podnet.service_for(echo)
    unready, ready = podnet.pods(echo)
    both = answered_by_each_of([unready.name, ready.name])
    podnet.converge(clients, svc, both, count=UNREADY_PROBES, context="precondition")

    with podnet.step(f"switch readiness of {unready.ref} ({unready.ip} on {unready.node}) off"):
        podnet.set_ready(unready, False)
        podnet.wait_endpoints(svc, [ready])
    following = podnet.converge(
        clients,
        svc,
        answered_only_by([ready.name]),
        count=CONVERGE_PROBES,
        context=f"no longer by unready {unready.ref} ({unready.ip} on {unready.node})",
    )
    podnet.record("removed_to_not_answering_s", round(following.slowest, 3))

    expect_answered_only_by(podnet, clients, svc, ready, unready)
    expect_answering_on_its_own_ip(podnet, next(iter(clients.values())), unready)


def expect_answered_only_by(podnet, clients, svc, ready: PodInfo, unready: PodInfo) -> None:
    """UNREADY_PROBES requests from each node's client to the ClusterIP, all answered by
    ``ready``: not one reaches ``unready``, and none goes unanswered."""
    for node, client in clients.items():
        results = podnet.probe(from_=client, to=svc, request=HOSTNAME, count=UNREADY_PROBES)
        seen = Counter(r.seen_hostname if r.outcome == REACHABLE else r.outcome for r in results)
        assert seen == {ready.name: UNREADY_PROBES}, (
            f"{UNREADY_PROBES} requests from {client.ref} on {node} to {svc.ref} "
            f"({svc.cluster_ip}) were answered {dict(seen)}; expected only Ready {ready.ref} "
            f"({ready.ip} on {ready.node}), never unready {unready.ref} ({unready.ip} on "
            f"{unready.node})"
        )


def expect_answering_on_its_own_ip(podnet, client, unready: PodInfo) -> None:
    """The unready Pod still runs and answers on its Pod IP: else missing it proves nothing."""
    direct = podnet.probe(from_=client, to=unready, request=HOSTNAME)
    assert direct[0].seen_hostname == unready.name, (
        f"unready {unready.ref} ({unready.ip}) no longer answers on its own IP, so the check "
        f"above proves nothing: {direct[0]}"
    )
