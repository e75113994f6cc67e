"""Frozen value objects (``PodInfo``, ``ServiceInfo``, ...) and their parsers from the API's JSON.

Objects are read as plain JSON dicts (camelCase, as the API serves them) and turned into value
objects here, so a watch event, a list item and a fresh read go through the same code. Pure: no
``kubernetes`` import, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, Literal

import yaml

Raw = dict[str, Any]

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "pytest-podnet"
RUN_LABEL: Final = "podnet.io/run"
RESTARTED_AT_ANNOTATION: Final = "kubectl.kubernetes.io/restartedAt"

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
    #: ``status.nodeInfo.kubeletVersion``, e.g. ``v1.36.3``.
    kubelet_version: str = ""

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

    @property
    def stopped(self) -> bool:
        """Deleted and in a terminal phase: the kubelet reports ``Succeeded``/``Failed`` for a
        deleted Pod only after every container stopped and the sandbox was stopped, which tears
        down its network (the CNI's DEL: the IP is released). The object may linger a moment
        longer while the kubelet reclaims volumes and cgroups; what it held on the network is
        gone, which is also when the scheduler stops counting it."""
        return self.terminating and self.phase in TERMINAL_PHASES


#: Pod phases after which no container of the Pod runs again.
TERMINAL_PHASES: Final = frozenset({"Succeeded", "Failed"})


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
    #: Not ready because terminating, yet still serving (``serving: true, terminating: true``):
    #: what a dataplane falls back to when no endpoint is ready (EndpointSlice API). A subset
    #: of ``not_ready_ips``.
    serving_terminating_ips: frozenset[str] = frozenset()


@dataclass(frozen=True)
class NamespaceInfo:
    """A namespace with the labels and age a sweep decides on."""

    name: str
    labels: Mapping[str, str]
    created: datetime | None
    phase: str
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: For ownerReferences of cluster-scoped objects that must go with the namespace.
    uid: str = ""


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
        kubelet_version=(status.get("nodeInfo") or {}).get("kubeletVersion", ""),
    )


def endpoint_set(service: str, slices: list[Raw]) -> EndpointSet:
    """Merge the EndpointSlices of ``service`` into ready and not-ready address sets.

    An endpoint whose ``ready`` condition is unset counts as ready, as the EndpointSlice API asks
    consumers to do.
    """
    ready: set[str] = set()
    not_ready: set[str] = set()
    serving_terminating: set[str] = set()
    for item in slices:
        for endpoint in item.get("endpoints") or []:
            conditions = endpoint.get("conditions") or {}
            addresses = endpoint.get("addresses") or []
            (not_ready if conditions.get("ready") is False else ready).update(addresses)
            if conditions.get("serving") and conditions.get("terminating"):
                serving_terminating.update(addresses)
    names = tuple(sorted(_meta(item).get("name", "") for item in slices))
    not_ready -= ready
    return EndpointSet(
        service,
        frozenset(ready),
        frozenset(not_ready),
        names,
        frozenset(serving_terminating & not_ready),
    )


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
        uid=meta.get("uid", ""),
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
