"""The JSON-to-value-object parsers of ``kube`` and its error mapping, offline (no cluster)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import urllib3

from pytest_podnet import kube

POD = {
    "metadata": {
        "namespace": "ns",
        "name": "echo-1",
        "uid": "u-1",
        "labels": {"podnet.io/workload": "echo"},
        "creationTimestamp": "2026-01-02T03:04:05Z",
    },
    "spec": {"nodeName": "podnet-node-1"},
    "status": {
        "phase": "Running",
        "podIP": "10.244.1.7",
        "podIPs": [{"ip": "10.244.1.7"}, {"ip": "fd00::7"}],
        "conditions": [{"type": "Ready", "status": "True"}],
        "containerStatuses": [{"restartCount": 2}, {"restartCount": 1}],
    },
}


def test_pod_info_reads_every_family_readiness_restarts_and_age() -> None:
    pod = kube.pod_info(POD)

    assert pod == kube.PodInfo(
        "ns", "echo-1", "u-1", "10.244.1.7", ("10.244.1.7", "fd00::7"), "podnet-node-1",
        "Running", True, 3,
    )  # fmt: skip
    assert pod.ref == "pod/ns/echo-1"
    assert pod.labels == {"podnet.io/workload": "echo"}
    assert pod.created == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert (pod.terminating, pod.host_network) == (False, False)


def test_pod_info_of_a_pending_terminating_host_network_pod() -> None:
    raw = {
        "metadata": {"name": "p", "deletionTimestamp": "2026-01-02T03:04:05Z"},
        "spec": {"hostNetwork": True},
        "status": {"phase": "Pending", "conditions": [{"type": "Ready", "status": "False"}]},
    }

    pod = kube.pod_info(raw)

    assert (pod.ip, pod.ips, pod.node, pod.ready) == (None, (), None, False)
    assert (pod.terminating, pod.host_network, pod.restarts) == (True, True, 0)


def test_pod_info_falls_back_to_pod_ip_without_pod_ips() -> None:
    raw = {"metadata": {"name": "p"}, "status": {"podIP": "10.244.2.3"}}

    assert kube.pod_info(raw).ips == ("10.244.2.3",)


def test_service_info_reads_cluster_ips_and_ports_and_headless_has_none() -> None:
    raw = {
        "metadata": {"namespace": "ns", "name": "echo", "uid": "s-1"},
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10", "fd00:96::a"],
            "selector": {"app": "echo"},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "udp", "protocol": "UDP", "port": 81},
            ],
        },
    }
    headless = {"metadata": {"name": "h"}, "spec": {"clusterIP": "None"}}

    svc = kube.service_info(raw)

    assert (svc.ref, svc.cluster_ip, svc.cluster_ips) == (
        "svc/ns/echo",
        "10.96.0.10",
        ("10.96.0.10", "fd00:96::a"),
    )
    assert svc.port("udp") == kube.ServicePort("udp", "UDP", 81, 81)
    assert svc.port("TCP").target_port == 8080
    with pytest.raises(LookupError, match="no SCTP port"):
        svc.port("sctp")
    assert (kube.service_info(headless).cluster_ip, kube.service_info(headless).cluster_ips) == (
        None,
        (),
    )


def test_deployment_info_reads_spec_status_and_image() -> None:
    raw = {
        "metadata": {"namespace": "ns", "name": "echo", "uid": "d-1", "generation": 3},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "echo"}},
            "template": {"spec": {"containers": [{"name": "netexec", "image": "agnhost:2.63"}]}},
        },
        "status": {
            "observedGeneration": 2,
            "updatedReplicas": 1,
            "readyReplicas": 2,
            "availableReplicas": 2,
            "replicas": 3,
        },
    }

    info = kube.deployment_info(raw)

    assert info == kube.DeploymentInfo(
        "ns", "echo", "d-1", 2, {"app": "echo"}, 3, 2, 1, 2, 2, 3, "agnhost:2.63"
    )
    assert kube.deployment_info({"metadata": {"name": "x"}}).replicas == 1


def test_node_info_reads_address_cidrs_and_blocking_taints() -> None:
    raw = {
        "metadata": {"name": "podnet-node-1"},
        "spec": {"podCIDR": "10.244.1.0/24", "taints": [{"effect": "PreferNoSchedule"}]},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "podnet-node-1"},
                {"type": "InternalIP", "address": "172.30.0.11"},
            ],
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    tainted = {"metadata": {"name": "cp"}, "spec": {"taints": [{"effect": "NoSchedule"}]}}
    cordoned = {"metadata": {"name": "c"}, "spec": {"unschedulable": True}}

    node = kube.node_info(raw)

    assert node == kube.NodeInfo("podnet-node-1", "172.30.0.11", ("10.244.1.0/24",), True, True)
    assert kube.node_info(tainted).schedulable is False
    assert kube.node_info(cordoned).schedulable is False
    assert kube.node_info(cordoned).ready is False


def test_endpoint_set_merges_slices_and_counts_an_unset_ready_as_ready() -> None:
    slices = [
        {
            "metadata": {"name": "echo-b"},
            "endpoints": [
                {"addresses": ["10.244.1.7"], "conditions": {"ready": True}},
                {"addresses": ["10.244.2.8"], "conditions": {"ready": False}},
            ],
        },
        {"metadata": {"name": "echo-a"}, "endpoints": [{"addresses": ["10.244.3.9"]}]},
        {"metadata": {"name": "echo-c"}, "endpoints": None},
    ]

    endpoints = kube.endpoint_set("svc/ns/echo", slices)

    assert endpoints.ready_ips == {"10.244.1.7", "10.244.3.9"}
    assert endpoints.not_ready_ips == {"10.244.2.8"}
    assert endpoints.slices == ("echo-a", "echo-b", "echo-c")


def test_endpoint_set_lists_an_address_ready_in_one_slice_only_as_ready() -> None:
    slices = [
        {"endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": False}}]},
        {"endpoints": [{"addresses": ["10.244.1.7"], "conditions": {"ready": True}}]},
    ]

    endpoints = kube.endpoint_set("svc/ns/echo", slices)

    assert (endpoints.ready_ips, endpoints.not_ready_ips) == ({"10.244.1.7"}, frozenset())


def test_event_info_flattens_the_involved_object_and_picks_the_latest_time() -> None:
    raw = {
        "metadata": {"namespace": "ns", "creationTimestamp": "2026-01-01T00:00:00Z"},
        "involvedObject": {"kind": "Pod", "name": "echo-1"},
        "type": "Warning",
        "reason": "BackOff",
        "message": " Back-off pulling image \n",
        "count": 4,
        "lastTimestamp": "2026-01-01T00:05:00Z",
    }

    event = kube.event_info(raw)

    assert event == kube.EventInfo(
        "ns",
        "pod/echo-1",
        "Warning",
        "BackOff",
        "Back-off pulling image",
        4,
        datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
    )
    assert kube.event_info({"metadata": {}}).count == 1
    assert kube.event_info({"metadata": {}}).involved == "?/?"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (404, kube.NotFound),
        (409, kube.Conflict),
        (401, kube.Forbidden),
        (403, kube.Forbidden),
        (422, kube.Invalid),
        (500, kube.KubeError),
    ],
)
def test_domain_error_maps_api_statuses_and_keeps_the_server_message(
    status: int, error: type[kube.KubeError]
) -> None:
    exc = kube.errors.k8s.ApiException(status=status, reason="Reason")
    exc.body = '{"message": "pods \\"echo-1\\" is forbidden: nope"}'

    mapped = kube._domain_error(exc, "read pod/ns/echo-1")

    assert type(mapped) is error
    assert mapped.status == status
    assert str(mapped) == f'read pod/ns/echo-1: {status} pods "echo-1" is forbidden: nope'


def test_domain_error_reads_a_refused_exec_upgrade_and_a_connection_failure() -> None:
    upgrade = kube.errors.k8s.ApiException(status=0, reason="Handshake status 403 Forbidden\nmore")
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]

    exec_error = kube._domain_error(upgrade, "exec in pod/ns/client")
    unreachable = kube._domain_error(refused, "list pods")

    assert type(exec_error) is kube.Forbidden
    assert str(exec_error) == "exec in pod/ns/client: 403 Handshake status 403 Forbidden"
    assert type(unreachable) is kube.Unreachable
    assert str(unreachable).startswith("list pods: NewConnectionError: ")


def _refused_exec(status: str, body: str) -> Exception:
    """An exec upgrade the server refused, as the websocket client reports it (status 0)."""
    headers = "{'content-type': 'application/json'}"
    reason = f"Handshake status {status} -+-+- {headers} -+-+- {body}\n"
    return kube.errors.k8s.ApiException(status=0, reason=reason)


@pytest.mark.parametrize(
    ("status", "body", "transient"),
    [
        # The node's kubelet has just restarted and not yet synced its Pods (a node upgrade).
        ("404 Not Found", "pod does not exist", True),
        # The API server cannot reach the kubelet: it is restarting.
        (
            "500 Internal Server Error",
            '{"message":"error dialing backend: dial tcp '
            '172.30.0.12:10250: connect: connection refused","code":500}',
            True,
        ),
        ("503 Service Unavailable", '{"message":"the server is shutting down"}', True),
        # The Pod is gone: the API server's own 404, a JSON Status.
        ("404 Not Found", '{"kind":"Status","message":"pods \\"p\\" not found"}', False),
        # The kubelet's 500 for a container that is not running: retrying will not help.
        ("500 Internal Server Error", "container is not created or running", False),
        ("400 Bad Request", '{"message":"container nope is not valid for pod p"}', False),
        ("403 Forbidden", "pod does not exist", False),
    ],
)
def test_only_exec_refusals_that_pass_by_themselves_are_retried(
    status: str, body: str, transient: bool
) -> None:
    refused = _refused_exec(status, body)

    mapped = kube._domain_error(refused, "exec in pod/ns/p")

    assert kube.errors._is_transient(refused) is transient
    assert mapped.status == int(status.split()[0])
    assert str(mapped).startswith(
        f"exec in pod/ns/p: {status.split()[0]} Handshake status {status}"
    )
