"""G3: a Service is the stable address of a workload whose Pods come and go.

A Service's ClusterIP and UID MUST stay the same while every one of its backend Pods is replaced
(all Pods deleted, a rollout restart, scale to 0 and back), and the ClusterIP MUST serve again,
answered only by the new Pods, once they are Ready. A UDP client that keeps sending to the
ClusterIP from one socket MUST move to the new backend too: a conntrack entry that outlives its
backend keeps such a client on a gone Pod's IP. The Service's DNS name (what users configure)
MUST resolve to that ClusterIP and reach the new Pods the same way.

Upstream e2e has no test that asserts a ClusterIP survives a rollout; the nearest are "[sig-network]
Services should be able to up and down services" and "Services should serve a basic endpoint from
pods [Conformance]". The UDP flow check maps to "[sig-network] Conntrack should be able to preserve
UDP traffic when server pod cycles for a ClusterIP service"; the name check to "[sig-network] DNS
should provide DNS for services [Conformance]", which never replaces the backends.
"""

from __future__ import annotations

import pytest

from pytest_podnet.facade import Replacement
from pytest_podnet.flows import outage
from pytest_podnet.kube import ServiceInfo
from pytest_podnet.probes import answered_only_by
from pytest_podnet.workloads import OnNode

pytestmark = [pytest.mark.podnet_guarantee("G3")]

#: Requests per batch while the ClusterIP converges. Each is a new connection the dataplane
#: balances afresh, so a dataplane that still sends one of two connections to a gone Pod lets a
#: batch of 8 through with probability 2^-8 (0.4%): the batch passes only once it settled.
SERVE_PROBES = 8
#: Calls in a row a UDP flow must get answered by the new backend: one datagram let through while
#: a stale conntrack entry is being replaced does not make a flow that moved.
FLOW_ANSWERED_IN_A_ROW = 5
#: Seconds the flows run once their Service lists no endpoint, before a Pod of another workload
#: starts: the dataplane drops a flow's conntrack entry for the gone Pod within one sync of the
#: EndpointSlice change (kube-proxy: well under a second); 2 s leave it room before anything can
#: take the gone Pod's IP.
FLOW_WINDOW_BEFORE_REUSE = 2.0
#: Seconds the flows are watched once the other workload's Pod is Ready (a reply takes
#: milliseconds; an unanswered call gives up after flows.CALL_TIMEOUT).
FLOW_WINDOW_WATCHED = 3.0


def changed(before: ServiceInfo, after: ServiceInfo, how: str, replaced: Replacement) -> str:
    return (
        f"{before.ref} was uid {before.uid} ClusterIP {before.cluster_ips} before {how} replaced "
        f"{[p.ref for p in replaced.old]}, is uid {after.uid} ClusterIP {after.cluster_ips} after"
    )


@pytest.mark.parametrize(
    "how",
    [
        pytest.param("delete-all-pods", marks=pytest.mark.podnet_quick),
        "rollout-restart",
        "scale-to-zero-and-back",
    ],
)
def test_cluster_ip_survives_replacement_of_every_backend(podnet, placement, how):
    """The ClusterIP and UID of a Service MUST NOT change when every backend Pod is replaced,
    and the ClusterIP MUST serve again, answered only by the new Pods, from every node (each
    node's dataplane is programmed on its own, so one node serving proves nothing for another)."""
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    clients = podnet.probe_pods()
    svc = podnet.service_for(echo)
    podnet.expect_reachable(from_=next(iter(clients.values())), to=svc)

    with podnet.step(f"replace every backend of {svc.ref}: {how}"):
        replaced = podnet.replace(echo, how)

    now = podnet.read(svc)
    assert (now.uid, now.cluster_ips) == (svc.uid, svc.cluster_ips), changed(
        svc, now, how, replaced
    )
    assert not replaced.kept, f"{how} did not replace {replaced.kept}"
    # Every family's ClusterIP (two on a dual-stack cluster): each is probed below.
    podnet.record("cluster_ips", list(svc.cluster_ips))
    podnet.record("replaced_to_listed_s", round(podnet.wait_endpoints(svc, replaced.new), 3))
    serving = podnet.converge(
        clients,
        svc,
        answered_only_by(p.name for p in replaced.new),
        count=SERVE_PROBES,
        context=f"the new Pods; replaced: {sorted(p.name for p in replaced.old)}",
    )
    podnet.record("listed_to_serving_s", round(serving.slowest, 3))


@pytest.mark.podnet_slow("follows UDP and TCP flows across a replacement")
def test_udp_and_tcp_flows_to_a_cluster_ip_move_to_the_replacement_backend(podnet):
    """A UDP client that keeps sending to a ClusterIP from one source port (one conntrack entry
    for the whole flow) MUST be answered by the new backend once the old one is replaced and the
    new one listed, from every node: the dataplane must drop the flow's entry for the gone Pod
    (kube-proxy deletes it), or the flow stays on the gone Pod's IP for as long as it keeps
    sending. The same for a TCP client that reconnects for every call. The outage of each (last
    answer from the old Pod to first from the new) is recorded per node."""
    echo = podnet.echo_deployment(replicas=1)
    clients = podnet.probe_pods()
    svc = podnet.service_for(echo)
    (old,) = podnet.pods(echo)
    udp = podnet.udp_flows(clients, svc, answered_by=[old.name])
    tcp = podnet.tcp_flows(clients, svc, answered_by=[old.name])

    with podnet.step(f"replace {old.ref} ({old.ip} on {old.node}) while the flows run"):
        new = podnet.delete_pod(old)
        podnet.wait_endpoints(svc, [new])

    took = podnet.wait_flows(
        {**udp, **{f"{key} TCP": flow for key, flow in tcp.items()}},
        answered_by=[new.name],
        in_a_row=FLOW_ANSWERED_IN_A_ROW,
        context=f"{new.ip}, the replacement of {old.name} ({old.ip}); a flow that stays "
        "unanswered is still sent to the gone Pod's IP (a UDP flow: a stale conntrack entry?)",
    )
    podnet.record("listed_to_flow_moved_s", round(max(took[key] for key in udp), 3))
    for kind, running in (("udp", udp), ("tcp", tcp)):
        calls = podnet.flow_calls_of(running)
        podnet.record(
            f"{kind}_flow_outage_s",
            {key: outage(calls[key], before=[old.name], after=[new.name]) for key in running},
        )


@pytest.mark.podnet_slow(
    f"watches UDP flows for {FLOW_WINDOW_BEFORE_REUSE + FLOW_WINDOW_WATCHED:g} s of windows"
)
def test_udp_flow_to_a_gone_backend_never_reaches_a_pod_of_another_workload(podnet):
    """A UDP flow to a ClusterIP whose only backend is gone MUST NOT be answered by anyone, not
    even by a Pod of another workload that now holds the gone Pod's IP: a Service without
    endpoints serves nobody. The dataplane must drop the flow's conntrack entry for the gone
    Pod; an entry that outlives its Pod keeps sending the flow to that Pod's IP, and once the
    node hands the IP to its next Pod, datagrams meant for one workload land in another
    (kube-proxy from v1.32 keeps the entry when the Service drops to zero endpoints:
    kubernetes#139628). Recorded: whether the other Pod got the gone Pod's IP (IPAM hands IPs
    out round-robin, so on most clusters it does not, and the check then shows only that the
    flow reaches nobody; the sensitivity tests force the reuse with the ``ip-reuse`` fault)."""
    echo = podnet.echo_deployment(replicas=1)
    clients = podnet.probe_pods()
    svc = podnet.service_for(echo)
    (gone,) = podnet.pods(echo)
    udp = podnet.udp_flows(clients, svc, answered_by=[gone.name])

    with podnet.step(f"scale {echo.name} to 0: {gone.ref} ({gone.ip} on {gone.node}) goes"):
        podnet.scale(echo, 0)
        podnet.wait_endpoints(svc, [])
        podnet.flow_calls_during(udp, FLOW_WINDOW_BEFORE_REUSE)
    with podnet.step(f"start a Pod of another workload on {gone.node} while the flows run"):
        (other,) = podnet.pods(
            podnet.echo_deployment(replicas=1, placement=OnNode(gone.node), name="other")
        )
        reused = sorted(set(other.ips) & set(gone.ips))
        # A Pod that starts speaks first, as real ones do (a DNS lookup, a connection out), so
        # its node learns its MAC even for an IP whose neighbour entry still names the gone
        # Pod's; then it answers on its IP: a flow still sent to that IP would reach it.
        podnet.expect_reachable(other, list(clients.values()))
        podnet.expect_reachable(clients, other)
        seen = podnet.flow_calls_during(udp, FLOW_WINDOW_WATCHED)

    podnet.record("other_pod_got_the_gone_pod_ip", bool(reused))
    answered = {node: [c for c in calls if c.answered_by] for node, calls in seen.items()}
    holder = f", which holds the gone Pod's IP {', '.join(reused)}" if reused else ""
    assert not any(answered.values()), (
        f"{svc.ref} ({svc.cluster_ip}) lists no endpoint since its only backend {gone.ref} "
        f"({gone.ip} on {gone.node}) is gone, yet UDP flows to it were answered after "
        f"{other.ref} of another workload ({other.ip} on {other.node}{holder}) started; "
        "the flows' conntrack entries for the gone Pod outlived it:\n"
        + "\n".join(
            f"  {udp[node]}: {len(calls)} of {len(seen[node])} calls answered, by "
            f"{sorted({c.answered_by or '' for c in calls})}"
            for node, calls in answered.items()
            if calls
        )
    )


def test_service_name_resolves_to_its_cluster_ip_across_replacement(podnet):
    """A Service's DNS name MUST resolve, from every node, to its ClusterIP: the fully qualified
    name (``<svc>.<ns>.svc.<cluster domain>``) and the short name from the Service's namespace.
    A client that uses only the name MUST be answered by the Service's Pods: by the old ones
    before every backend is replaced, by the new ones after, at the same ClusterIP."""
    echo = podnet.echo_deployment(replicas=2)
    clients = podnet.client_pods([n.name for n in podnet.nodes()])
    svc = podnet.service_for(echo)
    names = podnet.service_names(svc, next(iter(clients.values())))
    old = [p.name for p in podnet.pods(echo)]
    podnet.converge(clients, svc, answered_only_by(old), count=SERVE_PROBES)
    podnet.record(
        "created_to_name_resolved_s",
        round(podnet.names_converge(clients, names, svc, answered_by=old), 3),
    )

    with podnet.step(f"replace every backend of {svc.ref}, called by {' and '.join(names)}"):
        replaced = podnet.replace(echo, "delete-all-pods")
    new = [p.name for p in replaced.new]
    podnet.wait_endpoints(svc, replaced.new)
    podnet.converge(clients, svc, answered_only_by(new), count=SERVE_PROBES)

    calls = podnet.call_by_name(clients, names)
    wrong = [c for c in calls if c.address not in svc.cluster_ips or c.answered_by not in new]
    assert not wrong, (
        f"{len(wrong)} of {len(calls)} calls by name did not reach {svc.ref} at its ClusterIP "
        f"{' or '.join(svc.cluster_ips)}, answered by the new Pods {new}, after {old} were "
        "replaced:\n" + "\n".join(f"  {c}" for c in wrong)
    )
    podnet.record("names", list(names))
