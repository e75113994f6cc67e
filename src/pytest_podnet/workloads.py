"""Builders for the objects podnet creates, from the package-data manifests.

The YAML files in ``pytest_podnet/manifests/`` hold everything fixed about a workload (ports,
security context, readiness probe, rollout strategy); the builders here fill in what varies (names,
labels, image, replicas, placement) by setting fields on the loaded structure, never by text
templating. Every object, and every Pod a Deployment makes, carries
``app.kubernetes.io/managed-by=pytest-podnet`` and ``podnet.io/run=<run id>``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final, Literal

import yaml

from pytest_podnet.kube import MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL

Manifest = dict[str, Any]

#: Label naming the workload a Pod belongs to; the selector of its Deployment and Service.
WORKLOAD_LABEL: Final = "podnet.io/workload"
#: Label naming the role of a Pod (``echo`` or ``client``).
ROLE_LABEL: Final = "podnet.io/role"
#: Annotation carrying the pytest node id that created the object.
TEST_ANNOTATION: Final = "podnet.io/test"
CONTAINER: Final = "netexec"
HTTP_PORT: Final = 8080
UDP_PORT: Final = 8081
SERVICE_HTTP_PORT: Final = 80
SERVICE_UDP_PORT: Final = 81
#: The file whose presence makes a Pod of settable readiness fail its readiness probe (in an
#: emptyDir volume; ``settable-readiness-probe.yaml``).
UNREADY_FILE: Final = "/tmp/podnet/unready"
#: Label on the Pods whose readiness a check can switch (value ``settable``).
READINESS_LABEL: Final = "podnet.io/readiness"
SETTABLE: Final = "settable"
#: One Pod per node: the echo Pods of a workload repel each other by hostname.
SPREAD: Final = "spread"
#: Every replica on one node (the first schedulable one).
SAME_NODE: Final = "same-node"


@dataclass(frozen=True)
class OnNode:
    """Every replica pinned to ``node`` (required node affinity by node name)."""

    node: str


#: Where an echo Deployment's replicas go: ``"spread"``, ``"same-node"`` or ``OnNode(name)``.
Placement = Literal["spread", "same-node"] | OnNode


@cache
def _load(name: str) -> Manifest:
    text = resources.files("pytest_podnet").joinpath("manifests", name).read_text("utf-8")
    manifest: Manifest = yaml.safe_load(text)
    return manifest


def manifest(name: str) -> Manifest:
    """A fresh, mutable copy of a package-data manifest (``echo-deployment.yaml``, ...)."""
    return copy.deepcopy(_load(name))


def labels(run_id: str, **extra: str) -> dict[str, str]:
    """The labels every podnet object carries, plus ``extra``."""
    return {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id, **extra}


def namespace(
    name: str, run_id: str, *, test: str | None = None, enforce: str = "restricted"
) -> Manifest:
    """A test namespace; Pod Security ``enforce`` level ``restricted`` unless asked otherwise."""
    ns = manifest("namespace.yaml")
    ns["metadata"]["name"] = name
    ns["metadata"]["labels"] = {
        **ns["metadata"]["labels"],
        "pod-security.kubernetes.io/enforce": enforce,
        **labels(run_id),
    }
    if test:
        ns["metadata"]["annotations"] = {TEST_ANNOTATION: test}
    return ns


def node_affinity(*nodes: str) -> Manifest:
    """Required node affinity to exactly ``nodes``, by name (``metadata.name`` field; one term
    per node, since a field selector takes one value).

    Matching the field rather than the ``kubernetes.io/hostname`` label keeps it exact on clouds
    where the two differ, and it goes through the scheduler (unlike ``nodeName``).
    """
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}
                    for node in nodes
                ]
            }
        }
    }


def spread_affinity(selector: dict[str, str]) -> Manifest:
    """Required anti-affinity: no two Pods matching ``selector`` on one node."""
    return {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {
                    "labelSelector": {"matchLabels": dict(selector)},
                    "topologyKey": "kubernetes.io/hostname",
                }
            ]
        }
    }


def netexec_pod_spec(
    image: str, *, node: str | None = None, settable_readiness: bool = False
) -> Manifest:
    """The netexec Pod spec shared by echo and client Pods, pinned to ``node`` if given.

    Ready once its container runs (no readiness probe); with ``settable_readiness``, Ready
    unless ``UNREADY_FILE`` exists (an exec probe, a runtime exec per second: only for Pods
    whose readiness a check switches)."""
    spec = manifest("netexec-pod-spec.yaml")
    spec["containers"][0]["image"] = image
    if settable_readiness:
        spec["containers"][0]["readinessProbe"] = manifest("settable-readiness-probe.yaml")
    if node is not None:
        spec["affinity"] = node_affinity(node)
    return spec


def workload_selector(name: str) -> dict[str, str]:
    """The labels selecting the Pods of workload ``name``."""
    return {WORKLOAD_LABEL: name}


def echo_deployment(
    name: str,
    run_id: str,
    *,
    image: str,
    replicas: int,
    node: str | None = None,
    test: str | None = None,
    drain_seconds: int = 0,
    settable_readiness: bool = False,
) -> Manifest:
    """An agnhost netexec Deployment: every replica pinned to ``node`` if given, otherwise at
    most one replica on a node (required anti-affinity).

    ``drain_seconds``: a deleted Pod keeps running and serving that long (netexec
    ``--delay-shutdown``; its grace period is 5 s longer), as a backend draining its connections
    would; 0: it exits at once. Such a Pod gets the settable readiness probe, which keeps
    passing while it drains, so its endpoint turns serving-terminating whatever the kubelet
    does with the readiness of a terminating Pod without one. ``settable_readiness``: see
    ``netexec_pod_spec``; its Pods are labelled ``READINESS_LABEL=settable``."""
    settable_readiness = settable_readiness or bool(drain_seconds)
    selector = workload_selector(name)
    deployment = manifest("echo-deployment.yaml")
    meta = deployment["metadata"]
    meta["name"] = name
    meta["labels"] = labels(run_id, **selector, **{ROLE_LABEL: "echo"})
    if test:
        meta["annotations"] = {TEST_ANNOTATION: test}
    deployment["spec"]["replicas"] = replicas
    deployment["spec"]["selector"]["matchLabels"] = selector
    template = deployment["spec"]["template"]
    pod_labels = labels(run_id, **selector, **{ROLE_LABEL: "echo"})
    if settable_readiness:
        pod_labels[READINESS_LABEL] = SETTABLE
    template["metadata"]["labels"] = pod_labels
    template["spec"] = netexec_pod_spec(image, node=node, settable_readiness=settable_readiness)
    if node is None:
        template["spec"]["affinity"] = spread_affinity(selector)
    if drain_seconds:
        template["spec"]["terminationGracePeriodSeconds"] = drain_seconds + 5
        template["spec"]["containers"][0]["args"].append(f"--delay-shutdown={drain_seconds}")
    return deployment


def daemonset(
    name: str,
    run_id: str,
    *,
    image: str,
    role: str,
    nodes: Sequence[str],
    test: str | None = None,
) -> Manifest:
    """An agnhost netexec DaemonSet: one Pod on each of ``nodes``, with the echo Pods' spec
    (readiness probe, restricted security context). Drains leave DaemonSet Pods in place
    (``kubectl drain --ignore-daemonsets``, as kubeadm's upgrade runbook drains), so the
    disruption monitor keeps watching a node through its own turn of an upgrade."""
    selector = workload_selector(name)
    pod_labels = labels(run_id, **selector, **{ROLE_LABEL: role})
    meta: Manifest = {"name": name, "labels": pod_labels}
    if test:
        meta["annotations"] = {TEST_ANNOTATION: test}
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": meta,
        "spec": {
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": {**netexec_pod_spec(image), "affinity": node_affinity(*nodes)},
            },
        },
    }


def client_pod(
    name: str, run_id: str, *, image: str, node: str | None = None, test: str | None = None
) -> Manifest:
    """A netexec Pod to send probes from, pinned to ``node`` if given."""
    pod = manifest("client-pod.yaml")
    pod["metadata"]["name"] = name
    pod["metadata"]["labels"] = labels(run_id, **workload_selector(name), **{ROLE_LABEL: "client"})
    if test:
        pod["metadata"]["annotations"] = {TEST_ANNOTATION: test}
    pod["spec"] = netexec_pod_spec(image, node=node)
    return pod


def host_network_pod(
    name: str, run_id: str, *, image: str, node: str, test: str | None = None
) -> Manifest:
    """A hostNetwork Pod on ``node`` to probe from: agnhost ``pause``, which binds nothing, so
    it never collides with the node's own ports; no declared ports."""
    pod = client_pod(name, run_id, image=image, node=node, test=test)
    pod["metadata"]["labels"][ROLE_LABEL] = "host-network"
    spec = pod["spec"]
    spec["hostNetwork"] = True
    container = spec["containers"][0]
    container["args"] = ["pause"]
    container.pop("ports", None)
    return pod


def service(
    name: str,
    run_id: str,
    *,
    selector: dict[str, str],
    test: str | None = None,
    dual_stack: bool = False,
) -> Manifest:
    """A ClusterIP Service: TCP 80 -> 8080 (HTTP), UDP 81 -> 8081; one ClusterIP per family the
    cluster has with ``dual_stack``."""
    svc = manifest("service.yaml")
    if dual_stack:
        svc["spec"]["ipFamilyPolicy"] = "PreferDualStack"
    svc["metadata"]["name"] = name
    svc["metadata"]["labels"] = labels(run_id, **{ROLE_LABEL: "service"})
    if test:
        svc["metadata"]["annotations"] = {TEST_ANNOTATION: test}
    svc["spec"]["selector"] = dict(selector)
    return svc
