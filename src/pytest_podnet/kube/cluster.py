"""``Cluster``: the calls other layers make (reads, workloads, sweeping), plus watch and exec."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import urllib3
from kubernetes import client as k8s

from pytest_podnet.kube.calls import _body, _path
from pytest_podnet.kube.connect import _load_kubeconfig, _quiet_unverified_requests
from pytest_podnet.kube.errors import KubeError, _domain_error
from pytest_podnet.kube.execute import Exec
from pytest_podnet.kube.objects import Objects
from pytest_podnet.kube.values import (
    _KIND_NAMES,
    LABELLED_KINDS,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    RESTARTED_AT_ANNOTATION,
    RUN_LABEL,
    DeploymentInfo,
    EndpointSet,
    EventInfo,
    Kind,
    NamespaceInfo,
    NodeInfo,
    PodInfo,
    Raw,
    ServiceInfo,
    _meta,
    deployment_info,
    endpoint_set,
    event_info,
    namespace_info,
    node_info,
    pod_info,
    service_info,
)
from pytest_podnet.kube.watch import Watch


class Cluster(Watch, Exec, Objects):
    """The API clients for one kubeconfig context (or the in-cluster service account)."""

    # ..................................................................... connecting

    @classmethod
    def connect(
        cls, kubeconfig: str | None, context: str | None, *, connect_timeout: float
    ) -> Cluster:
        """Connect as kubectl would and check the server answers within ``connect_timeout``.

        The kubeconfig is resolved by client-go's loading rules (``pytest_podnet.kubeconfig``):
        ``kubeconfig`` alone if given; else the files of ``$KUBECONFIG``, the first file to set
        a name or the current-context winning; else ``~/.kube/config``; in-cluster config in a
        Pod when none of them holds a configuration and no ``context`` is asked for. Raises
        ``ConfigError`` naming the file, context or credential at fault, ``Unreachable`` (or
        ``Refused``, ``TLSVerifyFailed``) when the server does not answer in time.
        """
        configuration = k8s.Configuration()
        resolved = _load_kubeconfig(configuration, kubeconfig, context)
        cluster = cls(configuration, context_name=resolved.context, connect_timeout=connect_timeout)
        cluster.insecure = not configuration.verify_ssl
        if cluster.insecure:
            _quiet_unverified_requests(cluster._api_client)
        cluster.server_version(timeout=connect_timeout)
        return cluster

    # ........................................................................ cluster facts

    def server_version(self, *, timeout: float | None = None) -> str:
        """The server's ``gitVersion``, e.g. ``v1.36.3``."""
        if timeout is not None:
            # Preflight: one try, bounded by the connect timeout, so a dead server fails fast.
            what = f"GET {self.server_url}/version"
            try:
                info = _body(self._send("GET", "/version", timeout=(timeout, timeout)))
            except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise _domain_error(exc, what) from exc
            except ValueError as exc:
                raise KubeError(f"{what}: the answer is not JSON, not an API server's") from exc
        else:
            info = self._json("GET /version", "GET", "/version")
        return str(info.get("gitVersion"))

    def nodes(self, label_selector: str | None = None) -> list[NodeInfo]:
        """Every node (matching ``label_selector``, if given), sorted by name."""
        items = self._items("list nodes", _path("nodes"), {"labelSelector": label_selector})
        return sorted((node_info(item) for item in items), key=lambda n: n.name)

    def ip_families(self) -> list[str]:
        """``IPv4`` and/or ``IPv6``, from the Pod CIDRs of the nodes (IPv4 first)."""
        families = {"IPv6" if ":" in cidr else "IPv4" for n in self.nodes() for cidr in n.pod_cidrs}
        return [family for family in ("IPv4", "IPv6") if family in families]

    def can_i(
        self,
        verb: str,
        resource: str,
        group: str = "",
        namespace: str | None = None,
        subresource: str = "",
    ) -> bool:
        """Ask the API (SelfSubjectAccessReview) whether these credentials may do this."""
        attributes: Raw = {"verb": verb, "resource": resource, "group": group}
        if namespace:
            attributes["namespace"] = namespace
        if subresource:
            attributes["subresource"] = subresource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        }
        review = self._json(
            f"can-i {verb} {resource}", "POST", _path("selfsubjectaccessreviews"), body=body
        )
        return bool((review.get("status") or {}).get("allowed"))

    # ........................................................................ namespaces

    def create_namespace(
        self, name: str, labels: Mapping[str, str], annotations: Mapping[str, str] | None = None
    ) -> NamespaceInfo:
        """Create a namespace."""
        body = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": name,
                "labels": dict(labels),
                "annotations": dict(annotations or {}),
            },
        }
        raw = self._create(
            f"create namespace {name}",
            _path("namespaces"),
            body,
            lambda: self._raw_namespace(name),
        )
        return namespace_info(raw)

    def _raw_namespace(self, name: str) -> Raw:
        return self._json(f"read namespace {name}", "GET", _path("namespaces", name=name))

    def read_namespace(self, name: str) -> NamespaceInfo:
        """A namespace (``NotFound`` once it is gone)."""
        return namespace_info(self._raw_namespace(name))

    def namespaces(self, label_selector: str) -> list[NamespaceInfo]:
        """Namespaces matching a label selector."""
        items = self._items(
            f"list namespaces {label_selector}",
            _path("namespaces"),
            {"labelSelector": label_selector},
        )
        return [namespace_info(item) for item in items]

    def annotate_namespace(self, name: str, annotations: Mapping[str, str]) -> NamespaceInfo:
        """Add (or overwrite) annotations of a namespace (a JSON merge patch)."""
        return namespace_info(
            self._json(
                f"annotate namespace {name}",
                "PATCH",
                _path("namespaces", name=name),
                body={"metadata": {"annotations": dict(annotations)}},
                content_type="application/merge-patch+json",
            )
        )

    def delete_namespace(self, name: str) -> None:
        """Start deleting a namespace and everything in it (returns before it is gone)."""
        self._delete(
            f"delete namespace {name}",
            _path("namespaces", name=name),
            propagation="Background",
        )

    # ........................................................................ pods

    def create_pod(self, namespace: str, body: Raw) -> PodInfo:
        """Create a Pod from a manifest dict."""
        name = body["metadata"]["name"]
        return pod_info(
            self._create(
                f"create pod/{namespace}/{name}",
                _path("pods", namespace),
                body,
                lambda: self.raw_pod(namespace, name),
            )
        )

    def raw_pod(self, namespace: str, name: str) -> Raw:
        """A Pod as JSON, for diagnostics and wait messages."""
        return self._json(f"read pod/{namespace}/{name}", "GET", _path("pods", namespace, name))

    def read_pod(self, namespace: str, name: str) -> PodInfo:
        """A fresh read of one Pod."""
        return pod_info(self.raw_pod(namespace, name))

    def raw_pods(self, namespace: str, label_selector: str | None = None) -> list[Raw]:
        """Pods of a namespace as JSON, optionally by label selector."""
        return self._items(
            f"list pods in {namespace}",
            _path("pods", namespace),
            {"labelSelector": label_selector or None},
        )

    def pods(self, namespace: str, label_selector: str | None = None) -> list[PodInfo]:
        """Pods of a namespace, sorted by name."""
        infos = (pod_info(item) for item in self.raw_pods(namespace, label_selector))
        return sorted(infos, key=lambda p: p.name)

    def all_pods(self) -> list[PodInfo]:
        """Every Pod in the cluster (for cluster-wide IP uniqueness)."""
        items = self._items("list pods in all namespaces", _path("pods"))
        return [pod_info(item) for item in items]

    def delete_pod(
        self, namespace: str, name: str, *, grace_period: int | None = None, uid: str | None = None
    ) -> None:
        """Delete a Pod; with ``uid``, only that incarnation (a replacement is left alone)."""
        # Both go in the DeleteOptions body: with a body, the API server ignores the query
        # parameters, so a grace_period_seconds= beside it would be dropped silently.
        options: dict[str, Any] = {}
        if grace_period is not None:
            options["gracePeriodSeconds"] = grace_period
        if uid is not None:
            options["preconditions"] = {"uid": uid}
        self._delete(
            f"delete pod/{namespace}/{name}",
            _path("pods", namespace, name),
            options=options or None,
        )

    def evict_pod(self, namespace: str, name: str) -> None:
        """Evict a Pod through the Eviction API (policy/v1), honouring PodDisruptionBudgets."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        self._json(
            f"evict pod/{namespace}/{name}",
            "POST",
            _path("pods", namespace, name, "eviction"),
            body=body,
        )

    def pod_logs(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None = None,
        tail_lines: int | None = 50,
        previous: bool = False,
    ) -> str:
        """The last ``tail_lines`` lines a container logged (``None``: all of the current log)."""
        response = self._request(
            f"logs of pod/{namespace}/{name}",
            "GET",
            _path("pods", namespace, name, "log"),
            query={"container": container or None, "previous": previous, "tailLines": tail_lines},
        )
        data: bytes = response.data or b""
        return data.decode("utf-8", "replace")

    def full_pod_log(self, namespace: str, name: str) -> str:
        """Everything a Pod's (only) container logged (the current log file, if rotated)."""
        return self.pod_logs(namespace, name, tail_lines=None)

    def create_deployment(self, namespace: str, body: Raw) -> DeploymentInfo:
        """Create a Deployment from a manifest dict."""
        name = body["metadata"]["name"]
        return deployment_info(
            self._create(
                f"create deployment/{namespace}/{name}",
                _path("deployments", namespace),
                body,
                lambda: self.raw_deployment(namespace, name),
            )
        )

    def raw_deployment(self, namespace: str, name: str) -> Raw:
        """A Deployment as JSON."""
        return self._json(
            f"read deployment/{namespace}/{name}", "GET", _path("deployments", namespace, name)
        )

    def read_deployment(self, namespace: str, name: str) -> DeploymentInfo:
        """A fresh read of one Deployment."""
        return deployment_info(self.raw_deployment(namespace, name))

    def patch_deployment(self, namespace: str, name: str, patch: Raw) -> DeploymentInfo:
        """Strategic-merge-patch a Deployment."""
        return deployment_info(
            self._json(
                f"patch deployment/{namespace}/{name}",
                "PATCH",
                _path("deployments", namespace, name),
                body=patch,
                content_type="application/strategic-merge-patch+json",
            )
        )

    def rollout_restart(self, namespace: str, name: str) -> DeploymentInfo:
        """What ``kubectl rollout restart`` does: stamp the Pod template with the time."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        patch = {
            "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT_ANNOTATION: now}}}}
        }
        return self.patch_deployment(namespace, name, patch)

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        """Set the replica count through the scale subresource."""
        self._json(
            f"scale deployment/{namespace}/{name} to {replicas}",
            "PATCH",
            _path("deployments", namespace, name, "scale"),
            body={"spec": {"replicas": replicas}},
            content_type="application/merge-patch+json",
        )

    def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete a Deployment and (in the background) its ReplicaSets and Pods."""
        self._delete(
            f"delete deployment/{namespace}/{name}",
            _path("deployments", namespace, name),
            propagation="Background",
        )

    # ........................................................................ services

    def create_service(self, namespace: str, body: Raw) -> ServiceInfo:
        """Create a Service from a manifest dict."""
        name = body["metadata"]["name"]
        return service_info(
            self._create(
                f"create svc/{namespace}/{name}",
                _path("services", namespace),
                body,
                lambda: self.raw_service(namespace, name),
            )
        )

    def raw_service(self, namespace: str, name: str) -> Raw:
        """A Service as JSON."""
        return self._json(f"read svc/{namespace}/{name}", "GET", _path("services", namespace, name))

    def read_service(self, namespace: str, name: str) -> ServiceInfo:
        """A fresh read of one Service."""
        return service_info(self.raw_service(namespace, name))

    def services(self, namespace: str) -> list[ServiceInfo]:
        """Services of a namespace."""
        items = self._items(f"list services in {namespace}", _path("services", namespace))
        return [service_info(item) for item in items]

    def delete_service(self, namespace: str, name: str) -> None:
        """Delete a Service."""
        self._delete(f"delete svc/{namespace}/{name}", _path("services", namespace, name))

    # ........................................................................ endpointslices

    def raw_endpoint_slices(self, namespace: str, service: str | None = None) -> list[Raw]:
        """EndpointSlices as JSON, of one Service or of the whole namespace."""
        selector = f"kubernetes.io/service-name={service}" if service else None
        return self._items(
            f"list endpointslices in {namespace}",
            _path("endpointslices", namespace),
            {"labelSelector": selector},
        )

    def endpoints(self, namespace: str, service: str) -> EndpointSet:
        """The addresses the EndpointSlices of ``service`` list now."""
        return endpoint_set(
            f"svc/{namespace}/{service}", self.raw_endpoint_slices(namespace, service)
        )

    # ........................................................................ events

    def events(self, namespace: str) -> list[EventInfo]:
        """Events of a namespace, oldest first."""
        items = self._items(f"list events in {namespace}", _path("events", namespace))
        infos = [event_info(item) for item in items]
        return sorted(infos, key=lambda e: e.last_seen or datetime.min.replace(tzinfo=UTC))

    # ........................................................................ sweeping

    def list_labelled(self, run_id: str | None) -> list[tuple[str, str | None, str]]:
        """Every object of the kinds podnet creates carrying the run label ``run_id``.

        ``run_id=None`` lists every run's objects (label ``app.kubernetes.io/managed-by``).
        Returns ``(kind, namespace, name)``; namespace is None for namespaces themselves.
        """
        selector = f"{RUN_LABEL}={run_id}" if run_id else f"{MANAGED_BY_LABEL}={MANAGED_BY}"
        found: list[tuple[str, str | None, str]] = []
        for kind in LABELLED_KINDS:
            for item in self.raw_list_all(kind, selector):
                meta = _meta(item)
                found.append((_KIND_NAMES[kind], meta.get("namespace"), meta.get("name", "")))
        return found

    def raw_list_all(self, kind: Kind, label_selector: str) -> list[Raw]:
        """Objects of ``kind`` in every namespace matching a label selector, as JSON."""
        return self._items(
            f"list {kind} {label_selector}", _path(kind), {"labelSelector": label_selector}
        )

    def delete_object(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete one object by kind (as ``list_labelled`` names it), namespace and name."""
        deleters: dict[str, Callable[[], None]] = {
            "Namespace": lambda: self.delete_namespace(name),
            "Pod": lambda: self.delete_pod(namespace or "", name),
            "Deployment": lambda: self.delete_deployment(namespace or "", name),
            "Service": lambda: self.delete_service(namespace or "", name),
            "ReplicaSet": lambda: self._delete(
                f"delete replicaset/{namespace}/{name}",
                _path("replicasets", namespace, name),
                propagation="Background",
            ),
            "EndpointSlice": lambda: self._delete(
                f"delete endpointslice/{namespace}/{name}",
                _path("endpointslices", namespace, name),
            ),
        }
        if kind not in deleters:
            raise ValueError(f"cannot delete kind {kind!r}: one of {sorted(deleters)}")
        deleters[kind]()
