"""Named deadlines and the watch-driven waits built on them.

Every deadline below is a ``Deadline`` (name, seconds, why); ``POD_STARTUP.scaled(scale)`` (or
``deadline(name, scale)``) applies ``--podnet-timeout-scale`` (passed in, never read from pytest
here). A wait watches the objects it is about (``kube.Cluster.observe``), never sleeps, and
fails with what it awaited, for how long, and the last state it saw::

    timed out after 30s [endpoints-propagation] waiting for EndpointSlices of svc/ns/echo to
    list exactly {10.244.1.7}; last seen:
    <YAML>

States a Pod cannot recover from on its own (an image that cannot be pulled, a crash loop, no node
that fits) end a wait at once with ``Unrecoverable`` instead of running out the clock. Transient
API errors are retried underneath, in ``kube`` (``kube.TRANSIENT_API_RETRY``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from pytest_podnet import kube
from pytest_podnet.kube import Raw

T = TypeVar("T")

#: Every deadline's name, as ``WaitTimeout`` shows it; a typo in one is a mypy error.
DeadlineName = Literal[
    "pod-startup",
    "namespace-setup",
    "pod-deletion",
    "pod-replacement",
    "rollout-complete",
    "endpoints-propagation",
    "dataplane-propagation",
    "pod-reachable",
    "dns-propagation",
    "old-ip-release",
    "readiness-change",
    "namespace-deletion",
    "cleanup",
    "preflight-connect",
    "node-taints-cleared",
    "probe-attempt",
    "exec-overhead",
    "runner-start",
    "runner-report",
]


@dataclass(frozen=True)
class Deadline:
    """A named bound on one wait: ``name`` as messages show it, unscaled ``seconds``, and ``why``
    that value (what it bounds, what it leaves room for)."""

    name: DeadlineName
    seconds: float
    why: str

    def scaled(self, scale: float = 1.0) -> float:
        """The seconds times ``--podnet-timeout-scale``."""
        return self.seconds * scale

    def __str__(self) -> str:
        return self.name


POD_STARTUP: Final = Deadline(
    "pod-startup",
    120,
    (
        "A Pod from create to Ready: scheduling, image present (IfNotPresent), sandbox and "
        "container start, one readiness period. Seconds on a warm node; 120 s leaves room for a "
        "cold image pull of agnhost (~50 MB) on a slow registry mirror."
    ),
)

NAMESPACE_SETUP: Final = Deadline(
    "namespace-setup",
    30,
    (
        "A new namespace to get its ``default`` ServiceAccount, which Pod admission requires. "
        "The serviceaccount controller adds it within a second; 30 s covers a busy "
        "controller-manager."
    ),
)

POD_DELETION: Final = Deadline(
    "pod-deletion",
    60,
    (
        "A Pod from delete to gone: the grace period of our Pods is 5 s, then the kubelet kills "
        "and reports. 60 s covers a kubelet that is slow to sync on a loaded node."
    ),
)

POD_REPLACEMENT: Final = Deadline(
    "pod-replacement",
    POD_DELETION.seconds + POD_STARTUP.seconds,
    ("A Pod from delete to a Ready replacement with the old one gone: deletion, then startup."),
)

ROLLOUT_COMPLETE: Final = Deadline(
    "rollout-complete",
    180,
    (
        "A Deployment from a template change to every replica replaced and Ready, one Pod at a "
        "time (maxUnavailable 1, maxSurge 0): replicas x (deletion + startup) on a warm node. "
        "180 s covers a handful of replicas."
    ),
)

ENDPOINTS_PROPAGATION: Final = Deadline(
    "endpoints-propagation",
    30,
    (
        "A Ready change to EndpointSlices listing it. The EndpointSlice controller batches "
        "updates for up to 1 s by default; the upstream e2e framework allows 30 s "
        "(KubeProxyEndpointLagTimeout)."
    ),
)

DATAPLANE_PROPAGATION: Final = Deadline(
    "dataplane-propagation",
    30,
    (
        "An EndpointSlice change to kube-proxy programming it in the node's dataplane. "
        "kube-proxy syncs within its minSyncPeriod (1 s default) of a change; 30 s matches "
        "upstream's lag allowance."
    ),
)

POD_REACHABLE: Final = Deadline(
    "pod-reachable",
    15,
    (
        "A Ready Pod to answer on its Pod IP from every other Pod. A fresh IP answers at once; "
        "an IP that an earlier Pod held (IPAM hands addresses out round-robin and wraps around) "
        "may still have that Pod's MAC in the node's neighbour (ARP/NDP) cache, and the kernel "
        "re-resolves a stale entry only after a 5 s delay and 3 unicast probes 1 s apart: ~8 s "
        "of lost packets. Only an unreachable pair is called again; an answer, right or wrong, "
        "never is."
    ),
)

DNS_PROPAGATION: Final = Deadline(
    "dns-propagation",
    30,
    (
        "A new Service to its DNS name resolving to its ClusterIP from every node. CoreDNS's "
        "kubernetes plugin follows Services by a watch, within a second; an answer cached "
        "before (upstream's Corefile caches for up to 30 s, a negative one for the SOA minimum, "
        "5 s) can hold it back that long."
    ),
)

OLD_IP_RELEASE: Final = Deadline(
    "old-ip-release",
    30,
    (
        "The IP of a deleted Pod to stop answering. The sandbox is torn down right after the "
        "container exits; 30 s covers a kubelet that is slow to run CNI DEL."
    ),
)

READINESS_CHANGE: Final = Deadline(
    "readiness-change",
    30,
    (
        "The readiness file toggled to the Pod's Ready condition following it: the exec probe "
        "runs every 1 s with failureThreshold 1, then the kubelet patches the status. 30 s "
        "covers a busy kubelet."
    ),
)

NAMESPACE_DELETION: Final = Deadline(
    "namespace-deletion",
    120,
    (
        "A namespace from delete to gone: its Pods' grace periods (5 s) plus finalizers of the "
        "namespace controller, which works through every resource type. 120 s covers a loaded "
        "controller-manager."
    ),
)

CLEANUP: Final = Deadline(
    "cleanup",
    60,
    (
        "All of a test's teardown deletes together (not waiting for them to finish): a handful "
        "of API calls, each retried on transient errors for up to 30 s."
    ),
)

PREFLIGHT_CONNECT: Final = Deadline(
    "preflight-connect",
    10,
    (
        "The API server answering at all. A healthy server answers /version in milliseconds; "
        "the issue asks for an unreachable one to be reported within 10 s."
    ),
)

NODE_TAINTS_CLEARED: Final = Deadline(
    "node-taints-cleared",
    60,
    (
        "A Ready node to lose the node-lifecycle taints (``node.kubernetes.io/not-ready``, "
        "``unreachable``) that the controller-manager puts on a node that is still coming up; "
        "it removes them within its node-monitor period (5 s). 60 s covers a busy "
        "controller-manager; a node still tainted after that is left out of the run, and the "
        "header says so."
    ),
)

PROBE_ATTEMPT: Final = Deadline(
    "probe-attempt",
    3,
    (
        "One probe attempt (curl --max-time, nc -w) inside a Pod. Pod-to-Pod RTTs are "
        "sub-millisecond; 3 s lets a lost SYN be retransmitted twice (1 s, then 2 s later) "
        "before calling it timed out."
    ),
)

EXEC_OVERHEAD: Final = Deadline(
    "exec-overhead",
    30,
    (
        "An exec's own overhead beyond the probes it runs: websocket upgrade, kubelet and "
        "runtime exec set-up. Usually well under a second; 30 s covers a busy kubelet."
    ),
)

RUNNER_START: Final = Deadline(
    "runner-start",
    300,
    (
        "The in-cluster runner's Pod from the Job's create to its container running: the Job "
        "controller, scheduling, and on a cluster that pulls it, the runner image (~120 MB, "
        "uncompressed layer). 300 s covers a slow registry; a pull that fails ends it at once."
    ),
)

RUNNER_REPORT: Final = Deadline(
    "runner-report",
    60,
    (
        "The runner's container from its last log line to a terminated status the API shows: "
        "the kubelet's next status sync (seconds). Added to the Job's activeDeadlineSeconds, "
        "which bounds the run itself."
    ),
)

_DEADLINES: Final[dict[str, Deadline]] = {
    d.name: d
    for d in (
        POD_STARTUP,
        NAMESPACE_SETUP,
        POD_DELETION,
        POD_REPLACEMENT,
        ROLLOUT_COMPLETE,
        ENDPOINTS_PROPAGATION,
        DATAPLANE_PROPAGATION,
        POD_REACHABLE,
        DNS_PROPAGATION,
        OLD_IP_RELEASE,
        READINESS_CHANGE,
        NAMESPACE_DELETION,
        CLEANUP,
        PREFLIGHT_CONNECT,
        NODE_TAINTS_CLEARED,
        PROBE_ATTEMPT,
        EXEC_OVERHEAD,
        RUNNER_START,
        RUNNER_REPORT,
    )
}

#: Container waiting reasons that do not go away by waiting.
UNRECOVERABLE_REASONS: Final = frozenset(
    {
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CrashLoopBackOff",
        "CreateContainerConfigError",
        "RunContainerError",
    }
)


def _lookup(name: str | Deadline) -> Deadline:
    if isinstance(name, Deadline):
        return name
    key = name.strip().lower().replace("_", "-")
    if key not in _DEADLINES:
        raise KeyError(f"no deadline named {name!r}; known: {', '.join(sorted(_DEADLINES))}")
    return _DEADLINES[key]


def label(name: str | Deadline) -> str:
    """The name as timeout messages show it: ``endpoints-propagation``."""
    if isinstance(name, Deadline):
        return name.name
    return name.strip().lower().replace("_", "-")


def deadline(name: str | Deadline, scale: float = 1.0) -> float:
    """Seconds of a deadline (``waits.ENDPOINTS_PROPAGATION``, or by name:
    ``"ENDPOINTS_PROPAGATION"`` / ``"endpoints-propagation"``) times ``scale``
    (``--podnet-timeout-scale``)."""
    return _lookup(name).scaled(scale)


class WaitTimeout(AssertionError):
    """A wait ran out its named deadline; the message says what, how long, and what was seen."""

    def __init__(self, name: str, seconds: float, what: str, last_seen: str) -> None:
        super().__init__(
            f"timed out after {seconds:g}s [{label(name)}] waiting for {what}; "
            f"last seen:\n{last_seen}"
        )
        self.name = label(name)
        self.seconds = seconds
        self.what = what
        self.last_seen = last_seen


class Unrecoverable(AssertionError):
    """A wait saw a state that does not recover by waiting (ImagePullBackOff, ...)."""

    def __init__(self, name: str, what: str, problem: str, last_seen: str) -> None:
        super().__init__(
            f"gave up [{label(name)}] waiting for {what}: {problem}; last seen:\n{last_seen}"
        )
        self.name = label(name)
        self.what = what
        self.problem = problem


def unrecoverable_problem(pod: Raw, *, tolerate_unschedulable: bool = False) -> str | None:
    """Why this Pod will not become Ready by waiting, or None.

    ``Unschedulable`` is tolerated while ``tolerate_unschedulable``: a one-per-node replacement
    waits for its terminating predecessor to free the node (required anti-affinity counts it).
    """
    meta = pod.get("metadata") or {}
    ref = f"pod/{meta.get('namespace')}/{meta.get('name')}"
    status = pod.get("status") or {}
    for cs in [
        *(status.get("initContainerStatuses") or []),
        *(status.get("containerStatuses") or []),
    ]:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason in UNRECOVERABLE_REASONS:
            message = (waiting.get("message") or "").strip()
            return f"{ref} container {cs.get('name')} is {reason}" + (
                f": {message}" if message else ""
            )
    scheduled = kube.condition(pod, "PodScheduled")
    if (
        not tolerate_unschedulable
        and scheduled is not None
        and scheduled.get("status") == "False"
        and scheduled.get("reason") == "Unschedulable"
    ):
        return f"{ref} is Unschedulable: {scheduled.get('message', '').strip()}"
    if status.get("phase") == "Failed":
        return f"{ref} failed: {status.get('reason', '')} {status.get('message', '')}".rstrip()
    return None


#: Seconds a replacement's ``Unschedulable`` stays tolerated after the last Pod it waited for has
#: gone. The condition is the scheduler's last attempt: when the predecessor that held the node
#: (required anti-affinity) disappears, the Pod still shows that attempt until the scheduler
#: retries, after a backoff of up to 10 s. Seen in CI (2026-12-03, dataplane-stopped run): a watch
#: event in that gap made a healthy replacement count as unschedulable.
UNSCHEDULABLE_AFTER_DRAIN: Final = 15.0

#: Taints the node-lifecycle controller sets while a node is not (yet) Ready or lost contact.
LIFECYCLE_TAINTS: Final = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")


def lifecycle_tainted(node: kube.NodeInfo) -> bool:
    """Whether ``node`` still carries a taint of a node that is coming up or went away."""
    return any(t.split(":", 1)[0] in LIFECYCLE_TAINTS for t in node.taints)


def _by_name(node: kube.NodeInfo) -> str:
    return node.name


def selector_string(labels: Mapping[str, str]) -> str:
    """``a=b,c=d`` from a label map."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


class Waiter:
    """Watch-driven waits on one cluster, with deadlines scaled by ``scale``."""

    def __init__(self, cluster: kube.Cluster, scale: float = 1.0) -> None:
        self.cluster = cluster
        self.scale = scale

    def seconds(self, name: Deadline) -> float:
        """The deadline, scaled."""
        return name.scaled(self.scale)

    # ............................................................................ the core

    def until(
        self,
        name: Deadline,
        what: str,
        kind: kube.Kind,
        namespace: str | None,
        check: Callable[[dict[str, Raw]], T | None],
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        show: Callable[[dict[str, Raw]], Raw | list[Raw] | None] | None = None,
    ) -> T:
        """Watch ``kind`` until ``check(objects)`` returns a value, within deadline ``name``.

        ``check`` sees every matching object (name -> JSON) after each change; it returns None to
        keep waiting and may raise ``Unrecoverable``. ``show`` picks what the timeout message
        prints as last seen (default: every matching object).
        """
        seconds = self.seconds(name)
        until = time.monotonic() + seconds
        last: dict[str, Raw] | None = None
        for objects in self.cluster.observe(
            kind,
            namespace,
            until=until,
            label_selector=label_selector,
            field_selector=field_selector,
        ):
            last = objects
            result = check(objects)
            if result is not None:
                return result
        shown = None if last is None else (show(last) if show else list(last.values()))
        raise WaitTimeout(name.name, seconds, what, kube.to_yaml(shown))

    # ............................................................................ nodes

    def nodes_settled(self, label_selector: str | None = None) -> list[kube.NodeInfo]:
        """The nodes once no Ready node still carries a node-lifecycle taint, or as they are
        when ``NODE_TAINTS_CLEARED`` runs out (the caller leaves tainted ones out and says so).
        """
        until = time.monotonic() + self.seconds(NODE_TAINTS_CLEARED)
        nodes: list[kube.NodeInfo] = []
        for objects in self.cluster.observe(
            "nodes", None, until=until, label_selector=label_selector
        ):
            nodes = sorted((kube.node_info(raw) for raw in objects.values()), key=_by_name)
            if not any(n.ready and lifecycle_tainted(n) for n in nodes):
                return nodes
        return nodes or self.cluster.nodes(label_selector)

    # ............................................................................ pods

    def pod_ready(
        self, namespace: str, name: str, *, deadline_name: Deadline = POD_STARTUP
    ) -> kube.PodInfo:
        """Wait until the Pod is Ready (and not terminating)."""
        what = f"pod/{namespace}/{name} to be Ready"

        def check(objects: dict[str, Raw]) -> kube.PodInfo | None:
            raw = objects.get(name)
            if raw is None:
                return None
            problem = unrecoverable_problem(raw)
            if problem:
                raise Unrecoverable(deadline_name.name, what, problem, kube.to_yaml(raw))
            info = kube.pod_info(raw)
            return info if info.ready and not info.terminating else None

        return self.until(
            deadline_name,
            what,
            "pods",
            namespace,
            check,
            field_selector=f"metadata.name={name}",
        )

    def pod_ready_is(
        self, namespace: str, name: str, ready: bool, *, deadline_name: Deadline = READINESS_CHANGE
    ) -> kube.PodInfo:
        """Wait until the Pod's Ready condition is ``ready``."""
        what = f"pod/{namespace}/{name} to become {'Ready' if ready else 'not Ready'}"

        def check(objects: dict[str, Raw]) -> kube.PodInfo | None:
            raw = objects.get(name)
            if raw is None:
                raise Unrecoverable(deadline_name.name, what, "the Pod is gone", "<deleted>")
            info = kube.pod_info(raw)
            return info if info.ready is ready else None

        return self.until(
            deadline_name,
            what,
            "pods",
            namespace,
            check,
            field_selector=f"metadata.name={name}",
        )

    def pods_settled(
        self,
        namespace: str,
        selector: Mapping[str, str],
        replicas: int,
        *,
        gone_uids: Iterable[str] = (),
        draining_uids: Iterable[str] = (),
        deadline_name: Deadline = POD_STARTUP,
        what: str | None = None,
        owner: str | None = None,
    ) -> list[kube.PodInfo]:
        """Wait until exactly ``replicas`` Pods match, all Ready, none terminating, and none of
        ``gone_uids`` runs any more (replaced Pods gone, or deleted and stopped: their
        containers and sandbox stopped, their IPs released; ``PodInfo.stopped``). Pods of
        ``draining_uids`` (deleted, still shutting down) are left out of the count.

        ``owner`` names the Deployment whose state a timeout message adds to the Pods'."""
        old = frozenset(gone_uids)
        leaving = frozenset(draining_uids)
        sel = selector_string(selector)
        description = what or (
            f"{replicas} Ready pod(s) {sel} in {namespace}"
            + (f", none of {len(old)} replaced pod(s) left" if old else "")
        )

        #: When a Pod that holds a replacement back was last seen (empty: never).
        drained: list[float] = []

        def check(objects: dict[str, Raw]) -> list[kube.PodInfo] | None:
            seen = [(raw, kube.pod_info(raw)) for raw in objects.values()]
            infos = [info for _, info in seen if info.uid not in leaving and not info.stopped]
            draining = any(info.terminating or info.uid in old for info in infos)
            if draining:
                drained[:] = [time.monotonic()]
            recently = bool(drained) and time.monotonic() - drained[0] < UNSCHEDULABLE_AFTER_DRAIN
            for raw, pod in seen:
                if pod.terminating or pod.uid in old or pod.uid in leaving:
                    # A deleted Pod on its way out: the kubelet gives it a terminal phase once
                    # its container stopped (Failed, when netexec exits non-zero on SIGTERM).
                    continue
                problem = unrecoverable_problem(raw, tolerate_unschedulable=draining or recently)
                if problem:
                    raise Unrecoverable(deadline_name.name, description, problem, kube.to_yaml(raw))
            if draining or len(infos) != replicas or not all(info.ready for info in infos):
                return None
            return sorted(infos, key=lambda p: (p.node or "", p.name))

        try:
            return self.until(
                deadline_name, description, "pods", namespace, check, label_selector=sel
            )
        except WaitTimeout as timeout:
            if owner is None:
                raise
            # No Pod problem to show often means no Pod at all: the Deployment says why
            # (e.g. ReplicaFailure when admission rejects the Pod template).
            try:
                shown = kube.to_yaml(self.cluster.raw_deployment(namespace, owner))
            except kube.KubeError as exc:
                shown = f"<deployment/{namespace}/{owner} unreadable: {exc}>"
            raise WaitTimeout(
                deadline_name.name,
                timeout.seconds,
                description,
                f"{timeout.last_seen}\n--- deployment/{namespace}/{owner}:\n{shown}",
            ) from None

    # ............................................................................ deployments

    def rollout_complete(
        self, namespace: str, name: str, *, deadline_name: Deadline = ROLLOUT_COMPLETE
    ) -> kube.DeploymentInfo:
        """Wait until the Deployment's controller reports every replica updated and available
        (what ``kubectl rollout status`` waits for)."""
        what = f"deployment/{namespace}/{name} rollout to complete"

        def check(objects: dict[str, Raw]) -> kube.DeploymentInfo | None:
            raw = objects.get(name)
            if raw is None:
                return None
            failure = kube.condition(raw, "ReplicaFailure")
            if failure is not None and failure.get("status") == "True":
                raise Unrecoverable(
                    deadline_name.name,
                    what,
                    f"ReplicaFailure: {failure.get('message', '')}",
                    kube.to_yaml(raw),
                )
            progressing = kube.condition(raw, "Progressing")
            if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
                raise Unrecoverable(
                    deadline_name.name,
                    what,
                    f"ProgressDeadlineExceeded: {progressing.get('message')}",
                    kube.to_yaml(raw),
                )
            info = kube.deployment_info(raw)
            done = (
                info.observed_generation >= info.generation
                and info.updated_replicas == info.replicas
                and info.status_replicas == info.replicas
                and info.available_replicas == info.replicas
            )
            return info if done else None

        return self.until(
            deadline_name,
            what,
            "deployments",
            namespace,
            check,
            field_selector=f"metadata.name={name}",
        )

    # ............................................................................ endpoints

    def endpoints_exactly(
        self,
        namespace: str,
        service: str,
        ready_ips: Iterable[str],
        *,
        serving_terminating: Iterable[str] | None = None,
        deadline_name: Deadline = ENDPOINTS_PROPAGATION,
    ) -> kube.EndpointSet:
        """Wait until the EndpointSlices of ``service`` list exactly ``ready_ips`` as ready (and,
        if given, exactly ``serving_terminating`` as ``serving: true, terminating: true``)."""
        expected = frozenset(ready_ips)
        draining = None if serving_terminating is None else frozenset(serving_terminating)
        shown = "{" + ", ".join(sorted(expected)) + "}"
        what = f"EndpointSlices of svc/{namespace}/{service} to list exactly {shown} as ready"
        if draining is not None:
            what += " and {" + ", ".join(sorted(draining)) + "} as serving and terminating"

        def check(objects: dict[str, Raw]) -> kube.EndpointSet | None:
            endpoints = kube.endpoint_set(f"svc/{namespace}/{service}", list(objects.values()))
            if endpoints.ready_ips != expected:
                return None
            if draining is not None and endpoints.serving_terminating_ips != draining:
                return None
            return endpoints

        return self.until(
            deadline_name,
            what,
            "endpointslices",
            namespace,
            check,
            label_selector=f"kubernetes.io/service-name={service}",
        )

    # ............................................................................ namespaces

    def namespace_gone(self, name: str, *, deadline_name: Deadline = NAMESPACE_DELETION) -> None:
        """Wait until the namespace no longer exists."""
        self.until(
            deadline_name,
            f"namespace {name} to be gone",
            "namespaces",
            None,
            lambda objects: True if name not in objects else None,
            field_selector=f"metadata.name={name}",
        )

    def default_service_account(
        self, namespace: str, *, deadline_name: Deadline = NAMESPACE_SETUP
    ) -> None:
        """Wait until the namespace has its ``default`` ServiceAccount (Pods need it)."""
        self.until(
            deadline_name,
            f"serviceaccount/{namespace}/default to exist",
            "serviceaccounts",
            namespace,
            lambda objects: True if "default" in objects else None,
            field_selector="metadata.name=default",
        )

    def namespaces_gone(
        self, label_selector: str, *, deadline_name: Deadline = NAMESPACE_DELETION
    ) -> None:
        """Wait until no namespace matches ``label_selector``."""
        self.until(
            deadline_name,
            f"no namespace left with {label_selector}",
            "namespaces",
            None,
            lambda objects: True if not objects else None,
            label_selector=label_selector,
        )
