"""Probe Pods shared by the checks of one session: one netexec Pod per node, to send probes from.

Most checks need a client on every node only to call what they test (a ClusterIP, a Pod IP) and
to say which node's dataplane answered how; creating those clients again for every check costs a
Pod start on every node, a large share of a check on a small cluster. The pool creates them once
per session (per xdist worker: each worker is its own session) in a namespace of its own, and
hands them out again only after reading them back: the same UID and IP, Running, Ready, not
terminating, never restarted. A Pod that is not is deleted and a fresh one takes its place, so
a check never probes from a Pod that changed under an earlier one. A fault injected into the
cluster starts a new session (the sensitivity tests, each phase of the upgrade gate), so probe
Pods are never reused across one.

What a check that takes them must not do: change them, leave a process running in them (flows
run in their own clients, ``Podnet.client_pods``), or need them in its own namespace (a Service's
short name resolves only there). Everything else about them is what ``client_pods`` makes.
"""

from __future__ import annotations

import contextlib
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


@dataclass
class ProbePool:
    """The probe Pods of one session, created in ``namespace`` when first asked for.

    ``create_namespace(name)`` creates the pool's namespace with the labels and annotations of
    a check's own (run id, owner, Pod Security level), so the sweeper and the dead-run reaper
    find it as they find those.
    """

    cluster: kube.Cluster
    namespace: str
    run_id: str
    image: str
    create_namespace: Callable[[str], None]
    timeout_scale: float = 1.0
    #: Probe Pods handed out so far, by node.
    _pods: dict[str, PodInfo] = field(default_factory=dict)
    _created: int = 0
    _namespace_ready: bool = False
    #: Pods replaced because they were no longer healthy (refs), for the record.
    replaced: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._waiter = waits.Waiter(self.cluster, self.timeout_scale)

    def pods(self, nodes: Sequence[str]) -> dict[str, PodInfo]:
        """A healthy probe Pod on each of ``nodes``, by node: the pool's own if it still is,
        a new one otherwise (all new ones created at once, then waited for)."""
        if not self._namespace_ready:
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
                with contextlib.suppress(kube.NotFound):
                    self.cluster.delete_pod(self.namespace, known.name, grace_period=0)
            starting[node] = self._create(node)
        for node, name in starting.items():
            self._pods[node] = self._waiter.pod_ready(self.namespace, name)
        return {node: self._pods[node] for node in nodes}

    def _create(self, node: str) -> str:
        self._created += 1
        name = f"probe-{self._created}"
        body = workloads.client_pod(name, self.run_id, image=self.image, node=node)
        body["metadata"]["labels"][workloads.ROLE_LABEL] = ROLE
        self.cluster.create_pod(self.namespace, body)
        return name

    def close(self) -> None:
        """Delete the pool's Pods at once (grace 0: nothing of theirs drains) and its namespace,
        if it was created, and wait until no Pod of it is left (``waits.CLEANUP``).

        A Pod without a controller still terminating after the session stops a node drain that
        follows it (``kubectl drain`` refuses such Pods): the upgrade gate runs the user's
        upgrade right after the checks' session."""
        if not self._namespace_ready:
            return
        for pod in self.cluster.pods(self.namespace):
            with contextlib.suppress(kube.NotFound):
                self.cluster.delete_pod(self.namespace, pod.name, grace_period=0)
        self.cluster.delete_namespace(self.namespace)
        self._namespace_ready = False
        self._pods.clear()
        self._waiter.until(
            waits.CLEANUP,
            f"the probe Pods of namespace {self.namespace} to be gone",
            "pods",
            self.namespace,
            lambda objects: True if not objects else None,
        )
