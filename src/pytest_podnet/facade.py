"""The ``podnet`` façade: what a check arranges, acts and observes with.

A check arranges with the façade (``podnet.echo_deployment()``, ``podnet.client_pod()``,
``podnet.service_for(echo)``), acts with one verb (``podnet.replace(echo, "rollout-restart")``),
and asserts on the typed values it returns. Every method that changes the cluster waits,
watch-driven and within a named deadline (``waits``), for the state it promises before it
returns; only an echo Deployment's replicas are waited for at the next call that reads or acts,
so that the Pods a check creates one call after another start side by side. Each method's time
counts in one phase of the check (``phases``). The fixtures that make one per test, bound to its
own namespace, are in ``fixtures``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Concatenate, Final, Literal, ParamSpec, TypeVar, get_args, overload

import allure
import pytest

from pytest_podnet import (
    cleanup,
    concurrently,
    disruption,
    flows,
    kube,
    matrix,
    names,
    pictures,
    probes,
    report,
    waits,
    workloads,
)
from pytest_podnet.kube import DeploymentInfo, EndpointSet, NodeInfo, PodInfo, ServiceInfo
from pytest_podnet.nodes import testable
from pytest_podnet.outcomes import NotVerified
from pytest_podnet.phases import Phase, PhaseClock, timed
from pytest_podnet.probepool import ProbePool
from pytest_podnet.probes import BatchCheck, ProbeResult
from pytest_podnet.settings import IpReuse
from pytest_podnet.workloads import OnNode, Placement

#: Seconds between two batches of ``probe_until``, spent in the source Pod: kube-proxy's own
#: minimum sync period is 1 s, so a few tries per second see every change without flooding.
PROBE_PACING = 0.2
#: The disruption monitor's paths through a ClusterIP: (name, protocol, kept). HTTP with a new
#: connection for every call, HTTP on one established connection kept open, UDP from one port.
CLUSTER_IP_PATHS: Final[tuple[tuple[str, probes.Protocol, bool], ...]] = (
    ("new TCP connections", probes.HTTP, False),
    ("established TCP connection", probes.HTTP, True),
    ("UDP", probes.UDP, False),
)
#: Environment variable bumped in the Pod template when ``set_image`` keeps the same image, so
#: the template still changes and the Deployment rolls out new Pods.
TEMPLATE_REVISION_ENV = "PODNET_TEMPLATE_REVISION"

#: The ways ``Podnet.replace`` replaces Pods of an echo Deployment.
ReplacementKind = Literal[
    "delete",
    "eviction",
    "rollout-restart",
    "set-image",
    "delete-all-pods",
    "scale-to-zero-and-back",
]
REPLACEMENT_KINDS: Final[tuple[ReplacementKind, ...]] = get_args(ReplacementKind)


P = ParamSpec("P")
R = TypeVar("R")
#: A method of the façade.
Method = Callable[Concatenate["Podnet", P], R]


def _once_echoes_ready(phase: Phase) -> Callable[[Method[P, R]], Method[P, R]]:
    """``timed(phase)``, once the echo Deployments created since the façade's last call are
    Ready: ``echo_deployments`` returns at once, so the Pods a check creates one call after
    another (echo Pods, then client Pods) start side by side."""

    def decorate(method: Method[P, R]) -> Method[P, R]:
        measured = timed(phase)(method)

        @functools.wraps(method)
        def run(self: Podnet, /, *args: P.args, **kwargs: P.kwargs) -> R:
            self._settle_new_echoes()
            return measured(self, *args, **kwargs)

        return run

    return decorate


@dataclass(frozen=True)
class Echo:
    """An echo Deployment (agnhost netexec) as the façade created it."""

    namespace: str
    name: str
    selector: Mapping[str, str]
    placement: Placement | None
    node: str | None
    image: str

    @property
    def ref(self) -> str:
        return f"deployment/{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Replacement:
    """The Pods of a workload before and after they were replaced; ``seconds`` it took."""

    old: list[PodInfo]
    new: list[PodInfo]
    seconds: float = 0.0

    @property
    def kept(self) -> list[str]:
        """Refs of the old Pods still among the new ones (same UID): not replaced at all."""
        new = {p.uid for p in self.new}
        return [p.ref for p in self.old if p.uid in new]


@dataclass(frozen=True)
class Convergence:
    """A target that converged from every node: per node (of the client that probed it) the
    seconds until it answered as ``expected`` and the batch that did."""

    target: str
    expected: str
    seconds: Mapping[str, float]
    results: Mapping[str, list[ProbeResult]]

    @property
    def slowest(self) -> float:
        """The seconds of the node whose dataplane followed last."""
        return max(self.seconds.values(), default=0.0)


@dataclass
class Podnet:
    """The façade a check uses; one per test, bound to that test's namespace."""

    cluster: kube.Cluster
    namespace: str
    run_id: str
    image: str
    timeout_scale: float
    node_id: str
    user_properties: list[tuple[str, object]]
    privileged: bool = False
    ip_reuse: IpReuse = "strict"
    node_selector: str | None = None
    #: The session's shared probe Pods (``probe_pods``); None: every check makes its own.
    probe_pool: ProbePool | None = None
    #: The UDP source port of this check's flows (one more for a second IP family): the
    #: checks of different xdist workers run flows side by side in the shared probe Pods.
    flow_source_port: int = flows.SOURCE_PORT
    #: Namespaces a failure's diagnostics read (the plugin's list for this test).
    diagnosed_namespaces: list[str] = field(default_factory=list)
    undo: cleanup.UndoStack = field(default_factory=cleanup.UndoStack)
    phases: PhaseClock = field(default_factory=PhaseClock)
    #: Echo Deployments created and not yet waited for, with their replica counts.
    _new_echoes: list[tuple[Echo, int]] = field(default_factory=list)
    _clients: int = 0
    _service_account_ready: bool = False
    _ip_families: list[str] | None = None
    _nodes: list[NodeInfo] | None = None

    def __post_init__(self) -> None:
        self.waiter = waits.Waiter(self.cluster, self.timeout_scale)

    # ................................................................ cluster facts

    def nodes(self) -> list[NodeInfo]:
        """The nodes the checks use (Ready, schedulable, matched by --podnet-node-selector),
        sorted by name; read once per check (a check places its Pods on one set of nodes)."""
        if self._nodes is None:
            self._nodes = testable(self.cluster.nodes(self.node_selector))
        return list(self._nodes)

    def ip_families(self) -> list[str]:
        """``IPv4`` and/or ``IPv6``: the families the nodes' Pod CIDRs have (read once)."""
        if self._ip_families is None:
            self._ip_families = self.cluster.ip_families()
        return list(self._ip_families)

    @_once_echoes_ready("observe")
    def all_pods(self) -> list[PodInfo]:
        """Every Pod of the cluster, in every namespace (for cluster-wide IP uniqueness)."""
        return self.cluster.all_pods()

    def deadline(self, name: waits.Deadline | str) -> float:
        """A deadline of ``waits`` (``waits.POD_STARTUP`` or its name) in seconds, scaled by
        ``--podnet-timeout-scale``."""
        return waits.deadline(name, self.timeout_scale)

    # ................................................................ creating

    @timed("create_ready")
    def echo_deployment(
        self,
        replicas: int = 2,
        *,
        placement: Placement = workloads.SPREAD,
        name: str = "echo",
        drain_seconds: int = 0,
        settable_readiness: bool = False,
    ) -> Echo:
        """Create an agnhost netexec Deployment; every replica is Ready before the façade's
        next call that reads or acts (creating more Pods or Services does not wait, so they
        start side by side).

        ``placement``: ``"spread"`` (at most one replica per node; ``replicas`` must not exceed
        the schedulable nodes), ``"same-node"`` (every replica on the first schedulable node),
        or ``OnNode(name)`` (every replica pinned to that node). ``drain_seconds``: a deleted
        Pod keeps running and serving that long (see ``terminate``); 0: it exits at once.
        ``settable_readiness``: its Pods' readiness can be switched with ``set_ready`` (an exec
        readiness probe; without it a Pod is Ready once its container runs).
        """
        return self.echo_deployments(
            {name: placement},
            replicas,
            drain_seconds=drain_seconds,
            settable_readiness=settable_readiness,
        )[name]

    @timed("create_ready")
    def echo_deployments(
        self,
        placements: Mapping[str, Placement],
        replicas: int = 1,
        *,
        drain_seconds: int = 0,
        settable_readiness: bool = False,
    ) -> dict[str, Echo]:
        """Create one echo Deployment per ``{name: placement}`` at once (as ``echo_deployment``
        does); return them by name. Every replica of all of them is Ready before the façade's
        next call that reads or acts.

        Their Pods start side by side, so the wait is that of the slowest, not the sum.
        """
        echoes = {
            name: self._create_echo(name, placement, replicas, drain_seconds, settable_readiness)
            for name, placement in placements.items()
        }
        self._new_echoes += [(echo, replicas) for echo in echoes.values()]
        return echoes

    def _settle_new_echoes(self) -> None:
        """Wait until every echo Deployment created since the last call is Ready and rolled
        out (``POD_STARTUP``); counted as create -> Ready."""
        if not self._new_echoes:
            return
        new, self._new_echoes = self._new_echoes, []
        with self.phases.timing("create_ready"):
            for echo, replicas in new:
                self._settle(echo, replicas, deadline_name=waits.POD_STARTUP)

    def _create_echo(
        self,
        name: str,
        placement: Placement,
        replicas: int,
        drain_seconds: int,
        settable_readiness: bool,
    ) -> Echo:
        nodes = [n.name for n in self.nodes()]
        node: str | None = None
        if isinstance(placement, OnNode):
            if placement.node not in nodes:
                raise ValueError(
                    f"echo_deployment(placement={placement!r}): not a schedulable node; "
                    f"one of {nodes}"
                )
            node = placement.node
        elif placement == workloads.SPREAD:
            if replicas > len(nodes):
                raise ValueError(
                    f"echo_deployment(replicas={replicas}, placement='spread') needs "
                    f"{replicas} schedulable nodes, the cluster has {len(nodes)}: {nodes}"
                )
        elif placement == workloads.SAME_NODE:
            if not nodes:
                raise ValueError("echo_deployment(placement='same-node'): no schedulable node")
            node = nodes[0]
        else:
            raise ValueError(
                f"echo_deployment(placement={placement!r}): use 'spread', 'same-node' or "
                f"OnNode(name) with one of {nodes}"
            )
        body = workloads.echo_deployment(
            name,
            self.run_id,
            image=self.image,
            replicas=replicas,
            node=node,
            test=self.node_id,
            drain_seconds=drain_seconds,
            settable_readiness=settable_readiness,
        )
        self.cluster.create_deployment(self.namespace, body)
        self.undo.push(
            f"deployment/{self.namespace}/{name}",
            (lambda: self._delete_draining(name))
            if drain_seconds
            else (lambda: self.cluster.delete_deployment(self.namespace, name)),
        )
        return Echo(
            self.namespace, name, workloads.workload_selector(name), placement, node, self.image
        )

    @timed("create_ready")
    def client_pod(self, node: str | None = None, name: str | None = None) -> PodInfo:
        """Create a netexec Pod to probe from (pinned to ``node`` if given); wait until Ready."""
        name = self._create_client(node, name)
        return self.waiter.pod_ready(self.namespace, name)

    @timed("create_ready")
    def client_pods(self, nodes: Sequence[str], prefix: str = "client") -> dict[str, PodInfo]:
        """Create ``{prefix}-{i}`` pinned to each of ``nodes`` at once, then wait until all are
        Ready; return them by node."""
        return self.client_pod_sets(nodes, prefix)[prefix]

    @timed("create_ready")
    def probe_pods(self) -> dict[str, PodInfo]:
        """A netexec Pod to probe from on every node the checks use, by node, shared by the
        checks of this run (``probepool``): created once, and handed out again only once read
        back healthy (same UID and IP, Running, Ready, never restarted), replaced otherwise.
        For sending probes, answering them and running flows (``udp_flows``, ``tcp_flows``:
        stopped when the check ends): do not change them, leave anything else running in them,
        or expect them in this check's namespace; ``client_pods`` makes Pods of the check's
        own for that."""
        nodes = [n.name for n in self.nodes()]
        if self.probe_pool is None:
            return self.client_pods(nodes, prefix="probe")
        pods = self.probe_pool.pods(nodes)
        self.record("probe_pods", sorted(p.ref for p in pods.values()))
        if self.probe_pool.namespace not in self.diagnosed_namespaces:
            self.diagnosed_namespaces.append(self.probe_pool.namespace)
        return pods

    @timed("create_ready")
    def client_pod_sets(
        self, nodes: Sequence[str], *prefixes: str
    ) -> dict[str, dict[str, PodInfo]]:
        """``client_pods`` for several roles at once (e.g. ``"sender", "receiver"``): every
        Pod of every role is created before the first wait; return ``{prefix: {node: pod}}``."""
        names = {
            prefix: {
                node: self._create_client(node, f"{prefix}-{i}") for i, node in enumerate(nodes)
            }
            for prefix in prefixes
        }
        return {
            prefix: {
                node: self.waiter.pod_ready(self.namespace, name) for node, name in by_node.items()
            }
            for prefix, by_node in names.items()
        }

    @timed("create_ready")
    def daemonset_pods(self, name: str, *, role: str = "echo") -> dict[str, PodInfo]:
        """Create a netexec DaemonSet ``name``; wait until its Pod is Ready on every node the
        checks use (``POD_STARTUP``); return them by node."""
        self._service_account()
        nodes = [n.name for n in self.nodes()]
        body = workloads.daemonset(
            name, self.run_id, image=self.image, role=role, nodes=nodes, test=self.node_id
        )
        body["metadata"]["namespace"] = self.namespace
        self.cluster.create_object(body)
        self.undo.push(
            f"daemonset/{self.namespace}/{name}",
            lambda: self.cluster.delete_kind("DaemonSet", self.namespace, name),
        )
        pods = self.waiter.pods_settled(
            self.namespace,
            workloads.workload_selector(name),
            len(nodes),
            what=f"the Pods of daemonset/{self.namespace}/{name} Ready on {nodes}",
        )
        return {p.node or "": p for p in pods}

    @timed("create_ready")
    def host_network_pod(self, node: str, name: str | None = None) -> PodInfo:
        """Create a hostNetwork Pod on ``node`` to probe from (agnhost ``pause``: binds nothing
        on the host); wait until Ready. Needs ``--podnet-privileged``."""
        if not self.privileged:
            raise pytest.UsageError(
                "podnet.host_network_pod() needs a hostNetwork Pod, which the restricted Pod "
                "Security profile forbids: pass --podnet-privileged (or mark the check "
                "podnet_privileged so it is skipped without it)"
            )
        self._check_node(node, "host_network_pod")
        self._service_account()
        self._clients += 1
        name = name or f"host-{self._clients}"
        body = workloads.host_network_pod(
            name, self.run_id, image=self.image, node=node, test=self.node_id
        )
        self.cluster.create_pod(self.namespace, body)
        self.undo.push(
            f"pod/{self.namespace}/{name}", lambda: self.cluster.delete_pod(self.namespace, name)
        )
        return self.waiter.pod_ready(self.namespace, name)

    def _create_client(self, node: str | None, name: str | None) -> str:
        self._clients += 1
        name = name or ("client" if self._clients == 1 else f"client-{self._clients}")
        if node is not None:
            self._check_node(node, "client_pod")
        self._service_account()
        body = workloads.client_pod(
            name, self.run_id, image=self.image, node=node, test=self.node_id
        )
        self.cluster.create_pod(self.namespace, body)
        self.undo.push(
            f"pod/{self.namespace}/{name}", lambda: self.cluster.delete_pod(self.namespace, name)
        )
        return name

    def _check_node(self, node: str, what: str) -> None:
        names = [n.name for n in self.nodes()]
        if node not in names:
            raise ValueError(f"{what}(node={node!r}): not a schedulable node; one of {names}")

    def _service_account(self) -> None:
        if not self._service_account_ready:
            self.waiter.default_service_account(self.namespace)
            self._service_account_ready = True

    @timed("create_ready")
    def service_for(
        self, echo: Echo, name: str | None = None, *, dual_stack: bool | None = None
    ) -> ServiceInfo:
        """Create a ClusterIP Service (TCP 80 -> 8080, UDP 81 -> 8081) for ``echo``; wait until
        its EndpointSlices list exactly the Ready echo Pods. ``dual_stack`` asks for a ClusterIP
        per IP family the cluster has (``ipFamilyPolicy: PreferDualStack``); by default, when
        the cluster has two, so every check of the Service covers both.

        kube-proxy programs the ClusterIP a little after the slices list it: call
        ``expect_reachable`` (which allows ``DATAPLANE_PROPAGATION``) before a probe that must
        not see that lag."""
        name = name or echo.name
        if dual_stack is None:
            dual_stack = len(self.ip_families()) > 1
        body = workloads.service(
            name,
            self.run_id,
            selector=dict(echo.selector),
            test=self.node_id,
            dual_stack=dual_stack,
        )
        svc = self.cluster.create_service(self.namespace, body)
        self.undo.push(
            f"svc/{self.namespace}/{name}",
            lambda: self.cluster.delete_service(self.namespace, name),
        )
        ready = self.service_addresses(svc, [p for p in self.pods(echo) if p.ready and p.ip])
        self.waiter.endpoints_exactly(self.namespace, name, ready)
        return svc

    def service_addresses(self, svc: ServiceInfo, pods: Iterable[str | PodInfo]) -> set[str]:
        """What the EndpointSlices of ``svc`` list for ``pods`` (Pods or IPs): each Pod's
        addresses in the Service's IP families (both on a dual-stack Service)."""
        families = {matrix.ip_family(ip) for ip in svc.cluster_ips}
        return {ip for ip in _ips(pods, all_families=True) if matrix.ip_family(ip) in families}

    # ................................................................ reading

    @_once_echoes_ready("observe")
    def pods(self, echo: Echo) -> list[PodInfo]:
        """The current (not terminating) Pods of ``echo``, sorted by node and name."""
        pods = self.cluster.pods(echo.namespace, waits.selector_string(echo.selector))
        return sorted((p for p in pods if not p.terminating), key=lambda p: (p.node or "", p.name))

    @overload
    def read(self, obj: ServiceInfo) -> ServiceInfo: ...
    @overload
    def read(self, obj: PodInfo) -> PodInfo: ...
    @overload
    def read(self, obj: Echo) -> DeploymentInfo: ...

    def read(self, obj: ServiceInfo | PodInfo | Echo) -> ServiceInfo | PodInfo | DeploymentInfo:
        """A fresh read: ``ServiceInfo`` for a Service, ``PodInfo`` for a Pod,
        ``DeploymentInfo`` for an echo Deployment."""
        self._settle_new_echoes()
        with self.phases.timing("observe"):  # not @timed: it would hide the overloads
            if isinstance(obj, ServiceInfo):
                return self.cluster.read_service(obj.namespace, obj.name)
            if isinstance(obj, PodInfo):
                return self.cluster.read_pod(obj.namespace, obj.name)
            if isinstance(obj, Echo):
                return self.cluster.read_deployment(obj.namespace, obj.name)
        raise TypeError(f"podnet.read() takes a ServiceInfo, PodInfo or Echo, not {obj!r}")

    @_once_echoes_ready("observe")
    def deployment(self, echo: Echo) -> DeploymentInfo:
        """A fresh read of ``echo``'s Deployment."""
        return self.cluster.read_deployment(echo.namespace, echo.name)

    @_once_echoes_ready("observe")
    def endpoints(self, svc: ServiceInfo) -> EndpointSet:
        """What the Service's EndpointSlices list now."""
        return self.cluster.endpoints(svc.namespace, svc.name)

    # ................................................................ acting

    @_once_echoes_ready("actions")
    def delete_pod(self, pod: PodInfo) -> PodInfo:
        """Delete one echo Pod; return its Ready replacement once the old Pod is gone."""
        return self._replace_one(
            pod, lambda: self.cluster.delete_pod(pod.namespace, pod.name, uid=pod.uid)
        )

    @_once_echoes_ready("actions")
    def evict(self, pod: PodInfo) -> PodInfo:
        """Evict one echo Pod through the Eviction API; return its Ready replacement once the
        old Pod is gone."""
        return self._replace_one(pod, lambda: self.cluster.evict_pod(pod.namespace, pod.name))

    @_once_echoes_ready("actions")
    def rollout_restart(self, echo: Echo) -> Replacement:
        """``kubectl rollout restart``: wait until every Pod is replaced and the old ones gone."""
        return self._roll(echo, lambda: self.cluster.rollout_restart(echo.namespace, echo.name))

    @_once_echoes_ready("actions")
    def set_image(self, echo: Echo, image: str | None = None) -> Replacement:
        """``kubectl set image`` to ``image`` (default: the run's image) and wait for the
        rollout. When the image does not change, an env var in the template is bumped so the
        Deployment still replaces every Pod (a new template hash, the same image)."""
        target = image or self.image
        current = self.deployment(echo).image
        container: dict[str, Any] = {"name": workloads.CONTAINER, "image": target}
        if target == current:
            revision = datetime.now(UTC).strftime("%Y%m%d%H%M%S%f")
            container["env"] = [{"name": TEMPLATE_REVISION_ENV, "value": revision}]
        patch = {"spec": {"template": {"spec": {"containers": [container]}}}}
        return self._roll(
            echo, lambda: self.cluster.patch_deployment(echo.namespace, echo.name, patch)
        )

    @_once_echoes_ready("actions")
    def terminate(self, pod: PodInfo) -> PodInfo:
        """Delete one echo Pod of a Deployment made with ``drain_seconds`` and return its Ready
        replacement, without waiting for the deleted Pod to go: it is terminating and keeps
        serving on its IP until its drain ends. Teardown removes it at once."""
        return self._replace_one(
            pod,
            lambda: self.cluster.delete_pod(pod.namespace, pod.name, uid=pod.uid),
            wait_gone=False,
        )

    @_once_echoes_ready("actions")
    def drain(self, echo: Echo) -> list[PodInfo]:
        """Scale ``echo`` to zero and return its Pods once every one is terminating (those
        ``terminate`` left draining too): made with ``drain_seconds``, they keep serving until
        their drain ends, and no Pod is Ready. Teardown removes them at once."""
        self.cluster.scale_deployment(echo.namespace, echo.name, 0)

        def all_terminating(objects: dict[str, Any]) -> list[PodInfo] | None:
            infos = [kube.pod_info(raw) for raw in objects.values()]
            return infos if infos and all(p.terminating for p in infos) else None

        drained: list[PodInfo] = self.waiter.until(
            waits.POD_DELETION,
            f"every Pod of deployment/{echo.namespace}/{echo.name} terminating, none new",
            "pods",
            echo.namespace,
            all_terminating,
            label_selector=_sel(echo),
        )
        return sorted(drained, key=lambda p: (p.node or "", p.name))

    @_once_echoes_ready("actions")
    def scale(self, echo: Echo, replicas: int) -> list[PodInfo]:
        """Scale ``echo`` to ``replicas``; return its Pods once exactly that many are Ready
        (and, scaling down, the removed ones gone)."""
        self.cluster.scale_deployment(echo.namespace, echo.name, replicas)
        return self._settle(echo, replicas, deadline_name=waits.POD_REPLACEMENT)

    @_once_echoes_ready("actions")
    def replace_all_pods(self, echo: Echo) -> Replacement:
        """Delete every Pod of ``echo`` at once; wait for as many Ready replacements and for
        every old Pod to be gone."""
        start = time.monotonic()
        old = self.pods(echo)
        replicas = self.deployment(echo).replicas
        for pod in old:
            self.cluster.delete_pod(pod.namespace, pod.name, uid=pod.uid)
        new = self._settle(
            echo, replicas, gone_uids={p.uid for p in old}, deadline_name=waits.POD_REPLACEMENT
        )
        return Replacement(old, new, time.monotonic() - start)

    @_once_echoes_ready("actions")
    def replace(self, echo: Echo, how: ReplacementKind) -> Replacement:
        """Replace Pods of ``echo`` the way ``how`` says; return them once the replacements are
        Ready and every replaced Pod is gone.

        ``delete`` and ``eviction``: the first Pod (by node and name), by a Pod delete or through
        the Eviction API; ``rollout-restart`` and ``set-image`` (the run's image, a new template):
        every Pod, one at a time; ``delete-all-pods``: every Pod at once;
        ``scale-to-zero-and-back``: to 0 replicas, then back to as many as before.
        """
        start = time.monotonic()
        if how in ("delete", "eviction"):
            victim = self.pods(echo)[0]
            new = self.delete_pod(victim) if how == "delete" else self.evict(victim)
            return Replacement([victim], [new], time.monotonic() - start)
        if how == "rollout-restart":
            return self.rollout_restart(echo)
        if how == "set-image":
            return self.set_image(echo)
        if how == "delete-all-pods":
            return self.replace_all_pods(echo)
        if how == "scale-to-zero-and-back":
            old = self.pods(echo)
            self.scale(echo, 0)
            return Replacement(old, self.scale(echo, len(old)), time.monotonic() - start)
        raise ValueError(f"replace(how={how!r}): use one of {', '.join(REPLACEMENT_KINDS)}")

    @_once_echoes_ready("actions")
    def set_ready(self, pod: PodInfo, ready: bool) -> float:
        """Switch the Pod's readiness probe to pass (``True``) or fail (``False``); return the
        seconds from the switch until the Pod's Ready condition follows. The Pod must be one of
        an ``echo_deployment(..., settable_readiness=True)``."""
        if pod.labels.get(workloads.READINESS_LABEL) != workloads.SETTABLE:
            raise ValueError(
                f"set_ready({pod.ref}): its readiness cannot be switched; create its workload "
                "with echo_deployment(..., settable_readiness=True)"
            )
        command = (
            ["rm", "-f", workloads.UNREADY_FILE]
            if ready
            else ["bash", "-c", f": > {workloads.UNREADY_FILE}"]
        )
        start = time.monotonic()
        result = self._run_in(pod, command)
        if result.exit_code != 0:
            raise AssertionError(
                f"could not switch readiness of {pod.ref} to {ready}: exit {result.exit_code}, "
                f"{result.stderr.strip() or result.stdout.strip()}"
            )
        self.waiter.pod_ready_is(pod.namespace, pod.name, ready)
        return time.monotonic() - start

    @_once_echoes_ready("observe")
    def wait_endpoints(
        self,
        svc: ServiceInfo,
        ready_ips: Iterable[str | PodInfo],
        *,
        serving_terminating: Iterable[str | PodInfo] | None = None,
    ) -> float:
        """Wait until the Service's EndpointSlices list exactly ``ready_ips`` (IPs or Pods) as
        ready, and if given exactly ``serving_terminating`` as serving and terminating; return
        the seconds it took."""
        start = time.monotonic()
        draining = serving_terminating
        self.waiter.endpoints_exactly(
            svc.namespace,
            svc.name,
            self.service_addresses(svc, ready_ips),
            serving_terminating=None if draining is None else self.service_addresses(svc, draining),
        )
        return time.monotonic() - start

    # ................................................................ probing

    @_once_echoes_ready("probes")
    def probe(
        self,
        from_: PodInfo,
        to: probes.Target | Sequence[probes.Target],
        protocol: probes.Protocol = probes.HTTP,
        request: probes.Request = probes.CLIENTIP,
        count: int = 1,
        converge: waits.Deadline | None = None,
    ) -> list[ProbeResult]:
        """Call every target from ``from_`` in one exec; ``count`` calls per target.

        Targets: a Pod (its IP, netexec's port), a Service (its ClusterIP and port), a bare IP
        (netexec's port), or a ``probes.Probe``. Inconclusive answers are retried, wrong ones
        never; outcomes are ``probes.REACHABLE``, ``REFUSED``, ``TIMED_OUT`` or ``ERROR``.
        With ``converge`` (a deadline, e.g. ``waits.DATAPLANE_PROPAGATION``) an unreachable
        target is called again until it answers or that deadline passes; the last answer is
        returned either way, and an answer, right or wrong, is never retried.
        """
        return probes.run_probes(
            self.cluster,
            from_,
            _as_targets(to),
            protocol=protocol,
            request=request,
            count=count,
            converge_within=self.deadline(converge) if converge else None,
            scale=self.timeout_scale,
        )

    @_once_echoes_ready("probes")
    def probe_until(
        self,
        from_: PodInfo,
        to: probes.Target | Sequence[probes.Target],
        *,
        done: Callable[[Sequence[ProbeResult]], bool],
        what: str,
        deadline: waits.Deadline,
        protocol: probes.Protocol = probes.HTTP,
        request: probes.Request = probes.CLIENTIP,
        count: int = 1,
    ) -> tuple[float, list[ProbeResult]]:
        """Run one batch again and again until ``done(results)``; return the seconds it took and
        the batch that satisfied it (``done``: a ``probes.BatchCheck`` such as
        ``probes.answered_only_by(names)``). Past ``deadline`` (scaled) raise
        ``waits.WaitTimeout`` with ``what`` and the last batch. For convergence only (a
        dataplane catching up with a change): assert the settled state with ``probe`` after.

        The batches run in one exec, ``PROBE_PACING`` apart, each judged as soon as it ends."""
        return self._probe_until(
            from_, _as_targets(to), done, what, deadline, protocol, request, count
        )

    def _probe_until(
        self,
        from_: PodInfo,
        targets: Sequence[probes.Target],
        done: Callable[[Sequence[ProbeResult]], bool],
        what: str,
        deadline: waits.Deadline,
        protocol: probes.Protocol,
        request: probes.Request,
        count: int,
    ) -> tuple[float, list[ProbeResult]]:
        seconds = self.deadline(deadline)
        start = time.monotonic()
        results: list[ProbeResult] = []
        # A batch that starts before the deadline runs to its end and is judged: the loop in
        # the Pod keeps starting batches for as long as the deadline allows.
        batches = probes.stream_probes(
            self.cluster,
            from_,
            targets,
            repeat_for=seconds,
            gap=PROBE_PACING,
            protocol=protocol,
            request=request,
            count=count,
            scale=self.timeout_scale,
        )
        with closing(batches):
            for results in batches:
                elapsed = time.monotonic() - start
                if done(results):
                    return elapsed, results
                if elapsed >= seconds:
                    break
        raise waits.WaitTimeout(
            waits.label(deadline), seconds, what, "\n".join(f"  {r}" for r in results)
        )

    @_once_echoes_ready("probes")
    def converge(
        self,
        clients: Mapping[str, PodInfo],
        to: probes.Target,
        expect: BatchCheck,
        *,
        count: int,
        context: str = "",
        request: probes.Request = probes.HOSTNAME,
        deadline: waits.Deadline = waits.DATAPLANE_PROPAGATION,
    ) -> Convergence:
        """Wait until ``to`` is ``expect`` (e.g. ``probes.answered_only_by(names)``) from the
        client on every node, ``count`` requests a batch (each a new connection), within
        ``deadline`` per node; return how long each node took.

        Each node's dataplane is programmed on its own, so each node's client converges on its
        own, all side by side; a node that does not raises ``waits.WaitTimeout`` naming the
        node, what was expected (``expect.description``, then ``context``) and its last batch
        (the first such node by name, when several do not).
        """
        target = _described(to)

        def one(node: str) -> tuple[float, list[ProbeResult]]:
            client = clients[node]
            return self._probe_until(
                client,
                [to],
                expect,
                f"{target} to be {expect.description} from {client.ref} on {node}"
                + (f" ({context})" if context else ""),
                deadline,
                probes.HTTP,
                request,
                count,
            )

        found = concurrently.each(one, list(clients))
        seconds = {node: took for node, (took, _) in found.items()}
        results = {node: batch for node, (_, batch) in found.items()}
        return Convergence(target, expect.description, seconds, results)

    @_once_echoes_ready("probes")
    def probe_pairs(
        self,
        senders: Mapping[str, PodInfo],
        receivers: Mapping[str, matrix.Receiver],
        scope: matrix.Scope,
        *,
        what: str,
        expect: matrix.Expectation,
        converge: waits.Deadline | None = None,
        protocols: Sequence[probes.Protocol] = (probes.HTTP, probes.UDP),
    ) -> matrix.PairMatrices:
        """Probe ``/clientip`` from every sender to every receiver it pairs with in ``scope``;
        one ``matrix.PairMatrix`` per protocol and IP family, each recorded for the report.

        ``senders`` and ``receivers`` map a node name to the Pod (or, for receivers, the Service
        whose one backend runs there) on that node. ``expect`` (e.g.
        ``matrix.source_is_sender_pod_ip``) judges every reachable pair. Pods are probed in every
        IP family of the cluster (a Pod without an address in one counts as unreachable in it),
        Services in the families they have. With ``converge`` (for a Service the dataplane may
        still be programming) an unreachable pair is probed again until that deadline; an
        answer, right or wrong, is never retried.
        """
        families = matrix.families_to_probe(self.ip_families(), senders, receivers)

        def run(sender: PodInfo, batch: Sequence[probes.Probe]) -> list[ProbeResult]:
            return self.probe(from_=sender, to=list(batch), converge=converge)

        found = matrix.probe_pairs(
            senders,
            receivers,
            scope,
            what=what,
            expect=expect,
            families=families,
            run=run,
            protocols=protocols,
        )
        for pairs in found.matrices:
            self.record(f"matrix {pairs.what}", pairs.rows())
            self.user_properties.append((report.MATRIX_PROPERTY, pairs.to_json()))
            pictures.attach_matrix(pairs.to_json())
        return found

    @_once_echoes_ready("probes")
    def expect_reachable(
        self,
        from_: PodInfo | Mapping[str, PodInfo],
        to: probes.Target | Sequence[probes.Target],
        protocol: probes.Protocol = probes.HTTP,
        request: probes.Request = probes.CLIENTIP,
    ) -> list[ProbeResult]:
        """Assert that ``from_`` (a Pod, or Pods by node: each side by side) reaches every
        target, allowing the dataplane ``DATAPLANE_PROPAGATION`` to converge; return the
        results."""
        within = self.deadline(waits.DATAPLANE_PROPAGATION)
        sources = {"": from_} if isinstance(from_, PodInfo) else from_
        found = self.probe_each(
            sources, to, protocol=protocol, request=request, converge=waits.DATAPLANE_PROPAGATION
        )
        results = [r for node in sources for r in found[node]]
        failed = [r for r in results if r.outcome != probes.REACHABLE]
        where = (
            f"{from_.ref} ({from_.ip} on {from_.node})"
            if isinstance(from_, PodInfo)
            else ", ".join(f"{p.ref} ({p.ip} on {p.node})" for p in from_.values())
        )
        assert not failed, (
            f"{len(failed)} of {len(results)} call(s) not reachable from {where} within "
            f"{within:g}s [{waits.DATAPLANE_PROPAGATION}]:\n" + "\n".join(f"  {r}" for r in failed)
        )
        return results

    @_once_echoes_ready("probes")
    def probe_each(
        self,
        clients: Mapping[str, PodInfo],
        to: probes.Target | Sequence[probes.Target],
        protocol: probes.Protocol = probes.HTTP,
        request: probes.Request = probes.CLIENTIP,
        count: int = 1,
        converge: waits.Deadline | None = None,
    ) -> dict[str, list[ProbeResult]]:
        """``probe`` from the client on every node, side by side (one exec each); the results
        by node. Each node's dataplane answers for itself, so checks through a ClusterIP call
        from every node."""
        return concurrently.each(
            lambda node: self.probe(
                clients[node],
                to,
                protocol=protocol,
                request=request,
                count=count,
                converge=converge,
            ),
            list(clients),
        )

    # ................................................................ names

    @_once_echoes_ready("probes")
    def service_names(self, svc: ServiceInfo, client: PodInfo) -> tuple[str, str]:
        """The fully qualified DNS name of ``svc`` and its short name, in the cluster domain
        that ``client``'s resolv.conf names. NOT VERIFIED when the cluster gives Pods no DNS."""
        resolv = self._run_in(client, ["cat", "/etc/resolv.conf"]).stdout
        domain = names.cluster_domain(resolv, client.namespace)
        if domain is None:
            raise NotVerified(
                f"{client.ref} has no cluster DNS: its /etc/resolv.conf has no "
                f"{client.namespace}.svc.<domain> search domain "
                f"({' | '.join(resolv.splitlines())})",
                "run a cluster DNS (CoreDNS behind the kube-dns Service) and set the kubelets'"
                " clusterDNS and clusterDomain; or deselect the Service-name check",
            )
        return names.service_names(svc, domain)

    @_once_echoes_ready("probes")
    def call_by_name(
        self, clients: Mapping[str, PodInfo], service_names: Sequence[str], pause: float = 0.0
    ) -> list[names.NameCall]:
        """Call every name (``http://<name>/hostname`` on the Service port) from the client on
        every node, as an application there would: what each resolved to and who answered.
        ``pause`` seconds pass in each Pod first (paces repeated rounds)."""
        calls = concurrently.each(
            lambda node: names.call(
                self.cluster, clients[node], service_names, scale=self.timeout_scale, pause=pause
            ),
            list(clients),
        )
        return [call for node in clients for call in calls[node]]

    @_once_echoes_ready("probes")
    def names_converge(
        self,
        clients: Mapping[str, PodInfo],
        service_names: Sequence[str],
        svc: ServiceInfo,
        *,
        answered_by: Collection[str],
        deadline: waits.Deadline = waits.DNS_PROPAGATION,
    ) -> float:
        """Wait until every name, from the client on every node, resolves to a ClusterIP of
        ``svc`` (either family's, on a dual-stack Service) and is answered by one of the Pods
        ``answered_by``, within ``deadline``; return the seconds it took. Past it raise
        ``waits.WaitTimeout`` with the last calls."""
        expected = frozenset(answered_by)
        seconds = self.deadline(deadline)
        start = time.monotonic()
        pause = 0.0
        while True:
            calls = self.call_by_name(clients, service_names, pause)
            elapsed = time.monotonic() - start
            if all(c.address in svc.cluster_ips and c.answered_by in expected for c in calls):
                return elapsed
            if elapsed >= seconds:
                raise waits.WaitTimeout(
                    waits.label(deadline),
                    seconds,
                    f"{' and '.join(service_names)} to resolve to {svc.ref}'s ClusterIP "
                    f"{' or '.join(svc.cluster_ips)} and be answered by"
                    f" {' or '.join(sorted(expected))} from every node",
                    "\n".join(f"  {c}" for c in calls),
                )
            pause = PROBE_PACING

    # ................................................................ flows

    @_once_echoes_ready("probes")
    def udp_flows(
        self,
        clients: Mapping[str, PodInfo],
        to: ServiceInfo | PodInfo,
        *,
        answered_by: Collection[str],
    ) -> dict[str, flows.Flow]:
        """Start a UDP flow (``flows``: a ``hostname`` call every ``flows.INTERVAL`` seconds from
        one source port, so one conntrack entry) from each client to ``to``; wait until each is
        answered by one of the Pods ``answered_by`` within ``DATAPLANE_PROPAGATION``; return
        them by node (to a dual-stack Service, a flow per ClusterIP: the second family's keyed
        ``"<node> IPv6"``). A flow stops by itself after the deadlines of a replacement, or with
        its Pod."""
        return self._start_flows(clients, to, probes.UDP, answered_by)

    @_once_echoes_ready("probes")
    def tcp_flows(
        self,
        clients: Mapping[str, PodInfo],
        to: ServiceInfo | PodInfo,
        *,
        answered_by: Collection[str],
    ) -> dict[str, flows.Flow]:
        """As ``udp_flows``, for a TCP client that opens a new connection for every call (an
        HTTP ``hostname`` request every ``flows.INTERVAL`` seconds, a new source port each)."""
        return self._start_flows(clients, to, probes.HTTP, answered_by)

    def _start_flows(
        self,
        clients: Mapping[str, PodInfo],
        to: ServiceInfo | PodInfo,
        protocol: probes.Protocol,
        answered_by: Collection[str],
    ) -> dict[str, flows.Flow]:
        # A flow per ClusterIP of a dual-stack Service: the primary keyed by the node, the other
        # family's by "<node> IPv6", from a source port of its own (one UDP socket each).
        first = probes.probe_for(to, protocol, probes.HOSTNAME)
        targets = [first]
        if isinstance(to, ServiceInfo):
            others = [ip for ip in to.cluster_ips if ip != first.ip]
            targets += [dataclasses.replace(first, ip=ip) for ip in others]
        lifetime = sum(
            self.deadline(d)
            for d in (
                waits.DATAPLANE_PROPAGATION,
                waits.POD_REPLACEMENT,
                waits.ENDPOINTS_PROPAGATION,
                waits.DATAPLANE_PROPAGATION,
            )
        )
        starts = {
            node if i == 0 else f"{node} {matrix.ip_family(target.ip)}": (client, target, i)
            for node, client in clients.items()
            for i, target in enumerate(targets)
        }

        def start(key: str) -> flows.Flow:
            client, target, i = starts[key]
            return flows.start(
                self.cluster,
                client,
                target,
                lifetime=lifetime,
                scale=self.timeout_scale,
                source_port=self.flow_source_port + i,
                tag=self.namespace,
            )

        running = concurrently.each(start, list(starts))
        # Flows in Pods the check does not own (the shared probe Pods) end with the check;
        # its own Pods take theirs with them.
        shared: dict[str, list[flows.Flow]] = {}
        for flow in running.values():
            if flow.source.namespace != self.namespace:
                shared.setdefault(flow.source.ref, []).append(flow)
        for ref, started in shared.items():
            self.undo.push(f"flows in {ref}", functools.partial(self._stop_flows, started))
        self.wait_flows(running, answered_by=answered_by, context="before any change")
        return running

    def _stop_flows(self, started: Sequence[flows.Flow]) -> None:
        flows.stop(self.cluster, started, scale=self.timeout_scale)

    @_once_echoes_ready("probes")
    def wait_flows(
        self,
        running: Mapping[str, flows.Flow],
        *,
        answered_by: Collection[str],
        in_a_row: int = 1,
        context: str = "",
        deadline: waits.Deadline = waits.DATAPLANE_PROPAGATION,
    ) -> dict[str, float]:
        """Wait until every flow's calls from now on are answered ``in_a_row`` times in a row by
        one of the Pods ``answered_by``, all within ``deadline``; return the seconds each node's
        flow took. Every flow is followed as it runs (one exec each, side by side); one that
        does not get there raises ``waits.WaitTimeout`` naming the flow, what was expected and
        its calls since the wait began (the first such flow by key, when several do not)."""
        expected = frozenset(answered_by)
        seconds = self.deadline(deadline)
        start = time.monotonic()

        def one(node: str) -> float:
            flow = running[node]
            calls: list[flows.FlowCall] = []
            ended = False
            following = flows.follow(self.cluster, flow, seconds=seconds, scale=self.timeout_scale)
            with closing(following):
                for call in following:
                    if call is None:
                        ended = True
                        break
                    calls.append(call)
                    if flows.first_run_answered_by(calls, expected, in_a_row) is not None:
                        return time.monotonic() - start
            raise waits.WaitTimeout(
                waits.label(deadline),
                seconds,
                f"{flow} to be answered"
                + (f" {in_a_row} times in a row" if in_a_row > 1 else "")
                + f" by {' or '.join(sorted(expected))}"
                + (f" ({context})" if context else ""),
                f"its calls since the wait began ({'it stopped' if ended else 'running'}"
                f"; every {flows.INTERVAL:g}s):\n{flows.summary(calls)}",
            )

        return concurrently.each(one, list(running))

    @_once_echoes_ready("probes")
    def flow_calls_during(
        self, running: Mapping[str, flows.Flow], seconds: float
    ) -> dict[str, list[flows.FlowCall]]:
        """Every call each flow makes in the next ``seconds`` (an observation window: each flow
        followed by one exec, side by side); return them by node. A flow that makes no call in
        the window raises ``waits.WaitTimeout`` (``exec-overhead``, not an observation
        deadline: the check could not watch, NOT VERIFIED)."""

        def one(node: str) -> list[flows.FlowCall]:
            flow = running[node]
            calls: list[flows.FlowCall] = []
            ended = False
            following = flows.follow(self.cluster, flow, seconds=seconds, scale=self.timeout_scale)
            with closing(following):
                for call in following:
                    if call is None:
                        ended = True
                        break
                    calls.append(call)
            if not calls:
                raise waits.WaitTimeout(
                    waits.label(waits.EXEC_OVERHEAD),
                    seconds,
                    f"{flow} to make a call",
                    "it made none" + (" (it stopped)" if ended else ""),
                )
            return calls

        return concurrently.each(one, list(running))

    @_once_echoes_ready("probes")
    def flow_calls(self, flow: flows.Flow) -> list[flows.FlowCall]:
        """Every call of ``flow`` so far, oldest first."""
        calls, _ = flows.read(self.cluster, flow, scale=self.timeout_scale)
        return calls

    @_once_echoes_ready("probes")
    def flow_calls_of(self, running: Mapping[str, flows.Flow]) -> dict[str, list[flows.FlowCall]]:
        """``flow_calls`` of every flow of ``running`` (read side by side), by its key."""
        return concurrently.each(lambda key: self.flow_calls(running[key]), list(running))

    # ................................................................ disruption

    @contextmanager
    def disruption_monitor(self, *, lifetime: float) -> Iterator[disruption.Monitor]:
        """Call every Pod-network path without pause while the block runs; on exit read every
        path back into ``monitor.reports`` (recorded as ``disruption`` and
        ``disruption_longest_outage_s``).

        The Pods are DaemonSet Pods (``daemonset_pods``), which drains leave in place: an echo
        Pod on every node behind one Service, and a prober Pod on every node. Each prober runs one
        flow (``flows``, 5 calls a second, read back in batches) per path: HTTP ``/clientip`` to
        the echo Pod on its own node and on every other node, HTTP to the echoes' ClusterIP with
        a new connection each call and on one established connection kept open (a cut is
        reported apart from outages), and UDP to it from one source port. Each path must answer
        once (within ``DATAPLANE_PROPAGATION``) before the block starts. The flows stop by
        themselves after ``lifetime`` seconds; a block that outlasts them is NOT VERIFIED (the
        monitor stopped watching)."""
        echoes = self.daemonset_pods("monitor-echo", role="echo")
        probers = self.daemonset_pods("monitor-prober", role="client")
        svc = self.service_for(self._echo_of(next(iter(echoes.values()))))
        targets: list[tuple[str, PodInfo, probes.Probe, bool]] = []
        for node, prober in probers.items():
            for other, backend in echoes.items():
                scope = "same node" if other == node else "cross node"
                name = f"pod -> pod ({scope}) {node} -> {other}"
                targets.append((name, prober, probes.probe_for(backend, probes.HTTP), False))
            for how, protocol, kept in CLUSTER_IP_PATHS:
                name = f"pod -> ClusterIP ({how}) from {node}"
                targets.append((name, prober, probes.probe_for(svc, protocol), kept))
        paths = {name: (prober, target, kept) for name, prober, target, kept in targets}

        def start(name: str) -> flows.Flow:
            prober, target, kept = paths[name]
            return flows.start(
                self.cluster, prober, target, lifetime=lifetime, scale=self.timeout_scale, kept=kept
            )

        running = concurrently.each(start, list(paths))
        answered = concurrently.each(lambda name: self._first_answer(running[name]), list(running))
        monitor = disruption.Monitor(
            [disruption.MonitoredPath(n, f, answered[n]) for n, f in running.items()]
        )
        started = time.monotonic()
        yield monitor
        for path in monitor.paths:
            calls, ended = flows.read(self.cluster, path.flow, scale=self.timeout_scale)
            if ended:  # read right after the block: the flow stopped while it ran
                raise NotVerified(
                    f"the disruption monitor's flow for {path.name} stopped (its lifetime is"
                    f" {lifetime:g}s) before the monitored block ended, after"
                    f" {time.monotonic() - started:.0f}s: what came later was not watched",
                    "give the monitor a lifetime longer than the block runs",
                )
            monitor.reports.append(path.report(calls))
        self.record("disruption", str(monitor))
        self.record("disruption_longest_outage_s", monitor.longest())

    def _first_answer(self, flow: flows.Flow) -> float:
        """Wait until ``flow`` is answered once, within ``DATAPLANE_PROPAGATION``; return when
        its answered call ended, in the flow's clock."""
        seconds = self.deadline(waits.DATAPLANE_PROPAGATION)
        calls: list[flows.FlowCall] = []
        following = flows.follow(
            self.cluster, flow, seconds=seconds, after=0, scale=self.timeout_scale
        )
        with closing(following):
            for call in following:
                if call is None:
                    break
                calls.append(call)
                if call.outcome == probes.REACHABLE:
                    return call.at + call.elapsed
        raise waits.WaitTimeout(
            waits.label(waits.DATAPLANE_PROPAGATION),
            seconds,
            f"{flow} to be answered before the disruption monitor starts",
            f"its calls:\n{flows.summary(calls)}",
        )

    # ................................................................ reporting

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        """A named step of the check (an allure step too)."""
        with allure.step(name):
            yield

    def record(self, name: str, value: object) -> None:
        """Record a measured value or observation for the JSON report (``podnet:<name>``) and
        allure (a parameter for a scalar, an attachment for anything else)."""
        self.user_properties.append((f"podnet:{name}", value))
        if isinstance(value, str | int | float | bool) or value is None:
            allure.dynamic.parameter(f"podnet:{name}", value, excluded=True)
        else:
            allure.attach(
                _as_text(value), name=f"podnet:{name}", attachment_type=allure.attachment_type.TEXT
            )

    # ................................................................ internals

    def _settle(
        self,
        echo: Echo,
        replicas: int,
        *,
        gone_uids: Iterable[str] = (),
        deadline_name: waits.Deadline,
    ) -> list[PodInfo]:
        pods = self.waiter.pods_settled(
            echo.namespace,
            echo.selector,
            replicas,
            gone_uids=gone_uids,
            deadline_name=deadline_name,
            owner=echo.name,
        )
        self.waiter.rollout_complete(echo.namespace, echo.name)
        return pods

    def _delete_draining(self, name: str) -> None:
        """Delete a Deployment made with ``drain_seconds`` without waiting out its Pods' drain
        (they would hold the namespace that long): scaled to zero first, so no Pod is made
        again; then every Pod's netexec told to exit at once, then every Pod deleted with no
        grace period, then the Deployment.

        Without the exit, the kubelet still gave each container its whole grace period
        (``drain_seconds`` + 5) after the Pod was gone from the API: seen, three such Pods
        running two minutes past their check, costing the next checks the kubelet's and
        containerd's work on them."""
        with suppress(kube.NotFound):
            self.cluster.scale_deployment(self.namespace, name, 0)
        selector = waits.selector_string(workloads.workload_selector(name))
        pods = self.cluster.pods(self.namespace, selector)
        concurrently.each(self._exit_netexec, pods)
        for pod in pods:
            with suppress(kube.NotFound):
                self.cluster.delete_pod(pod.namespace, pod.name, grace_period=0, uid=pod.uid)
        self.cluster.delete_deployment(self.namespace, name)

    def _exit_netexec(self, pod: PodInfo) -> None:
        """Ask ``pod``'s netexec to exit now, whatever drain it is in (its ``/exit`` endpoint,
        no graceful shutdown). A Pod whose container is already gone is no error."""
        exit_now = f"http://127.0.0.1:{workloads.HTTP_PORT}/exit?timeout=0s"
        with suppress(kube.KubeError):
            self._run_in(pod, ["curl", "-s", "-m", "2", exit_now])

    def _run_in(self, pod: PodInfo, command: list[str]) -> kube.ExecResult:
        """Run ``command`` in ``pod``'s netexec container, within the exec deadline."""
        return self.cluster.exec(
            pod.namespace,
            pod.name,
            command,
            timeout=self.deadline(waits.EXEC_OVERHEAD),
            container=workloads.CONTAINER,
        )

    def _echo_of(self, pod: PodInfo) -> Echo:
        workload = pod.labels.get(workloads.WORKLOAD_LABEL)
        if pod.labels.get(workloads.ROLE_LABEL) != "echo" or workload is None:
            raise ValueError(
                f"{pod.ref} is not an echo Pod (role {pod.labels.get(workloads.ROLE_LABEL)!r}): "
                "only a Deployment's Pods get a replacement"
            )
        return Echo(
            pod.namespace, workload, workloads.workload_selector(workload), None, None, self.image
        )

    def _replace_one(self, pod: PodInfo, remove: Any, *, wait_gone: bool = True) -> PodInfo:
        """Run ``remove`` on one echo Pod; return its Ready replacement once the old Pod is gone
        (``wait_gone``) or, without, while it may still be terminating (``terminate``)."""
        echo = self._echo_of(pod)
        before = {p.uid for p in self.cluster.pods(echo.namespace, _sel(echo))}
        replicas = self.deployment(echo).replicas
        remove()
        if wait_gone:
            pods = self._settle(
                echo, replicas, gone_uids={pod.uid}, deadline_name=waits.POD_REPLACEMENT
            )
        else:
            pods = self.waiter.pods_settled(
                echo.namespace,
                echo.selector,
                replicas,
                draining_uids={pod.uid},
                deadline_name=waits.POD_REPLACEMENT,
                owner=echo.name,
            )
        new = [p for p in pods if p.uid not in before]
        if len(new) != 1:
            raise AssertionError(
                f"expected one replacement for {pod.ref} ({pod.ip}), found {len(new)} new "
                f"Pod(s) among {[p.ref for p in pods]}"
            )
        return new[0]

    def _roll(self, echo: Echo, change: Any) -> Replacement:
        start = time.monotonic()
        old = self.pods(echo)
        replicas = self.deployment(echo).replicas
        change()
        self.waiter.rollout_complete(echo.namespace, echo.name)
        new = self._settle(
            echo, replicas, gone_uids={p.uid for p in old}, deadline_name=waits.ROLLOUT_COMPLETE
        )
        return Replacement(old, new, time.monotonic() - start)


def _ips(pods_or_ips: Iterable[str | PodInfo], *, all_families: bool = False) -> set[str]:
    """The IPs given, and the primary IP of each Pod given (``all_families``: every IP)."""
    ips: set[str | None] = set()
    for p in pods_or_ips:
        if not isinstance(p, PodInfo):
            ips.add(p)
        elif all_families and p.ips:
            ips.update(p.ips)
        else:
            ips.add(p.ip)
    if None in ips:
        raise ValueError(f"a Pod without an IP in {pods_or_ips!r}")
    return {ip for ip in ips if ip}


def _as_text(value: object) -> str:
    if isinstance(value, list | tuple):
        return "\n".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return "\n".join(f"{k}: {v}" for k, v in value.items())
    return str(value)


def _sel(echo: Echo) -> str:
    return waits.selector_string(echo.selector)


def _described(target: probes.Target) -> str:
    if isinstance(target, ServiceInfo):
        return f"{target.ref} ({target.cluster_ip})"
    if isinstance(target, PodInfo):
        return f"{target.ref} ({target.ip} on {target.node})"
    if isinstance(target, probes.Probe):
        return f"{target.ref or target.ip} ({target.address})"
    return target


def _as_targets(to: probes.Target | Sequence[probes.Target]) -> list[probes.Target]:
    if isinstance(to, PodInfo | ServiceInfo | str | probes.Probe):
        return [to]
    return list(to)
