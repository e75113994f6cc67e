"""The embedded cluster is a real multi-node cluster with a flat Pod network.

These tests talk to the cluster with the kubectl built from the pinned release, independent of the
plugin layer, so a plugin bug cannot hide a cluster bug.
"""

from __future__ import annotations

import ipaddress
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_podnet.localcluster import network
from pytest_podnet.localcluster.topology import DNS_SERVICE_IP, POD_CIDR
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE, KUBERNETES_VERSION

from .conftest import Kubectl

#: Seconds kubectl waits for the test Pods to be Ready (local images, ~2-4 s each here).
PODS_READY = "120s"


def netexec_pod(name: str, node: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "echo"}},
        "spec": {
            "nodeName": node,
            "terminationGracePeriodSeconds": 1,
            "containers": [
                {
                    "name": "netexec",
                    "image": AGNHOST_IMAGE,
                    "args": ["netexec", "--http-port=8080", "--udp-port=8081"],
                }
            ],
        },
    }


@pytest.fixture(scope="module")
def workload(kubectl: Kubectl) -> Iterator[dict[str, Any]]:
    """One netexec Pod per node behind a ClusterIP Service, in a throwaway namespace."""
    namespace = f"cluster-test-{uuid.uuid4().hex[:6]}"
    nodes = [n["metadata"]["name"] for n in kubectl.json("get", "nodes")["items"]]
    kubectl("create", "namespace", namespace)
    try:
        for node in nodes:
            pod = netexec_pod(f"echo-{node}", node)
            pod["metadata"]["namespace"] = namespace
            kubectl.apply(pod)
        kubectl.apply(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "echo", "namespace": namespace},
                "spec": {
                    "selector": {"app": "echo"},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
                },
            }
        )
        kubectl(
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            "pod",
            "--all",
            f"--timeout={PODS_READY}",
        )
        pods = kubectl.json("get", "pods", "-n", namespace)["items"]
        service = kubectl.json("get", "service", "echo", "-n", namespace)
        yield {"namespace": namespace, "nodes": nodes, "pods": pods, "service": service}
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")


def exec_in(kubectl: Kubectl, namespace: str, pod: str, script: str) -> str:
    return kubectl("exec", "-n", namespace, pod, "--", "bash", "-c", script).strip()


def test_every_node_is_ready_at_the_pinned_version(kubectl: Kubectl) -> None:
    nodes = kubectl.json("get", "nodes")["items"]
    assert len(nodes) == 2
    for node in nodes:
        ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
        assert ready == "True", f"{node['metadata']['name']} is not Ready"
        assert node["status"]["nodeInfo"]["kubeletVersion"] == KUBERNETES_VERSION
    server = kubectl.json("version")["serverVersion"]["gitVersion"]
    assert server == KUBERNETES_VERSION


def test_pods_get_ips_from_their_nodes_cidr(kubectl: Kubectl, workload: dict[str, Any]) -> None:
    cidrs = {
        n["metadata"]["name"]: ipaddress.ip_network(n["spec"]["podCIDR"])
        for n in kubectl.json("get", "nodes")["items"]
    }
    assert len(set(cidrs.values())) == len(cidrs), f"nodes share a Pod CIDR: {cidrs}"
    for cidr in cidrs.values():
        assert cidr.subnet_of(ipaddress.ip_network(POD_CIDR))
    for pod in workload["pods"]:
        node, ip = pod["spec"]["nodeName"], ipaddress.ip_address(pod["status"]["podIP"])
        assert ip in cidrs[node], (
            f"{pod['metadata']['name']} on {node} got {ip}, not in {cidrs[node]}"
        )


def test_cross_node_clientip_is_the_callers_pod_ip(
    kubectl: Kubectl, workload: dict[str, Any]
) -> None:
    first, second = workload["pods"][:2]
    assert first["spec"]["nodeName"] != second["spec"]["nodeName"]
    for source, target in ((first, second), (second, first)):
        seen = exec_in(
            kubectl,
            workload["namespace"],
            source["metadata"]["name"],
            f"curl -sS --max-time 5 http://{target['status']['podIP']}:8080/clientip",
        )
        assert seen.rsplit(":", 1)[0] == source["status"]["podIP"], (
            f"{target['metadata']['name']} saw {seen}, expected {source['status']['podIP']}"
        )


def test_cluster_ip_answers_from_a_pod_on_every_node(
    kubectl: Kubectl, workload: dict[str, Any]
) -> None:
    cluster_ip = workload["service"]["spec"]["clusterIP"]
    backends = {p["metadata"]["name"] for p in workload["pods"]}
    for pod in workload["pods"]:
        # Ten requests: each lands on a random backend; any answer proves the Service path works.
        answers = exec_in(
            kubectl,
            workload["namespace"],
            pod["metadata"]["name"],
            f"for i in $(seq 10); do curl -sS --max-time 5 http://{cluster_ip}/hostname; echo;"
            " done",
        ).split()
        assert answers, f"no answer from {cluster_ip} in {pod['metadata']['name']}"
        assert set(answers) <= backends, f"unexpected answers {answers}"


def test_kubectl_run_resolves_the_api_servers_name_through_the_cluster_dns(
    kubectl: Kubectl,
) -> None:
    """A Pod that ``kubectl run`` makes (dnsPolicy ClusterFirst) asks the kube-dns ClusterIP and
    gets the ``kubernetes`` Service's ClusterIP for its name; a name outside the cluster gets no
    address, because CoreDNS here forwards nowhere."""
    api_ip = kubectl.json("get", "service", "kubernetes", "-n", "default")["spec"]["clusterIP"]
    pod = f"dns-{uuid.uuid4().hex[:6]}"
    kubectl(
        "run",
        pod,
        f"--image={AGNHOST_IMAGE}",
        "--restart=Never",
        "--command",
        "--",
        "sh",
        "-c",
        "nslookup kubernetes.default.svc.cluster.local; echo @@; "
        "nslookup example.com || echo no-answer",
    )
    try:
        # Not `run -i`: a container that is done before kubectl attaches leaves it nothing to read.
        kubectl(
            "wait",
            "--for=jsonpath={.status.phase}=Succeeded",
            f"pod/{pod}",
            f"--timeout={PODS_READY}",
        )
        output = kubectl("logs", pod)
    finally:
        kubectl("delete", "pod", pod, "--wait=false", "--ignore-not-found")
    inside, _, outside = output.partition("@@")
    assert f"Server:\t\t{DNS_SERVICE_IP}" in inside, output
    assert f"Name:\tkubernetes.default.svc.cluster.local\nAddress: {api_ip}" in inside, output
    assert "no-answer" in outside, f"a name outside the cluster resolved: {output}"


def test_nothing_left_the_machine(local_cluster: object) -> None:
    assert network.guard_drops() == 0, "the guard chain dropped cluster-range packets"
