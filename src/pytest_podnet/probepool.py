"""Probe Pods shared by the checks of one run: one netexec Pod per node, to send probes from.

Most checks need a client on every node only to call what they test (a ClusterIP, a Pod IP) and
to say which node's dataplane answered how; creating those clients again for every check costs a
Pod start on every node, a large share of a check on a small cluster. The pool creates them once
per run in a namespace of its own, when a check first asks, and hands them out again only after
reading them back: the same UID and IP, Running, Ready, not terminating, never restarted. A Pod
that is not is left alone and a fresh one of this process takes its place, so a check never
probes from a Pod that changed under an earlier one. A fault injected into the cluster starts a
new run (the sensitivity tests, each phase of the upgrade gate), so probe Pods are never reused
across one.

Shared by the processes of a run (``shared=True``: the xdist workers): the namespace and the
Pods have names derived from the run id (``shared_namespace``, ``pod_name``), so the first
process to ask creates them and the others find them (a create that meets the object is taken
as its creation by another); the process that runs the session (the xdist controller, or the one
process) deletes the namespace at the end (``close_shared``).

What a check that takes them must not do: change them, leave a process running in them past
its end (its flows are stopped when it ends, and use UDP source ports of its xdist worker's
own), or need them in its own namespace (a Service's short name resolves only there).
Everything else about them is what ``client_pods`` makes.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pytest_podnet import kube, waits, workloads
from pytest_podnet.kube import PodInfo

#: The role label of the pool's Pods (``podnet.io/role``).
ROLE: str = "probe"


def healthy(known: PodInfo, now: PodInfo | None) -> bool:
    """Whether ``now`` (a fresh read) is still the Pod ``known`` was, serving as it did."""
    return (
        now is not None
        and now.uid == known.uid
        and now.ips == known.ips
        and now.node == known.node
        and now.phase == "Running"
        and now.ready
        and not now.terminating
        and now.restarts == 0
    )


def shared_namespace(run_id: str) -> str:
    """The namespace of the probe Pods every process of run ``run_id`` shares."""
    return f"podnet-probes-{run_id}"


def pod_name(node: str) -> str:
    """The shared probe Pod of ``node``: ``probe-<node>``, or a digest of the node's name where
    that would be longer than a Pod's hostname may be (63 characters)."""
    name = f"probe-{node}"
    if len(name) <= 63:
        return name
    return f"probe-{hashlib.sha256(node.encode()).hexdigest()[:16]}"


@dataclass
class ProbePool:
    """The probe Pods of one session or run, created in ``namespace`` when first asked for.

    ``create_namespace(name)`` creates the pool's namespace with the labels and annotations of
    a check's own (run id, owner, Pod Security level), so the sweeper and the dead-run reaper
    find it as they find those. ``shared``: the namespace and Pods may already have been made by
    another process of the run (see the module's docstring); this pool then never deletes them.
    ``name_prefix`` names the Pods this process makes in place of unhealthy ones.
    """

    cluster: kube.Cluster
    namespace: str
    run_id: str
    image: str
    create_namespace: Callable[[str], None]
    timeout_scale: float = 1.0
    shared: bool = False
    name_prefix: str = "probe"
    #: Probe Pods handed out so far, by node.
    _pods: dict[str, PodInfo] = field(default_factory=dict)
    _created: int = 0
    _namespace_ready: bool = False
    #: Pods replaced because they were no longer healthy (refs), for the record.
    replaced: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._waiter = waits.Waiter(self.cluster, self.timeout_scale)

    @property
    def used(self) -> bool:
        """Whether this pool made (or found) its namespace: it has something to delete."""
        return self._namespace_ready

    def pods(self, nodes: Sequence[str]) -> dict[str, PodInfo]:
        """A healthy probe Pod on each of ``nodes``, by node: the pool's own if it still is,
        a new one otherwise (all new ones created at once, then waited for)."""
        if not self._namespace_ready:
            with contextlib.suppress(kube.Conflict):
                self.create_namespace(self.namespace)
            self._waiter.default_service_account(self.namespace)
            self._namespace_ready = True
        current = {p.name: p for p in self.cluster.pods(self.namespace)}
        starting: dict[str, str] = {}
        for node in nodes:
            known = self._pods.get(node)
            if known is not None and healthy(known, current.get(known.name)):
                continue
            if known is not None:
                self.replaced.append(known.ref)
                if not self.shared:
                    with contextlib.suppress(kube.NotFound):
                        self.cluster.delete_pod(self.namespace, known.name, grace_period=0)
            starting[node] = self._create(node, first=known is None)
        for node, name in starting.items():
            self._pods[node] = self._waiter.pod_ready(self.namespace, name)
        return {node: self._pods[node] for node in nodes}

    def _create(self, node: str, *, first: bool) -> str:
        """Create a probe Pod on ``node``; in a shared pool, the first is the run's ``pod_name``
        (found, not created again, when another process made it)."""
        if self.shared and first:
            name = pod_name(node)
        else:
            self._created += 1
            name = f"{self.name_prefix}-{self._created}"
        body = workloads.client_pod(name, self.run_id, image=self.image, node=node)
        body["metadata"]["labels"][workloads.ROLE_LABEL] = ROLE
        try:
            self.cluster.create_pod(self.namespace, body)
        except kube.Conflict:
            if not (self.shared and first):
                raise
        return name

    def close(self) -> None:
        """Delete the pool's Pods and namespace (``delete``), unless it is shared: the process
        that runs the session deletes a shared pool (``close_shared``)."""
        if self.shared or not self._namespace_ready:
            return
        delete(self.cluster, self.namespace, self.timeout_scale)
        self._namespace_ready = False
        self._pods.clear()


def close_shared(
    cluster: kube.Cluster, run_id: str, timeout_scale: float = 1.0, *, wait: bool = True
) -> None:
    """Delete the probe Pods the processes of run ``run_id`` shared (``delete``)."""
    with contextlib.suppress(kube.NotFound):
        delete(cluster, shared_namespace(run_id), timeout_scale, wait=wait)


def delete(
    cluster: kube.Cluster, namespace: str, timeout_scale: float = 1.0, *, wait: bool = True
) -> None:
    """Delete every Pod of ``namespace`` at once (grace 0: nothing of theirs drains) and the
    namespace; with ``wait``, wait until no Pod of it is left (``waits.CLEANUP``).

    A Pod without a controller still terminating after the session stops a node drain that
    follows it (``kubectl drain`` refuses such Pods): the upgrade gate's phases, which a
    user's upgrade follows, wait."""
    for pod in cluster.pods(namespace):
        with contextlib.suppress(kube.NotFound):
            cluster.delete_pod(namespace, pod.name, grace_period=0)
    cluster.delete_namespace(namespace)
    if not wait:
        return
    waits.Waiter(cluster, timeout_scale).until(
        waits.CLEANUP,
        f"the probe Pods of namespace {namespace} to be gone",
        "pods",
        namespace,
        lambda objects: True if not objects else None,
    )
