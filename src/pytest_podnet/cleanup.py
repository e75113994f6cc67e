"""Undoing what a run created: the per-test undo stack and the sweep by run label.

Every create pushes its undo right away, so an assertion, an exception or Ctrl-C between two
creates still leaves nothing unaccounted for. The stack unwinds in reverse, ignores ``NotFound``
(the object went with its namespace, or was never there), keeps going past other errors, and
has its own deadline (``waits.CLEANUP``), independent of the test's.

``sweep`` deletes by the ``podnet.io/run`` label (or every podnet run's objects), never by name
prefix: a prefix would also take a concurrent run's namespaces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pytest_podnet import kube, owner, waits


@dataclass
class UndoStack:
    """Deletes to run at teardown, last pushed first."""

    _items: list[tuple[str, Callable[[], None]]] = field(default_factory=list)

    def push(self, description: str, undo: Callable[[], None]) -> None:
        """Remember how to undo one create (``description`` is for error messages)."""
        self._items.append((description, undo))

    def __len__(self) -> int:
        return len(self._items)

    def unwind(self, seconds: float) -> list[str]:
        """Run every undo in reverse within ``seconds``; return the failures (never raises).

        ``NotFound`` counts as done. Past the deadline the remaining undos are reported, not run.
        """
        until = time.monotonic() + seconds
        errors: list[str] = []
        while self._items:
            description, undo = self._items.pop()
            if time.monotonic() > until:
                errors.append(
                    f"{description}: not attempted, cleanup deadline of {seconds:g}s "
                    f"[{waits.label('CLEANUP')}] passed"
                )
                continue
            try:
                undo()
            except kube.NotFound:
                pass
            except Exception as exc:
                errors.append(f"{description}: {type(exc).__name__}: {exc}")
        return errors


@dataclass(frozen=True)
class SweepResult:
    """What a sweep deleted (``kind, namespace, name``) and what it could not."""

    deleted: list[tuple[str, str | None, str]]
    errors: list[str]


def sweep(
    cluster: kube.Cluster,
    run_id: str | None = None,
    *,
    older_than: timedelta | None = None,
    wait: bool = False,
    scale: float = 1.0,
    dry_run: bool = False,
) -> SweepResult:
    """Delete every object carrying run label ``run_id`` (every podnet run's if None).

    Namespaces go first (their contents go with them); labelled objects outside a labelled
    namespace are deleted one by one. ``older_than`` spares namespaces younger than that (a run
    still in progress). With ``wait``, return only once the namespaces are gone
    (``waits.NAMESPACE_DELETION``, ``WaitTimeout`` past it). A delete that fails does not stop
    the others; its error is returned. With ``dry_run`` nothing is deleted (nor waited for):
    ``deleted`` lists what would be, chosen exactly as for a real sweep.
    """
    now = datetime.now(UTC)
    selector = (
        f"{kube.RUN_LABEL}={run_id}" if run_id else f"{kube.MANAGED_BY_LABEL}={kube.MANAGED_BY}"
    )
    deleted: list[tuple[str, str | None, str]] = []
    errors: list[str] = []
    namespaces = cluster.namespaces(selector)
    doomed: set[str] = set()
    for ns in namespaces:
        if older_than is not None and ns.created is not None and now - ns.created < older_than:
            continue
        doomed.add(ns.name)
        if ns.phase == "Terminating":
            continue
        if dry_run:
            deleted.append(("Namespace", None, ns.name))
            continue
        try:
            cluster.delete_namespace(ns.name)
            deleted.append(("Namespace", None, ns.name))
        except kube.NotFound:
            pass
        except kube.KubeError as exc:
            errors.append(f"namespace {ns.name}: {exc}")
    spared = {ns.name for ns in namespaces} - doomed
    for kind, namespace, name in cluster.list_labelled(run_id):
        if kind == "Namespace" or namespace in doomed or namespace in spared:
            continue
        if kind in ("ReplicaSet", "EndpointSlice"):
            # Owned by a Deployment or a Service: they go with their owner.
            continue
        if dry_run:
            deleted.append((kind, namespace, name))
            continue
        try:
            cluster.delete_object(kind, namespace, name)
            deleted.append((kind, namespace, name))
        except kube.NotFound:
            pass
        except kube.KubeError as exc:
            errors.append(f"{kind.lower()}/{namespace}/{name}: {exc}")
    if wait and doomed and not dry_run:
        waiter = waits.Waiter(cluster, scale)
        for name in sorted(doomed):
            waiter.namespace_gone(name)
    return SweepResult(deleted, errors)


@dataclass(frozen=True)
class Reaped:
    """A namespace of a run whose owner is gone, removed at the start of a later run."""

    namespace: str
    run_id: str
    why: str


def reap_dead_runs(cluster: kube.Cluster, here: owner.Owner) -> list[Reaped]:
    """Delete the namespaces of podnet runs whose owner is provably gone (``owner``); return
    them. Live runs, other hosts' runs younger than ``owner.DEAD_RUN_FLOOR``, and namespaces a
    run kept on purpose (``owner.KEPT_ANNOTATION``) are left alone."""
    reaped: list[Reaped] = []
    for ns in cluster.namespaces(f"{kube.MANAGED_BY_LABEL}={kube.MANAGED_BY}"):
        if ns.phase == "Terminating" or owner.KEPT_ANNOTATION in ns.annotations:
            continue
        recorded = owner.Owner.parse(ns.annotations.get(owner.OWNER_ANNOTATION, ""))
        why = owner.gone_because(recorded, ns.created, here)
        if why is None:
            continue
        try:
            cluster.delete_namespace(ns.name)
        except kube.NotFound:
            continue
        reaped.append(Reaped(ns.name, ns.labels.get(kube.RUN_LABEL, "?"), why))
    return reaped
