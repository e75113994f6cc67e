"""G3: a Service is the stable address of a workload whose Pods come and go.

A Service's ClusterIP and UID MUST stay the same while every one of its backend Pods is replaced
(all Pods deleted, a rollout restart, scale to 0 and back), and the ClusterIP MUST serve again,
answered only by the new Pods, once they are Ready.

Upstream e2e has no test that asserts a ClusterIP survives a rollout; the nearest are "[sig-network]
Services should be able to up and down services" and "Services should serve a basic endpoint from
pods [Conformance]".
"""

from __future__ import annotations

import pytest

from pytest_podnet.probes import HOSTNAME, REACHABLE

pytestmark = [pytest.mark.podnet_guarantee("G3")]

#: Requests per batch while the ClusterIP converges. Each is a new connection the dataplane
#: balances afresh, so a dataplane that still sends one of two connections to a gone Pod lets a
#: batch of 8 through with probability 2^-8 (0.4%): the batch passes only once it settled.
SERVE_PROBES = 8


def scale_to_zero_and_back(podnet, echo):
    replicas = len(podnet.pods(echo))
    podnet.scale(echo, 0)
    return podnet.scale(echo, replicas)


#: How every backend is replaced: ``(podnet, echo) -> new Pods``.
REPLACE_ALL = {
    "delete-all-pods": lambda podnet, echo: podnet.replace_all_pods(echo).new,
    "rollout-restart": lambda podnet, echo: podnet.rollout_restart(echo).new,
    "scale-to-zero-and-back": scale_to_zero_and_back,
}


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
    clients = podnet.client_pods([n.name for n in podnet.nodes()])
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    svc = podnet.service_for(echo)
    podnet.expect_reachable(from_=next(iter(clients.values())), to=svc)
    old = podnet.pods(echo)

    with podnet.step(f"replace every backend of {svc.ref}: {how}"):
        new = REPLACE_ALL[how](podnet, echo)

    now = podnet.read(svc)
    assert (now.uid, now.cluster_ips) == (svc.uid, svc.cluster_ips), (
        f"G3: {svc.ref} was uid {svc.uid} ClusterIP {svc.cluster_ips} before {how} replaced "
        f"{[p.ref for p in old]}, is uid {now.uid} ClusterIP {now.cluster_ips} after"
    )
    assert not {p.uid for p in old} & {p.uid for p in new}, f"G3: {how} replaced no Pod"
    podnet.record("replaced_to_listed_s", round(podnet.wait_endpoints(svc, new), 3))
    names = {p.name for p in new}
    serving = [
        podnet.probe_until(
            from_=client,
            to=svc,
            request=HOSTNAME,
            count=SERVE_PROBES,
            done=lambda rs: all(r.outcome == REACHABLE and r.seen_hostname in names for r in rs),
            what=f"G3: {svc.ref} ({svc.cluster_ip}) to be answered again from {client.ref} on "
            f"{node}, only by the new Pods {sorted(names)} "
            f"(replaced: {sorted(p.name for p in old)})",
            deadline="DATAPLANE_PROPAGATION",
        )[0]
        for node, client in clients.items()
    ]
    podnet.record("listed_to_serving_s", round(max(serving), 3))
