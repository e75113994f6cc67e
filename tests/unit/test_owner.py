"""Whose namespaces may a new run remove? Only those of runs that are provably gone."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

from pytest_podnet import kube
from pytest_podnet.cleanup import reap_dead_runs
from pytest_podnet.owner import (
    DEAD_RUN_FLOOR,
    KEPT_ANNOTATION,
    OWNER_ANNOTATION,
    Owner,
    gone_because,
)


def test_the_record_round_trips_through_its_annotation() -> None:
    here = Owner.of_process()

    assert Owner.parse(here.annotation) == here
    assert Owner.parse("not/an/owner") is None
    assert Owner.parse("") is None


def test_a_live_run_on_this_host_is_never_gone() -> None:
    assert gone_because(Owner.of_process(), datetime.now(UTC), Owner.of_process()) is None


def test_a_run_whose_process_exited_is_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    owner = Owner.of_process(child.pid)
    child.wait()

    assert gone_because(owner, datetime.now(UTC), Owner.of_process()) == (
        f"pid {child.pid} on {owner.host} exited"
    )


def test_a_reused_pid_is_told_apart_by_its_start_time() -> None:
    here = Owner.of_process()
    earlier = Owner(here.host, here.boot, here.pid, "1")

    why = gone_because(earlier, datetime.now(UTC), here)

    assert why is not None
    assert "now runs another process" in why


def test_a_run_from_before_a_reboot_is_gone() -> None:
    here = Owner.of_process()
    before = Owner(here.host, "another-boot", here.pid, here.start)

    assert gone_because(before, datetime.now(UTC), here) == f"host {here.host} restarted since"


def test_another_hosts_run_is_kept_until_the_floor() -> None:
    here = Owner.of_process()
    elsewhere = Owner("ci-runner-7", "b", 1, "1")
    # Relative to the moment of the test: a module-level "now" goes stale in a long session.
    now = datetime.now(UTC)
    young = now - DEAD_RUN_FLOOR + timedelta(minutes=5)
    old = now - DEAD_RUN_FLOOR - timedelta(minutes=5)

    assert gone_because(elsewhere, young, here) is None
    assert gone_because(None, young, here) is None
    assert gone_because(elsewhere, old, here) == "older than 6h"


class NamespacesOfDeadRuns:
    """Lists the namespaces given; records which the reaper deletes."""

    def __init__(self, *namespaces: kube.NamespaceInfo) -> None:
        self._namespaces = list(namespaces)
        self.deleted: list[str] = []

    def namespaces(self, label_selector: str) -> list[kube.NamespaceInfo]:
        return list(self._namespaces)

    def delete_namespace(self, name: str) -> None:
        self.deleted.append(name)


def test_a_namespace_kept_on_purpose_outlives_its_dead_owner() -> None:
    here = Owner.of_process()
    dead = Owner(here.host, "another-boot", here.pid, here.start).annotation
    now = datetime.now(UTC)
    cluster = NamespacesOfDeadRuns(
        kube.NamespaceInfo("left", {}, now, "Active", {OWNER_ANNOTATION: dead}),
        kube.NamespaceInfo(
            "kept", {}, now, "Active", {OWNER_ANNOTATION: dead, KEPT_ANNOTATION: "on-failure"}
        ),
        kube.NamespaceInfo(
            "kept-long-ago",
            {},
            now - DEAD_RUN_FLOOR - timedelta(hours=1),
            "Active",
            {OWNER_ANNOTATION: dead, KEPT_ANNOTATION: "always"},
        ),
    )

    reaped = reap_dead_runs(cluster, here)  # type: ignore[arg-type]

    assert cluster.deleted == ["left"]
    assert [(r.namespace, r.why) for r in reaped] == [("left", f"host {here.host} restarted since")]
