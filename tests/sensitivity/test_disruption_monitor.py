"""The disruption monitor on the embedded cluster: it sees an outage and NAT where faults put them.

While the monitor runs, the last node's dataplane is stopped for a while (``dataplane-stopped``);
once its paths answer again, its Pod traffic is SNATed for a while (``snat-pod-traffic``). The
monitor must report, on that node's prober, a ClusterIP outage about as long as the first fault
and NAT on its paths, and on every other node's prober neither: the arithmetic of
``disruption`` checked against a real dataplane, not only against made-up calls.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pytest_podnet.fixtures import Podnet, podnet, podnet_cluster  # noqa: F401
from pytest_podnet.localcluster import faults

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="faults need root on the local cluster")

#: Seconds each fault is held while the monitor runs.
HOLD = 6.0
#: An outage that long or shorter is noise on a busy 2-core machine: a call or two timed out.
NOISE = 2.0
#: The faults this module applies, removed after it whatever happened.
FAULTS = ("dataplane-stopped", "snat-pod-traffic")


@pytest.fixture
def no_fault_left() -> Iterator[None]:
    yield
    for name in FAULTS:
        faults.remove(name)


@pytest.mark.usefixtures("no_fault_left")
def test_monitor_reports_the_outage_and_the_nat_each_fault_caused(
    podnet: Podnet,  # noqa: F811 (the fixture imported above)
) -> None:
    faulted = podnet.nodes()[-1].name
    with podnet.disruption_monitor(lifetime=300) as monitor:
        from_faulted = {p.name: p.flow for p in monitor.paths if p.flow.source.node == faulted}
        (prober_ip,) = {f.source.ip for f in from_faulted.values()}
        with podnet.step(f"stop the dataplane of {faulted} for {HOLD:g}s"):
            faults.add("dataplane-stopped", faulted)
            podnet.flow_calls_during(from_faulted, HOLD)
            faults.remove("dataplane-stopped")
        with podnet.step(f"once its paths answer again, SNAT the Pod traffic of {faulted}"):
            podnet.wait_flows(from_faulted, answered_by=[prober_ip])
            faults.add("snat-pod-traffic", faulted)
            podnet.flow_calls_during(from_faulted, HOLD)
            faults.remove("snat-pod-traffic")

    reports = {r.path: r for r in monitor.reports}
    problems = "\n".join(monitor.verdict(budget=NOISE)) + "\n" + str(monitor)
    for how in ("new TCP connections", "UDP"):
        report = reports[f"pod -> ClusterIP ({how}) from {faulted}"]
        assert HOLD * 0.7 <= report.longest <= HOLD + 30, problems
    assert all(reports[name].nated for name in from_faulted if "pod -> pod" in name), problems
    others = [r for name, r in reports.items() if name not in from_faulted]
    assert others, problems
    assert all(r.longest <= NOISE and not r.nated for r in others), problems
