"""Waits on real objects: named timeouts with the last state seen; no waiting on the hopeless."""

from __future__ import annotations

import re
import time

import pytest

from pytest_podnet import waits, workloads
from pytest_podnet.fixtures import Podnet

#: How much faster than its deadline a hopeless wait must give up to count as "at once".
FRACTION_OF_DEADLINE = 0.5


def test_endpoints_wait_times_out_naming_deadline_what_and_last_slice(podnet: Podnet) -> None:
    echo = podnet.echo_deployment(replicas=1)
    svc = podnet.service_for(echo)
    (pod,) = podnet.pods(echo)
    hurried = waits.Waiter(podnet.cluster, scale=0.05)

    with pytest.raises(waits.WaitTimeout) as caught:
        hurried.endpoints_exactly(svc.namespace, svc.name, {"10.244.255.254"})

    message = str(caught.value)
    assert re.match(
        rf"timed out after 1\.5s \[endpoints-propagation\] waiting for EndpointSlices of "
        rf"svc/{podnet.namespace}/echo to list exactly \{{10\.244\.255\.254\}} as ready; "
        rf"last seen:\n",
        message,
    ), message
    assert f"- {pod.ip}" in message
    assert "kind: EndpointSlice" not in message.split("\n")[0]
    assert "managedFields" not in message


def test_pod_wait_gives_up_at_once_on_an_image_that_cannot_be_pulled(podnet: Podnet) -> None:
    body = workloads.client_pod("no-image", podnet.run_id, image=podnet.image + "-missing")
    body["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    podnet.waiter.default_service_account(podnet.namespace)
    podnet.cluster.create_pod(podnet.namespace, body)
    start = time.monotonic()

    with pytest.raises(waits.Unrecoverable, match=r"\[pod-startup\].*ErrImageNeverPull"):
        podnet.waiter.pod_ready(podnet.namespace, "no-image")

    assert time.monotonic() - start < FRACTION_OF_DEADLINE * podnet.deadline("POD_STARTUP")


def test_pod_wait_gives_up_at_once_when_no_node_fits(podnet: Podnet) -> None:
    body = workloads.client_pod("nowhere", podnet.run_id, image=podnet.image, node="no-such-node")
    podnet.waiter.default_service_account(podnet.namespace)
    podnet.cluster.create_pod(podnet.namespace, body)
    start = time.monotonic()

    with pytest.raises(waits.Unrecoverable, match=r"Unschedulable"):
        podnet.waiter.pod_ready(podnet.namespace, "nowhere")

    assert time.monotonic() - start < FRACTION_OF_DEADLINE * podnet.deadline("POD_STARTUP")


@pytest.mark.filterwarnings("ignore::pytest_podnet.fixtures.PodnetInvariantWarning")
def test_pods_wait_gives_up_at_once_on_a_crash_loop(podnet: Podnet) -> None:
    body = workloads.echo_deployment("crasher", podnet.run_id, image=podnet.image, replicas=1)
    container = body["spec"]["template"]["spec"]["containers"][0]
    container["args"] = ["netexec", "--http-port=not-a-port"]
    # Never Ready, so the wait cannot catch the crashing container in a brief Ready moment.
    container["readinessProbe"] = {"tcpSocket": {"port": 1}, "periodSeconds": 1}
    podnet.cluster.create_deployment(podnet.namespace, body)
    start = time.monotonic()

    with pytest.raises(waits.Unrecoverable, match=r"CrashLoopBackOff|RunContainerError"):
        podnet.waiter.pods_settled(
            podnet.namespace, workloads.workload_selector("crasher"), 1, owner="crasher"
        )

    assert time.monotonic() - start < FRACTION_OF_DEADLINE * podnet.deadline("POD_STARTUP")


def test_deadlines_scale_with_the_timeout_scale() -> None:
    assert waits.deadline("endpoints-propagation", 2.0) == 2 * waits.ENDPOINTS_PROPAGATION.seconds
    assert waits.deadline("POD_STARTUP") == waits.POD_STARTUP.seconds
    with pytest.raises(KeyError, match="no deadline named"):
        waits.deadline("no-such-deadline")
