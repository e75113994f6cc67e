"""The embedded cluster's DNS: CoreDNS behind the ``kube-dns`` ClusterIP, for the cluster only.

CoreDNS (built from Go modules, ``build.build_coredns``; image ``images.build_coredns_image``)
runs as a Deployment in ``kube-system`` with upstream's RBAC, behind the ``kube-dns`` Service at
``DNS_SERVICE_IP``, which every kubelet names as ``clusterDNS``. Its Corefile serves the cluster
domain and the reverse zones from the API (the ``kubernetes`` plugin) and nothing else: it has no
``forward``, so no query ever leaves the cluster, and a name outside it is refused.
"""

from __future__ import annotations

from typing import Any

from pytest_podnet.localcluster.topology import CLUSTER_DOMAIN, DNS_SERVICE_IP
from pytest_podnet.localcluster.versions import COREDNS_IMAGE

NAMESPACE = "kube-system"
NAME = "coredns"
#: The port CoreDNS listens on in its Pod: above 1024, so it needs no capability; the Service
#: maps port 53 to it.
LISTEN_PORT = 1053
#: The ``ready`` plugin's port: ready once the ``kubernetes`` plugin has synced with the API.
READY_PORT = 8181
#: From apply to the CoreDNS Pod Ready: image present, the API synced; seconds on a warm node.
COREDNS_READY = 120.0

COREFILE = f""".:{LISTEN_PORT} {{
    errors
    ready :{READY_PORT}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        ttl 5
    }}
}}
"""

_LABELS = {"k8s-app": "kube-dns", "app.kubernetes.io/managed-by": "podnet-cluster"}
_SELECTOR = {"k8s-app": "kube-dns"}


def manifests(corefile: str = COREFILE) -> dict[str, Any]:
    """Every object of the cluster DNS, as one ``List``."""
    meta = {"name": NAME, "namespace": NAMESPACE, "labels": _LABELS}
    rules = [
        {
            "apiGroups": [""],
            "resources": ["endpoints", "services", "pods", "namespaces"],
            "verbs": ["list", "watch"],
        },
        {
            "apiGroups": ["discovery.k8s.io"],
            "resources": ["endpointslices"],
            "verbs": ["list", "watch"],
        },
    ]
    container = {
        "name": NAME,
        "image": COREDNS_IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": ["-conf", "/etc/coredns/Corefile"],
        "ports": [
            {"name": "dns", "containerPort": LISTEN_PORT, "protocol": "UDP"},
            {"name": "dns-tcp", "containerPort": LISTEN_PORT, "protocol": "TCP"},
        ],
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": READY_PORT},
            "periodSeconds": 1,
            "failureThreshold": 1,
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "config", "mountPath": "/etc/coredns", "readOnly": True}],
    }
    pod_spec = {
        "serviceAccountName": NAME,
        # CoreDNS resolves nothing itself; Default gives it the kubelet's loopback-only file.
        "dnsPolicy": "Default",
        "priorityClassName": "system-cluster-critical",
        "terminationGracePeriodSeconds": 5,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "config", "configMap": {"name": NAME}}],
    }
    items = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"podnet:{NAME}", "labels": _LABELS},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"podnet:{NAME}", "labels": _LABELS},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": f"podnet:{NAME}",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": meta,
            "data": {"Corefile": corefile},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": _SELECTOR},
                "template": {"metadata": {"labels": _LABELS}, "spec": pod_spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": NAMESPACE, "labels": _LABELS},
            "spec": {
                "clusterIP": DNS_SERVICE_IP,
                "selector": _SELECTOR,
                "ports": [
                    {"name": "dns", "port": 53, "targetPort": LISTEN_PORT, "protocol": "UDP"},
                    {"name": "dns-tcp", "port": 53, "targetPort": LISTEN_PORT, "protocol": "TCP"},
                ],
            },
        },
    ]
    return {"apiVersion": "v1", "kind": "List", "items": items}
