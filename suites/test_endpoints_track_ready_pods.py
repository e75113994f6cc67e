"""G3: a Service sends traffic to exactly its Ready Pods.

The EndpointSlices of a Service MUST list exactly its Ready Pods as ready: a replaced Pod leaves,
its replacement joins; a Pod whose readiness fails is removed and is added back when it passes
again; a Pod being deleted turns not ready, serving and terminating. Traffic to the ClusterIP MUST
NOT reach a Pod that is not Ready (nor one that is terminating while a Ready one exists) once the
dataplane caught up with its removal. The convergence times (Ready -> listed, NotReady -> removed,
removed -> no longer answering) are recorded in the JSON report.

Upstream: "[sig-network] EndpointSlice should create Endpoints and EndpointSlices for Pods
matching a Service [Conformance]" and "[sig-network] Connectivity Pod Lifecycle should be able to
have zero downtime on a Blue Green deployment using Services and Readiness Gates".
"""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_podnet.kube import PodInfo
from pytest_podnet.probes import (
    HOSTNAME,
    REACHABLE,
    answered_but_never_by,
    answered_by_each_of,
    answered_only_by,
)

pytestmark = [pytest.mark.podnet_guarantee("G3")]

#: Requests sent to the ClusterIP while one of its two Pods is not Ready. Were the unready Pod
#: still in the dataplane, each request (a new connection, balanced afresh) would reach it with
#: probability 1/2, so all 32 miss it with probability 2^-32 (about 2 in 10^10): a pass is not
#: luck.
UNREADY_PROBES = 32
#: Requests per batch while the dataplane converges: a batch of 8 that still could reach the
#: unready Pod comes back clean with probability 2^-8; the 32 requests above then decide.
CONVERGE_PROBES = 8
#: How long a deleted backend of the terminating check keeps serving (netexec --delay-shutdown):
#: longer than both phases of the check take on a loaded machine; teardown removes it at once.
DRAIN_SECONDS = 120


def test_endpoint_slices_list_exactly_the_ready_pods(podnet, placement):
    """The EndpointSlices of a Service MUST list exactly its Ready Pods: after one Pod is
    replaced, the replacement and the survivor, and nothing of the deleted Pod."""
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    svc = podnet.service_for(echo)
    victim, survivor = podnet.pods(echo)
    assert podnet.endpoints(svc).ready_ips == podnet.service_addresses(svc, [victim, survivor]), (
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
    echo = podnet.echo_deployment(replicas=2, placement=placement, settable_readiness=True)
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
    echo = podnet.echo_deployment(replicas=2, placement=placement, settable_readiness=True)
    clients = podnet.probe_pods()
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


@pytest.mark.podnet_slow("watches a draining backend through two phases")
def test_terminating_pod_gets_no_new_connections_while_a_ready_pod_exists(podnet):
    """A backend being deleted while it keeps serving (a grace period, as when it drains) MUST
    turn ``ready: false, serving: true, terminating: true`` in the EndpointSlices, and requests
    to the ClusterIP MUST NOT reach it from any node while a Ready backend exists, although it
    still answers on its own IP. Once no backend is Ready (the Deployment scaled to zero, every
    Pod draining), the EndpointSlice API has consumers fall back to the serving-terminating
    endpoints: the ClusterIP MUST then be answered by them, and by nothing else.

    Upstream: "[sig-network] Services should fallback to terminating endpoints when there are
    no ready endpoints with internalTrafficPolicy=Cluster" (the no-Ready-backend phase only).
    """
    # Both backends on one node (clients on every node): a draining Pod still counts for the
    # one-per-node anti-affinity of "spread", so its replacement would find no node.
    echo = podnet.echo_deployment(replicas=2, placement="same-node", drain_seconds=DRAIN_SECONDS)
    clients = podnet.probe_pods()
    svc = podnet.service_for(echo)
    leaving, staying = podnet.pods(echo)
    both = answered_by_each_of([leaving.name, staying.name])
    podnet.converge(clients, svc, both, count=UNREADY_PROBES, context="precondition")

    with podnet.step(f"delete {leaving.ref} ({leaving.ip} on {leaving.node}); it keeps serving"):
        replacement = podnet.terminate(leaving)
        listed = podnet.wait_endpoints(svc, [staying, replacement], serving_terminating=[leaving])
    podnet.record("deleted_to_terminating_listed_s", round(listed, 3))
    following = podnet.converge(
        clients,
        svc,
        answered_but_never_by([leaving.name]),
        count=CONVERGE_PROBES,
        context=f"no longer by terminating {leaving.ref} ({leaving.ip} on {leaving.node})",
    )
    podnet.record("terminating_to_not_answering_s", round(following.slowest, 3))
    expect_never_answered_by(
        podnet, clients, svc, leaving, f"Ready {staying.ref}, {replacement.ref}"
    )
    expect_answering_on_its_own_ip(podnet, next(iter(clients.values())), leaving)

    with podnet.step(f"scale {echo.name} to zero: no Ready backend, every Pod draining"):
        draining = podnet.drain(echo)
        podnet.wait_endpoints(svc, [], serving_terminating=draining)
    names = [p.name for p in draining]
    fallback = podnet.converge(
        clients,
        svc,
        answered_only_by(names),
        count=CONVERGE_PROBES,
        context=f"no Ready backend: by the serving-terminating {names} (EndpointSlice fallback)",
    )
    podnet.record(
        "no_ready_backend_answered_by",
        sorted({r.seen_hostname or r.outcome for rs in fallback.results.values() for r in rs}),
    )


def expect_never_answered_by(podnet, clients, svc, excluded: PodInfo, others: str) -> None:
    """UNREADY_PROBES requests from each node's client to each ClusterIP, all answered, none by
    ``excluded``."""
    found = podnet.probe_each(clients, svc, request=HOSTNAME, count=UNREADY_PROBES)
    for node, results in found.items():
        client = clients[node]
        seen = Counter(r.seen_hostname if r.outcome == REACHABLE else r.outcome for r in results)
        assert answered_but_never_by([excluded.name])(results), (
            f"{len(results)} requests from {client.ref} on {node} to {svc.ref} "
            f"({', '.join(svc.cluster_ips)}) were answered {dict(seen)}; expected only by "
            f"{others}, never by terminating {excluded.ref} ({excluded.ip} on {excluded.node})"
        )


def expect_answered_only_by(podnet, clients, svc, ready: PodInfo, unready: PodInfo) -> None:
    """UNREADY_PROBES requests from each node's client to each ClusterIP, all answered by
    ``ready``: not one reaches ``unready``, and none goes unanswered."""
    found = podnet.probe_each(clients, svc, request=HOSTNAME, count=UNREADY_PROBES)
    for node, results in found.items():
        client = clients[node]
        seen = Counter(r.seen_hostname if r.outcome == REACHABLE else r.outcome for r in results)
        # UNREADY_PROBES to each of the Service's ClusterIPs (one per IP family).
        assert len(results) == UNREADY_PROBES * len(svc.cluster_ips), results
        assert seen == {ready.name: len(results)}, (
            f"{len(results)} requests from {client.ref} on {node} to {svc.ref} "
            f"({', '.join(svc.cluster_ips)}) were answered {dict(seen)}; expected only Ready "
            f"{ready.ref} ({ready.ip} on {ready.node}), never unready {unready.ref} "
            f"({unready.ip} on {unready.node})"
        )


def expect_answering_on_its_own_ip(podnet, client, unready: PodInfo) -> None:
    """The unready (or terminating) Pod still runs and answers on its Pod IP: else missing it
    proves nothing."""
    direct = podnet.probe(from_=client, to=unready, request=HOSTNAME)
    assert direct[0].seen_hostname == unready.name, (
        f"unready {unready.ref} ({unready.ip}) no longer answers on its own IP, so the check "
        f"above proves nothing: {direct[0]}"
    )
