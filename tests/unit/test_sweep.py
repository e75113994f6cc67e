"""``cleanup.sweep``'s choice of what to delete, and ``dry_run`` deleting none of it.

The cluster is a recording fake: this is the pure selection logic (labels, age floor, phases,
owned kinds). The real-cluster sweep, with and without ``--dry-run``, is tested in
``tests/integration/test_cleanup.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pytest_podnet import cleanup, kube


class RecordingCluster:
    """Answers the two listings a sweep reads; records every delete it is asked for."""

    def __init__(self) -> None:
        self.deletes: list[tuple[str, str | None, str]] = []
        now = datetime.now(UTC)  # when the test runs: collection may be long before
        self._namespaces = [
            kube.NamespaceInfo("old", {}, now - timedelta(hours=2), "Active"),
            kube.NamespaceInfo("young", {}, now - timedelta(minutes=5), "Active"),
            kube.NamespaceInfo("going", {}, now - timedelta(hours=2), "Terminating"),
        ]
        self._labelled: list[tuple[str, str | None, str]] = [
            ("Namespace", None, "old"),
            ("Pod", "old", "echo-1"),
            ("Pod", "young", "echo-2"),
            ("Pod", "elsewhere", "stray"),
            ("ReplicaSet", "elsewhere", "echo-abc"),
            ("EndpointSlice", "elsewhere", "echo-xyz"),
        ]

    def namespaces(self, label_selector: str) -> list[kube.NamespaceInfo]:
        return list(self._namespaces)

    def list_labelled(self, run_id: str | None) -> list[tuple[str, str | None, str]]:
        return list(self._labelled)

    def delete_namespace(self, name: str) -> None:
        self.deletes.append(("Namespace", None, name))

    def delete_object(self, kind: str, namespace: str | None, name: str) -> None:
        self.deletes.append((kind, namespace, name))


@pytest.mark.parametrize("older_than", [None, timedelta(hours=1)], ids=["any-age", "older-1h"])
def test_dry_run_lists_exactly_what_a_sweep_deletes_and_deletes_nothing(
    older_than: timedelta | None,
) -> None:
    dry, real = RecordingCluster(), RecordingCluster()

    would = cleanup.sweep(dry, "r1", older_than=older_than, dry_run=True)  # type: ignore[arg-type]
    did = cleanup.sweep(real, "r1", older_than=older_than)  # type: ignore[arg-type]

    assert dry.deletes == []
    assert would == did
    assert real.deletes == did.deleted
    assert ("Namespace", None, "old") in did.deleted
    assert ("Pod", "elsewhere", "stray") in did.deleted
    assert ("Namespace", None, "young") in did.deleted or older_than is not None


def test_sweep_spares_young_terminating_and_owned_objects() -> None:
    cluster = RecordingCluster()

    result = cleanup.sweep(cluster, "r1", older_than=timedelta(hours=1))  # type: ignore[arg-type]

    assert result.deleted == [("Namespace", None, "old"), ("Pod", "elsewhere", "stray")]
    assert result.errors == []
