"""The one module that talks to the Kubernetes API.

Everything above it gets typed, frozen value objects (``PodInfo``, ``ServiceInfo``, ...) and a few
domain errors (``NotFound``, ``Conflict``, ``Forbidden``, ``Unreachable``, ``ConfigError``); no
other module imports ``kubernetes``. Objects are read as plain JSON dicts (camelCase, as the API
serves them) and turned into value objects here, so a watch event, a list item and a fresh read go
through the same code.

Transient API errors (429, 5xx, a reset connection) are retried here, at the one place every call
passes through, for at most ``TRANSIENT_API_RETRY`` seconds; anything else surfaces at once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import ssl
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

import tenacity
import urllib3
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.config.config_exception import ConfigException
from kubernetes.stream import stream as k8s_stream
from kubernetes.watch.watch import iter_resp_lines

from pytest_podnet import kubeconfig as kubeconfig_rules

T = TypeVar("T")
Raw = dict[str, Any]

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "pytest-podnet"
RUN_LABEL: Final = "podnet.io/run"
RESTARTED_AT_ANNOTATION: Final = "kubectl.kubernetes.io/restartedAt"

#: Seconds a transient API error (429, 5xx, connection reset) is retried before it surfaces. An
#: apiserver restart or a leader election takes 10-20 s; longer than 30 s is an outage, not a blip.
TRANSIENT_API_RETRY: Final = 30.0
#: Seconds one ordinary request may take to answer (lists and reads are small here).
API_REQUEST: Final = 30.0
#: Statuses worth retrying: throttling and server-side failures that go away on their own.
_TRANSIENT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})

Kind = Literal[
    "namespaces",
    "nodes",
    "pods",
    "deployments",
    "replicasets",
    "services",
    "endpointslices",
    "serviceaccounts",
]
#: Kinds swept by run label, children before parents (a namespace delete takes the rest with it).
LABELLED_KINDS: Final[tuple[Kind, ...]] = (
    "endpointslices",
    "services",
    "pods",
    "replicasets",
    "deployments",
    "namespaces",
)
_KIND_NAMES: Final[dict[str, str]] = {
    "namespaces": "Namespace",
    "pods": "Pod",
    "deployments": "Deployment",
    "replicasets": "ReplicaSet",
    "services": "Service",
    "endpointslices": "EndpointSlice",
}


# --------------------------------------------------------------------------------------- errors


class KubeError(Exception):
    """An API call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class NotFound(KubeError):
    """The object (or its namespace) does not exist."""


class Conflict(KubeError):
    """The object exists already, or changed under a write."""


class Forbidden(KubeError):
    """The credentials lack a permission (401 or 403)."""


class Invalid(KubeError):
    """The API rejected the object (422), e.g. Pod Security admission or a bad field."""


class Unreachable(KubeError):
    """The API server did not answer (connection refused, timed out, TLS failure)."""


class Refused(Unreachable):
    """Nothing listens at the server's address: the connection was refused at once."""


class TLSVerifyFailed(Unreachable):
    """The server's certificate did not verify against the kubeconfig's certificate-authority.

    ``hostname_mismatch``: it is signed by that CA but not issued for the server's address.
    """

    def __init__(self, message: str, *, hostname_mismatch: bool = False) -> None:
        super().__init__(message)
        self.hostname_mismatch = hostname_mismatch


class ConfigError(KubeError):
    """The kubeconfig is missing or malformed, or names no such context.

    ``option`` says which setting fixes it ("kubeconfig" or "context"), for the caller to name
    its own flag.
    """

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


class CredentialPluginError(ConfigError):
    """The user's exec credential plugin is not installed, or failed."""

    def __init__(
        self, message: str, *, command: str, missing: bool, install_hint: str = ""
    ) -> None:
        super().__init__(message)
        self.command = command
        self.missing = missing
        self.install_hint = install_hint


class ClientCertificateInvalid(ConfigError):
    """The user's client certificate or key cannot be used (garbage, or not a pair)."""


class ExecTimeout(KubeError):
    """A command run with ``Cluster.exec`` did not finish within its timeout."""


# -------------------------------------------------------------------------------- value objects


@dataclass(frozen=True)
class NodeInfo:
    """A node as the checks see it."""

    name: str
    internal_ip: str | None
    pod_cidrs: tuple[str, ...]
    schedulable: bool
    ready: bool
    #: ``key:effect`` of the taints that keep our Pods off the node (NoSchedule, NoExecute).
    taints: tuple[str, ...] = ()
    cordoned: bool = False

    @property
    def ref(self) -> str:
        return f"node/{self.name}"


@dataclass(frozen=True)
class PodInfo:
    """A Pod at one moment; ``ip`` is the primary Pod IP, ``ips`` every family's."""

    namespace: str
    name: str
    uid: str
    ip: str | None
    ips: tuple[str, ...]
    node: str | None
    phase: str
    ready: bool
    restarts: int
    labels: Mapping[str, str] = field(default_factory=dict, compare=False)
    terminating: bool = False
    created: datetime | None = field(default=None, compare=False)
    host_network: bool = False

    @property
    def ref(self) -> str:
        return f"pod/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class ServicePort:
    """One port of a Service."""

    name: str
    protocol: str
    port: int
    target_port: int | str


@dataclass(frozen=True)
class ServiceInfo:
    """A Service; ``cluster_ip`` is the primary ClusterIP, ``cluster_ips`` every family's."""

    namespace: str
    name: str
    uid: str
    cluster_ip: str | None
    cluster_ips: tuple[str, ...]
    ports: tuple[ServicePort, ...]
    selector: Mapping[str, str] = field(default_factory=dict, compare=False)

    @property
    def ref(self) -> str:
        return f"svc/{self.namespace}/{self.name}"

    def port(self, protocol: str) -> ServicePort:
        """The first port of ``protocol`` (``TCP`` or ``UDP``)."""
        for port in self.ports:
            if port.protocol == protocol.upper():
                return port
        raise LookupError(f"{self.ref} has no {protocol.upper()} port: {self.ports}")


@dataclass(frozen=True)
class DeploymentInfo:
    """A Deployment's spec and rollout status."""

    namespace: str
    name: str
    uid: str
    replicas: int
    selector: Mapping[str, str]
    generation: int
    observed_generation: int
    updated_replicas: int
    ready_replicas: int
    available_replicas: int
    status_replicas: int
    image: str | None

    @property
    def ref(self) -> str:
        return f"deployment/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class EndpointSet:
    """What the EndpointSlices of one Service list, merged across slices."""

    service: str
    ready_ips: frozenset[str]
    not_ready_ips: frozenset[str]
    slices: tuple[str, ...]


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace with the labels and age a sweep decides on."""

    name: str
    labels: Mapping[str, str]
    created: datetime | None
    phase: str
    annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EventInfo:
    """One event, flattened for a report."""

    namespace: str
    involved: str
    type: str
    reason: str
    message: str
    count: int
    last_seen: datetime | None


@dataclass(frozen=True)
class ExecResult:
    """What a command run in a container printed and how it exited."""

    stdout: str
    stderr: str
    exit_code: int


# ---------------------------------------------------------------------- raw JSON -> value objects


def _meta(raw: Raw) -> Raw:
    meta: Raw = raw.get("metadata") or {}
    return meta


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def condition(raw: Raw, kind: str) -> Raw | None:
    """The status condition of type ``kind`` of any object, or None."""
    for cond in (raw.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            found: Raw = cond
            return found
    return None


def pod_info(raw: Raw) -> PodInfo:
    """A ``PodInfo`` from a Pod as the API serves it (JSON)."""
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    ips = tuple(entry["ip"] for entry in status.get("podIPs") or [] if entry.get("ip"))
    ready_cond = condition(raw, "Ready")
    restarts = sum(int(cs.get("restartCount", 0)) for cs in status.get("containerStatuses") or [])
    return PodInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        ip=status.get("podIP") or None,
        ips=ips or ((status["podIP"],) if status.get("podIP") else ()),
        node=spec.get("nodeName"),
        phase=status.get("phase", "Unknown"),
        ready=bool(ready_cond and ready_cond.get("status") == "True"),
        restarts=restarts,
        labels=dict(meta.get("labels") or {}),
        terminating=bool(meta.get("deletionTimestamp")),
        created=_timestamp(meta.get("creationTimestamp")),
        host_network=bool(spec.get("hostNetwork", False)),
    )


def service_info(raw: Raw) -> ServiceInfo:
    """A ``ServiceInfo`` from a Service as the API serves it (JSON)."""
    meta, spec = _meta(raw), raw.get("spec") or {}
    cluster_ip = spec.get("clusterIP")
    cluster_ip = None if cluster_ip in (None, "", "None") else cluster_ip
    ports = tuple(
        ServicePort(
            name=port.get("name", ""),
            protocol=port.get("protocol", "TCP"),
            port=int(port["port"]),
            target_port=port.get("targetPort", port["port"]),
        )
        for port in spec.get("ports") or []
    )
    return ServiceInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        cluster_ip=cluster_ip,
        cluster_ips=tuple(spec.get("clusterIPs") or ((cluster_ip,) if cluster_ip else ())),
        ports=ports,
        selector=dict(spec.get("selector") or {}),
    )


def deployment_info(raw: Raw) -> DeploymentInfo:
    """A ``DeploymentInfo`` from a Deployment as the API serves it (JSON)."""
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
    return DeploymentInfo(
        namespace=meta.get("namespace", ""),
        name=meta.get("name", ""),
        uid=meta.get("uid", ""),
        replicas=int(spec.get("replicas", 1)),
        selector=dict((spec.get("selector") or {}).get("matchLabels") or {}),
        generation=int(meta.get("generation", 0)),
        observed_generation=int(status.get("observedGeneration", 0)),
        updated_replicas=int(status.get("updatedReplicas", 0)),
        ready_replicas=int(status.get("readyReplicas", 0)),
        available_replicas=int(status.get("availableReplicas", 0)),
        status_replicas=int(status.get("replicas", 0)),
        image=containers[0].get("image") if containers else None,
    )


def node_info(raw: Raw) -> NodeInfo:
    """A ``NodeInfo`` from a Node as the API serves it (JSON)."""
    meta, spec, status = _meta(raw), raw.get("spec") or {}, raw.get("status") or {}
    internal = [a["address"] for a in status.get("addresses") or [] if a["type"] == "InternalIP"]
    cidrs = tuple(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
    blocking_taints = [
        t for t in spec.get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")
    ]
    ready_cond = condition(raw, "Ready")
    return NodeInfo(
        name=meta.get("name", ""),
        internal_ip=internal[0] if internal else None,
        pod_cidrs=cidrs,
        schedulable=not spec.get("unschedulable", False) and not blocking_taints,
        ready=bool(ready_cond and ready_cond.get("status") == "True"),
        taints=tuple(f"{t.get('key')}:{t.get('effect')}" for t in blocking_taints),
        cordoned=bool(spec.get("unschedulable", False)),
    )


def endpoint_set(service: str, slices: list[Raw]) -> EndpointSet:
    """Merge the EndpointSlices of ``service`` into ready and not-ready address sets.

    An endpoint whose ``ready`` condition is unset counts as ready, as the EndpointSlice API asks
    consumers to do.
    """
    ready: set[str] = set()
    not_ready: set[str] = set()
    for item in slices:
        for endpoint in item.get("endpoints") or []:
            is_ready = (endpoint.get("conditions") or {}).get("ready")
            (not_ready if is_ready is False else ready).update(endpoint.get("addresses") or [])
    names = tuple(sorted(_meta(item).get("name", "") for item in slices))
    return EndpointSet(service, frozenset(ready), frozenset(not_ready - ready), names)


def event_info(raw: Raw) -> EventInfo:
    """An ``EventInfo`` from a core/v1 Event as the API serves it (JSON)."""
    meta, involved = _meta(raw), raw.get("involvedObject") or {}
    last = raw.get("lastTimestamp") or raw.get("eventTime") or meta.get("creationTimestamp")
    return EventInfo(
        namespace=meta.get("namespace", ""),
        involved=f"{(involved.get('kind') or '?').lower()}/{involved.get('name', '?')}",
        type=raw.get("type", ""),
        reason=raw.get("reason", ""),
        message=(raw.get("message") or "").strip(),
        count=int(raw.get("count") or 1),
        last_seen=_timestamp(last),
    )


def namespace_info(raw: Raw) -> NamespaceInfo:
    """A ``NamespaceInfo`` from a Namespace as the API serves it (JSON)."""
    meta = _meta(raw)
    return NamespaceInfo(
        name=meta.get("name", ""),
        labels=dict(meta.get("labels") or {}),
        created=_timestamp(meta.get("creationTimestamp")),
        phase=(raw.get("status") or {}).get("phase", ""),
        annotations=dict(meta.get("annotations") or {}),
    )


def to_yaml(raw: Raw | list[Raw] | None) -> str:
    """Objects as YAML for a human, without the noise of ``managedFields``."""

    def trim(obj: Raw) -> Raw:
        meta = {k: v for k, v in _meta(obj).items() if k != "managedFields"}
        return {**obj, "metadata": meta} if meta else obj

    if raw is None:
        return "<nothing>"
    data: Any = [trim(o) for o in raw] if isinstance(raw, list) else trim(raw)
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False).rstrip()


# ----------------------------------------------------------------------------- error mapping


def _status_message(exc: k8s.ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return str(exc.reason or exc.body or exc).strip()
    return str(body.get("message") or exc.reason)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, k8s.ApiException):
        return exc.status in _TRANSIENT_STATUSES
    return isinstance(exc, urllib3.exceptions.HTTPError | ConnectionError | TimeoutError)


def _domain_error(exc: BaseException, what: str) -> KubeError:
    if isinstance(exc, k8s.ApiException):
        message = f"{what}: {exc.status} {_status_message(exc)}"
        status, reason = exc.status, str(exc.reason or "")
        handshake = re.search(r"Handshake status (\d{3})", reason)
        if not status and handshake:
            # A websocket (exec) upgrade the server refused: the client reports status 0.
            status = int(handshake.group(1))
            message = f"{what}: {status} {reason.splitlines()[0][:300]}"
        if status == 404:
            return NotFound(message, status=status, reason=reason)
        if status == 409:
            return Conflict(message, status=status, reason=reason)
        if status in (401, 403):
            return Forbidden(message, status=status, reason=reason)
        if status == 422:
            return Invalid(message, status=status, reason=reason)
        return KubeError(message, status=status, reason=reason)
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            # 62 is X509_V_ERR_HOSTNAME_MISMATCH: right CA, certificate for another name.
            mismatch = cause.verify_code == 62
            return TLSVerifyFailed(
                f"{what}: certificate verify failed: {cause.verify_message or cause}",
                hostname_mismatch=mismatch,
            )
        if isinstance(cause, ConnectionRefusedError):
            return Refused(f"{what}: connection refused")
    return Unreachable(f"{what}: {type(exc).__name__}: {exc}")


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it wraps: urllib3 nests the socket's error in ``reason`` and ``args``."""
    pending, seen = [exc], set[int]()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        nested = [getattr(current, "reason", None), current.__cause__, current.__context__]
        nested += list(current.args)
        pending += [item for item in nested if isinstance(item, BaseException)]


# -------------------------------------------------------------------------------------- cluster


class Cluster:
    """The API clients for one kubeconfig context (or the in-cluster service account)."""

    #: The kubeconfig says insecure-skip-tls-verify: the server's certificate is not checked,
    #: and the caller says so once (urllib3's per-request warning is silenced).
    insecure: bool = False

    def __init__(
        self,
        configuration: k8s.Configuration,
        *,
        context_name: str,
        connect_timeout: float = 10.0,
    ) -> None:
        # urllib3 would retry a failed connect three more times on its own, each with the full
        # connect timeout; retries belong to TRANSIENT_API_RETRY alone.
        configuration.retries = 0
        self._configuration = configuration
        self._api_client = k8s.ApiClient(configuration)
        self._core = k8s.CoreV1Api(self._api_client)
        self._apps = k8s.AppsV1Api(self._api_client)
        self._discovery = k8s.DiscoveryV1Api(self._api_client)
        self._policy = k8s.PolicyV1Api(self._api_client)
        self._authz = k8s.AuthorizationV1Api(self._api_client)
        self.context_name = context_name
        self.server_url: str = configuration.host
        self.connect_timeout = connect_timeout

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

    def close(self) -> None:
        """Release the connection pool."""
        self._api_client.close()  # type: ignore[no-untyped-call]

    # ........................................................................ calling

    def _call(
        self,
        what: str,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call the API, retrying transient errors, mapping failures to domain errors."""
        kwargs.setdefault("_request_timeout", (self.connect_timeout, timeout or API_REQUEST))
        try:
            for attempt in tenacity.Retrying(
                retry=tenacity.retry_if_exception(_is_transient),
                stop=tenacity.stop_after_delay(TRANSIENT_API_RETRY),
                wait=tenacity.wait_random_exponential(multiplier=0.2, max=5),
                reraise=True,
            ):
                with attempt:
                    return fn(*args, **kwargs)
        except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise _domain_error(exc, what) from exc
        raise AssertionError("unreachable: tenacity either returns or reraises")

    def _raw(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Raw:
        """Like ``_call`` but return the JSON body as served (no model deserialisation)."""
        response = self._call(what, fn, *args, _preload_content=False, **kwargs)
        body: Raw = json.loads(response.data or b"{}")
        return body

    def _create(
        self, what: str, fn: Callable[..., Any], read: Callable[[], Raw], *args: Any
    ) -> Raw:
        """Create; if a retried attempt finds the object already there, it was ours."""
        attempts = 0

        def once(**kwargs: Any) -> Any:
            nonlocal attempts
            attempts += 1
            return fn(*args, _preload_content=False, **kwargs)

        try:
            response = self._call(what, once)
        except Conflict:
            if attempts > 1:
                return read()
            raise
        body: Raw = json.loads(response.data or b"{}")
        return body

    # ........................................................................ cluster facts

    def server_version(self, *, timeout: float | None = None) -> str:
        """The server's ``gitVersion``, e.g. ``v1.36.3``."""
        api = k8s.VersionApi(self._api_client)
        if timeout is not None:
            # Preflight: one try, bounded by the connect timeout, so a dead server fails fast.
            try:
                info = api.get_code(_request_timeout=(timeout, timeout))
            except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                raise _domain_error(exc, f"GET {self.server_url}/version") from exc
        else:
            info = self._call("GET /version", api.get_code)
        return str(info.git_version)

    def nodes(self, label_selector: str | None = None) -> list[NodeInfo]:
        """Every node (matching ``label_selector``, if given), sorted by name."""
        body = self._raw("list nodes", self._core.list_node, **_selector_kwargs(label_selector))
        return sorted((node_info(item) for item in body.get("items") or []), key=lambda n: n.name)

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
        review = self._raw(
            f"can-i {verb} {resource}", self._authz.create_self_subject_access_review, body
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
            self._core.create_namespace,
            lambda: self._raw(f"read namespace {name}", self._core.read_namespace, name),
            body,
        )
        return namespace_info(raw)

    def read_namespace(self, name: str) -> NamespaceInfo:
        """A namespace (``NotFound`` once it is gone)."""
        return namespace_info(self._raw(f"read namespace {name}", self._core.read_namespace, name))

    def namespaces(self, label_selector: str) -> list[NamespaceInfo]:
        """Namespaces matching a label selector."""
        body = self._raw(
            f"list namespaces {label_selector}",
            self._core.list_namespace,
            label_selector=label_selector,
        )
        return [namespace_info(item) for item in body.get("items") or []]

    def delete_namespace(self, name: str) -> None:
        """Start deleting a namespace and everything in it (returns before it is gone)."""
        self._call(
            f"delete namespace {name}",
            self._core.delete_namespace,
            name,
            propagation_policy="Background",
        )

    # ........................................................................ pods

    def create_pod(self, namespace: str, body: Raw) -> PodInfo:
        """Create a Pod from a manifest dict."""
        name = body["metadata"]["name"]
        return pod_info(
            self._create(
                f"create pod/{namespace}/{name}",
                self._core.create_namespaced_pod,
                lambda: self.raw_pod(namespace, name),
                namespace,
                body,
            )
        )

    def raw_pod(self, namespace: str, name: str) -> Raw:
        """A Pod as JSON, for diagnostics and wait messages."""
        return self._raw(
            f"read pod/{namespace}/{name}", self._core.read_namespaced_pod, name, namespace
        )

    def read_pod(self, namespace: str, name: str) -> PodInfo:
        """A fresh read of one Pod."""
        return pod_info(self.raw_pod(namespace, name))

    def raw_pods(self, namespace: str, label_selector: str | None = None) -> list[Raw]:
        """Pods of a namespace as JSON, optionally by label selector."""
        body = self._raw(
            f"list pods in {namespace}",
            self._core.list_namespaced_pod,
            namespace,
            label_selector=label_selector or "",
        )
        return list(body.get("items") or [])

    def pods(self, namespace: str, label_selector: str | None = None) -> list[PodInfo]:
        """Pods of a namespace, sorted by name."""
        infos = (pod_info(item) for item in self.raw_pods(namespace, label_selector))
        return sorted(infos, key=lambda p: p.name)

    def all_pods(self) -> list[PodInfo]:
        """Every Pod in the cluster (for cluster-wide IP uniqueness)."""
        body = self._raw("list pods in all namespaces", self._core.list_pod_for_all_namespaces)
        return [pod_info(item) for item in body.get("items") or []]

    def delete_pod(
        self, namespace: str, name: str, *, grace_period: int | None = None, uid: str | None = None
    ) -> None:
        """Delete a Pod; with ``uid``, only that incarnation (a replacement is left alone)."""
        kwargs: dict[str, Any] = {}
        if grace_period is not None:
            kwargs["grace_period_seconds"] = grace_period
        if uid is not None:
            kwargs["body"] = {"preconditions": {"uid": uid}}
        self._call(
            f"delete pod/{namespace}/{name}",
            self._core.delete_namespaced_pod,
            name,
            namespace,
            **kwargs,
        )

    def evict_pod(self, namespace: str, name: str) -> None:
        """Evict a Pod through the Eviction API (policy/v1), honouring PodDisruptionBudgets."""
        body = {
            "apiVersion": "policy/v1",
            "kind": "Eviction",
            "metadata": {"name": name, "namespace": namespace},
        }
        self._call(
            f"evict pod/{namespace}/{name}",
            self._core.create_namespaced_pod_eviction,
            name,
            namespace,
            body,
        )

    def pod_logs(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None = None,
        tail_lines: int = 50,
        previous: bool = False,
    ) -> str:
        """The last ``tail_lines`` lines a container logged."""
        kwargs: dict[str, Any] = {"tail_lines": tail_lines, "previous": previous}
        if container:
            kwargs["container"] = container
        response = self._call(
            f"logs of pod/{namespace}/{name}",
            self._core.read_namespaced_pod_log,
            name,
            namespace,
            _preload_content=False,
            **kwargs,
        )
        data: bytes = response.data or b""
        return data.decode("utf-8", "replace")

    def exec(
        self,
        namespace: str,
        pod: str,
        command: list[str],
        *,
        timeout: float,
        container: str | None = None,
    ) -> ExecResult:
        """Run ``command`` in a container (websocket stream); return stdout, stderr, exit code.

        Raises ``ExecTimeout`` when the command has not finished after ``timeout`` seconds, and
        ``KubeError`` when the command could not be started at all.
        """
        what = f"exec in pod/{namespace}/{pod}"
        # stream() swaps the request method of the ApiClient it is given while it runs; a client
        # of its own keeps concurrent calls on the shared client unaffected.
        api_client = k8s.ApiClient(self._configuration)
        try:
            core = k8s.CoreV1Api(api_client)
            kwargs: dict[str, Any] = {}
            if container:
                kwargs["container"] = container

            def open_stream(**_: Any) -> Any:
                return k8s_stream(
                    core.connect_get_namespaced_pod_exec,
                    pod,
                    namespace,
                    command=command,
                    stderr=True,
                    stdin=False,
                    stdout=True,
                    tty=False,
                    _preload_content=False,
                    _request_timeout=(self.connect_timeout, timeout),
                    **kwargs,
                )

            response = self._call(what, open_stream)
            try:
                response.run_forever(timeout=timeout)
                if response.is_open():
                    raise ExecTimeout(f"{what}: {command[:2]} still running after {timeout:g}s")
                stdout = response.read_channel(1)
                stderr = response.read_channel(2)
                status_text = response.read_channel(3)
            finally:
                response.close()
                # After the server's close frame the websocket counts itself closed and its
                # close() returns early, leaving the TLS socket open; shut it for good.
                socket = getattr(response, "sock", None)
                if socket is not None:
                    socket.shutdown()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _domain_error(exc, what) from exc
        except Exception as exc:
            # The websocket library raises its own exception types on a failed handshake.
            if isinstance(exc, KubeError):
                raise
            if isinstance(exc, k8s.ApiException):
                raise _domain_error(exc, what) from exc
            raise KubeError(f"{what}: {type(exc).__name__}: {exc}") from exc
        finally:
            api_client.close()  # type: ignore[no-untyped-call]
        return ExecResult(str(stdout), str(stderr), _exit_code(status_text, what))

    # ........................................................................ deployments

    def create_deployment(self, namespace: str, body: Raw) -> DeploymentInfo:
        """Create a Deployment from a manifest dict."""
        name = body["metadata"]["name"]
        return deployment_info(
            self._create(
                f"create deployment/{namespace}/{name}",
                self._apps.create_namespaced_deployment,
                lambda: self.raw_deployment(namespace, name),
                namespace,
                body,
            )
        )

    def raw_deployment(self, namespace: str, name: str) -> Raw:
        """A Deployment as JSON."""
        return self._raw(
            f"read deployment/{namespace}/{name}",
            self._apps.read_namespaced_deployment,
            name,
            namespace,
        )

    def read_deployment(self, namespace: str, name: str) -> DeploymentInfo:
        """A fresh read of one Deployment."""
        return deployment_info(self.raw_deployment(namespace, name))

    def patch_deployment(self, namespace: str, name: str, patch: Raw) -> DeploymentInfo:
        """Strategic-merge-patch a Deployment."""
        return deployment_info(
            self._raw(
                f"patch deployment/{namespace}/{name}",
                self._apps.patch_namespaced_deployment,
                name,
                namespace,
                patch,
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
        self._call(
            f"scale deployment/{namespace}/{name} to {replicas}",
            self._apps.patch_namespaced_deployment_scale,
            name,
            namespace,
            {"spec": {"replicas": replicas}},
        )

    def delete_deployment(self, namespace: str, name: str) -> None:
        """Delete a Deployment and (in the background) its ReplicaSets and Pods."""
        self._call(
            f"delete deployment/{namespace}/{name}",
            self._apps.delete_namespaced_deployment,
            name,
            namespace,
            propagation_policy="Background",
        )

    # ........................................................................ services

    def create_service(self, namespace: str, body: Raw) -> ServiceInfo:
        """Create a Service from a manifest dict."""
        name = body["metadata"]["name"]
        return service_info(
            self._create(
                f"create svc/{namespace}/{name}",
                self._core.create_namespaced_service,
                lambda: self.raw_service(namespace, name),
                namespace,
                body,
            )
        )

    def raw_service(self, namespace: str, name: str) -> Raw:
        """A Service as JSON."""
        return self._raw(
            f"read svc/{namespace}/{name}", self._core.read_namespaced_service, name, namespace
        )

    def read_service(self, namespace: str, name: str) -> ServiceInfo:
        """A fresh read of one Service."""
        return service_info(self.raw_service(namespace, name))

    def services(self, namespace: str) -> list[ServiceInfo]:
        """Services of a namespace."""
        body = self._raw(
            f"list services in {namespace}", self._core.list_namespaced_service, namespace
        )
        return [service_info(item) for item in body.get("items") or []]

    def delete_service(self, namespace: str, name: str) -> None:
        """Delete a Service."""
        self._call(
            f"delete svc/{namespace}/{name}",
            self._core.delete_namespaced_service,
            name,
            namespace,
        )

    # ........................................................................ endpointslices

    def raw_endpoint_slices(self, namespace: str, service: str | None = None) -> list[Raw]:
        """EndpointSlices as JSON, of one Service or of the whole namespace."""
        selector = f"kubernetes.io/service-name={service}" if service else ""
        body = self._raw(
            f"list endpointslices in {namespace}",
            self._discovery.list_namespaced_endpoint_slice,
            namespace,
            label_selector=selector,
        )
        return list(body.get("items") or [])

    def endpoints(self, namespace: str, service: str) -> EndpointSet:
        """The addresses the EndpointSlices of ``service`` list now."""
        return endpoint_set(
            f"svc/{namespace}/{service}", self.raw_endpoint_slices(namespace, service)
        )

    # ........................................................................ events

    def events(self, namespace: str) -> list[EventInfo]:
        """Events of a namespace, oldest first."""
        body = self._raw(f"list events in {namespace}", self._core.list_namespaced_event, namespace)
        infos = [event_info(item) for item in body.get("items") or []]
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
        fn, args = self._list_function(kind, namespace=None)
        body = self._raw(f"list {kind} {label_selector}", fn, *args, label_selector=label_selector)
        return list(body.get("items") or [])

    def delete_object(self, kind: str, namespace: str | None, name: str) -> None:
        """Delete one object by kind (as ``list_labelled`` names it), namespace and name."""
        deleters: dict[str, Callable[[], None]] = {
            "Namespace": lambda: self.delete_namespace(name),
            "Pod": lambda: self.delete_pod(namespace or "", name),
            "Deployment": lambda: self.delete_deployment(namespace or "", name),
            "Service": lambda: self.delete_service(namespace or "", name),
            "ReplicaSet": lambda: self._call(
                f"delete replicaset/{namespace}/{name}",
                self._apps.delete_namespaced_replica_set,
                name,
                namespace,
                propagation_policy="Background",
            ),
            "EndpointSlice": lambda: self._call(
                f"delete endpointslice/{namespace}/{name}",
                self._discovery.delete_namespaced_endpoint_slice,
                name,
                namespace,
            ),
        }
        if kind not in deleters:
            raise ValueError(f"cannot delete kind {kind!r}: one of {sorted(deleters)}")
        deleters[kind]()

    # ........................................................................ watching

    def _list_function(
        self, kind: Kind, namespace: str | None
    ) -> tuple[Callable[..., Any], tuple[str, ...]]:
        """The list method for ``kind`` and its positional arguments (bound, for ``Watch``)."""
        namespaced: dict[str, Callable[..., Any]] = {
            "pods": self._core.list_namespaced_pod,
            "services": self._core.list_namespaced_service,
            "deployments": self._apps.list_namespaced_deployment,
            "replicasets": self._apps.list_namespaced_replica_set,
            "endpointslices": self._discovery.list_namespaced_endpoint_slice,
            "serviceaccounts": self._core.list_namespaced_service_account,
        }
        everywhere: dict[str, Callable[..., Any]] = {
            "namespaces": self._core.list_namespace,
            "nodes": self._core.list_node,
            "pods": self._core.list_pod_for_all_namespaces,
            "services": self._core.list_service_for_all_namespaces,
            "deployments": self._apps.list_deployment_for_all_namespaces,
            "replicasets": self._apps.list_replica_set_for_all_namespaces,
            "endpointslices": self._discovery.list_endpoint_slice_for_all_namespaces,
            "serviceaccounts": self._core.list_service_account_for_all_namespaces,
        }
        if kind in ("namespaces", "nodes") or namespace is None:
            return everywhere[kind], ()
        return namespaced[kind], (namespace,)

    def observe(
        self,
        kind: Kind,
        namespace: str | None,
        *,
        until: float,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> Iterator[dict[str, Raw]]:
        """The set of matching objects (name -> JSON) now and after every change.

        Lists once, then watches from that resourceVersion and yields the updated set after each
        event, until the ``time.monotonic()`` deadline ``until`` passes. A watch the server ends
        (timeout, 410 Gone, a transient error) is resumed with a fresh list, so no change is
        missed. The caller stops early by breaking out of the loop.
        """
        fn, args = self._list_function(kind, namespace)
        selectors: dict[str, str] = {}
        if label_selector:
            selectors["label_selector"] = label_selector
        if field_selector:
            selectors["field_selector"] = field_selector
        what = f"watch {kind} in {namespace or 'all namespaces'} {selectors}"
        while (remaining := until - time.monotonic()) > 0:
            body = self._raw(what, fn, *args, **selectors)
            objects = {_meta(item)["name"]: item for item in body.get("items") or []}
            version = _meta(body).get("resourceVersion", "")
            yield dict(objects)
            remaining = until - time.monotonic()
            if remaining <= 0:
                return
            try:
                response = fn(
                    *args,
                    watch=True,
                    resource_version=version,
                    timeout_seconds=max(1, math.ceil(remaining)),
                    allow_watch_bookmarks=True,
                    _preload_content=False,
                    _request_timeout=(self.connect_timeout, remaining + 5),
                    **selectors,
                )
            except (k8s.ApiException, urllib3.exceptions.HTTPError, OSError) as exc:
                if isinstance(exc, k8s.ApiException) and not _is_transient(exc):
                    raise _domain_error(exc, what) from exc
                continue
            try:
                for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                    if not line:
                        continue
                    event = json.loads(line)
                    kind_of_event, obj = event.get("type"), event.get("object") or {}
                    if kind_of_event == "ERROR":
                        # 410 Gone (the version is too old) and friends: relist and go on.
                        break
                    if kind_of_event == "BOOKMARK":
                        continue
                    name = _meta(obj).get("name", "")
                    if kind_of_event == "DELETED":
                        objects.pop(name, None)
                    else:
                        objects[name] = obj
                    yield dict(objects)
                    if time.monotonic() >= until:
                        return
            except (urllib3.exceptions.HTTPError, OSError, ValueError):
                # The watch connection dropped mid-stream; the relist above resumes it.
                pass
            finally:
                response.close()
                response.release_conn()


def _selector_kwargs(label_selector: str | None) -> dict[str, str]:
    return {"label_selector": label_selector} if label_selector else {}


def _exit_code(status_text: str, what: str) -> int:
    """The exit code from the exec error channel (a v1 Status object)."""
    if not status_text:
        raise KubeError(f"{what}: the stream closed without an exit status")
    status = yaml.safe_load(status_text)
    if status.get("status") == "Success":
        return 0
    causes = (status.get("details") or {}).get("causes") or []
    for cause in causes:
        if cause.get("reason") == "ExitCode":
            return int(cause["message"])
    raise KubeError(f"{what}: {status.get('message') or status_text}")


def _load_kubeconfig(
    configuration: k8s.Configuration, kubeconfig: str | None, context: str | None
) -> kubeconfig_rules.Resolved:
    """Resolve the kubeconfig as kubectl does and load the result into ``configuration``."""
    try:
        resolved = kubeconfig_rules.resolve(kubeconfig, context)
    except kubeconfig_rules.KubeconfigError as exc:
        raise ConfigError(str(exc), option=exc.option) from exc
    if resolved.in_cluster:
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except ConfigException as exc:
            raise ConfigError(f"in-cluster config: {exc}") from exc
        return resolved
    where = f"kubeconfig {resolved.source}, context {resolved.context!r}"
    _check_credential_plugin(resolved, where)
    # The client reports a failing exec plugin with logging.error and goes on without
    # credentials (a 401 later, "expired token?"); catch the record and say what failed.
    plugin_errors = _ErrorRecords()
    logging.getLogger().addHandler(plugin_errors)
    try:
        k8s_config.load_kube_config_from_dict(  # type: ignore[no-untyped-call]
            config_dict=resolved.config,
            context=resolved.context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (ConfigException, ValueError, TypeError, KeyError, OSError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    finally:
        logging.getLogger().removeHandler(plugin_errors)
    exec_config = resolved.user.get("exec")
    if plugin_errors.messages and isinstance(exec_config, dict):
        command = str(exec_config.get("command", ""))
        raise CredentialPluginError(
            f"{where}: the exec credential plugin {command!r} of user {resolved.user_name!r} "
            f"failed: {plugin_errors.messages[0]}",
            command=command,
            missing=False,
        )
    _check_client_certificate(configuration, resolved, where)
    return resolved


class _ErrorRecords(logging.Handler):
    """Collects ERROR records the client's kubeconfig loader logs (exec plugin failures)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "kubernetes" in record.pathname:
            self.messages.append(" ".join(record.getMessage().split())[:500])


def _check_credential_plugin(resolved: kubeconfig_rules.Resolved, where: str) -> None:
    """A missing exec plugin (gke-gcloud-auth-plugin, aws, kubelogin, ...): name the binary."""
    exec_config = resolved.user.get("exec")
    if not isinstance(exec_config, dict) or not exec_config.get("command"):
        return
    command = str(exec_config["command"])
    found = os.access(command, os.X_OK) if os.sep in command else shutil.which(command)
    if found:
        return
    hint = str(exec_config.get("installHint") or "").strip()
    raise CredentialPluginError(
        f"{where}: user {resolved.user_name!r} gets its credentials from the exec plugin "
        f"{command!r}, which is "
        + ("not an executable file" if os.sep in command else "not on PATH"),
        command=command,
        missing=True,
        install_hint=hint,
    )


def _check_client_certificate(
    configuration: k8s.Configuration, resolved: kubeconfig_rules.Resolved, where: str
) -> None:
    """A client certificate or key that cannot be used fails here, not as a TLS error later."""
    cert_file, key_file = configuration.cert_file, configuration.key_file
    if not cert_file and not key_file:
        return
    user = resolved.user

    def field_name(base: str) -> str:
        return f"{base}-data" if user.get(f"{base}-data") else base

    cert, key = field_name("client-certificate"), field_name("client-key")
    owner = f"{where}: user {resolved.user_name!r}"
    if not (cert_file and key_file):
        given, lacking = (cert, key) if cert_file else (key, cert)
        raise ClientCertificateInvalid(f"{owner} has {given} but no {lacking}")
    for name, path, check in ((cert, cert_file, _is_certificate), (key, key_file, _is_key)):
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ClientCertificateInvalid(f"{owner}: {name} {path}: {exc.strerror}") from exc
        if not check(data):
            what = "a PEM certificate" if name.startswith("client-certificate") else "a PEM key"
            shown = "(inline data)" if name.endswith("-data") else path
            raise ClientCertificateInvalid(f"{owner}: {name} {shown} is not {what}")
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise ClientCertificateInvalid(
            f"{owner}: {cert} and {key} do not belong together ({exc.reason or exc})"
        ) from exc


def _is_certificate(data: bytes) -> bool:
    try:
        x509.load_pem_x509_certificate(data)
    except ValueError:
        return False
    return True


def _is_key(data: bytes) -> bool:
    try:
        serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return False
    return True


class _UnverifiedHTTPSConnectionPool(urllib3.HTTPSConnectionPool):
    """HTTPS without the InsecureRequestWarning urllib3 gives on every request.

    The user chose insecure-skip-tls-verify and is told once (preflight, ``podnet sweep``); a
    warning per request floods the output, and under ``filterwarnings = error`` it ends the run
    with an INTERNALERROR.
    """

    def _validate_conn(self, conn: Any) -> None:
        # HTTPSConnectionPool._validate_conn without its warning: connect early, as it does.
        urllib3.HTTPConnectionPool._validate_conn(self, conn)
        if conn.is_closed:
            conn.connect()


def _quiet_unverified_requests(api_client: k8s.ApiClient) -> None:
    pool_manager = api_client.rest_client.pool_manager
    pool_manager.pool_classes_by_scheme = {
        **pool_manager.pool_classes_by_scheme,
        "https": _UnverifiedHTTPSConnectionPool,
    }
