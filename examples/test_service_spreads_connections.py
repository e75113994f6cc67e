"""Our own check beside the packaged suites: a Service MUST spread new connections over every
Ready backend (a load-balancing expectation of this platform team, not a pytest-podnet guarantee).

Written only against the ``podnet`` façade, like the packaged suites. The ``podnet_guarantee``
marker makes it count in the G3 row of the verdict; without it, it runs outside the verdict.
"""

from __future__ import annotations

import pytest

from pytest_podnet.probes import HOSTNAME, REACHABLE

pytestmark = [pytest.mark.podnet_guarantee("G3")]

#: New connections from one client. With 2 backends a fair dataplane leaves one of them
#: unanswered with probability 2 * 2^-24 (1 in 8 million): a miss means it does not balance.
CONNECTIONS = 24


def answered_by(results):
    return {r.seen_hostname for r in results if r.outcome == REACHABLE}


def test_service_spreads_new_connections_over_every_ready_backend(podnet):
    echo = podnet.echo_deployment(replicas=2, placement="same-node")
    svc = podnet.service_for(echo)
    client = podnet.client_pod()
    backends = {pod.name for pod in podnet.pods(echo)}

    with podnet.step(f"wait until {svc.ref} answers from every backend on {client.node}"):
        seconds, _ = podnet.probe_until(
            from_=client,
            to=svc,
            request=HOSTNAME,
            count=CONNECTIONS,
            done=lambda results: answered_by(results) == backends,
            what=f"{svc.ref} answered by every backend {sorted(backends)}",
            deadline="DATAPLANE_PROPAGATION",
        )
    podnet.record("spread_seconds", round(seconds, 2))

    with podnet.step(f"open {CONNECTIONS} new connections to {svc.ref}"):
        results = podnet.probe(from_=client, to=svc, request=HOSTNAME, count=CONNECTIONS)

    failed = [r for r in results if r.outcome != REACHABLE]
    assert not failed, f"{len(failed)} of {CONNECTIONS} connections to {svc.ref} failed: {failed}"
    assert answered_by(results) == backends, (
        f"{CONNECTIONS} connections from {client.ref} to {svc.ref} ({svc.cluster_ip}) were "
        f"answered by {sorted(answered_by(results))}, expected every Ready backend "
        f"{sorted(backends)}"
    )
