"""``Waiter.pods_settled`` decides on the Pods it is shown: a deleted Pod's terminal phase is its
way out, a new Pod's is a problem (a scripted watch stands in for the API: pure wait logic)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from pytest_podnet import waits


def pod(name: str, uid: str, *, phase: str = "Running", ready: bool = True, gone: bool = False):
    meta: dict[str, Any] = {"name": name, "namespace": "ns", "uid": uid}
    if gone:
        meta["deletionTimestamp"] = "2026-12-04T00:00:00Z"
    status = {"phase": phase, "conditions": [{"type": "Ready", "status": str(ready)}]}
    return {"metadata": meta, "spec": {"nodeName": "node-1"}, "status": status}


class ScriptedWatch:
    """``observe`` yields the given sets of Pods (name -> JSON), one per change."""

    def __init__(self, *states: list[dict[str, Any]]) -> None:
        self.states = states

    def observe(self, *_: object, **__: object) -> Iterator[dict[str, Any]]:
        for state in self.states:
            yield {p["metadata"]["name"]: p for p in state}


def test_a_deleted_pod_that_turns_failed_on_its_way_out_is_waited_out() -> None:
    watch = ScriptedWatch(
        [pod("old", "u1", phase="Failed", ready=False, gone=True), pod("new", "u2")],
        [pod("new", "u2"), pod("other", "u3")],
    )

    settled = waits.Waiter(watch).pods_settled("ns", {"app": "echo"}, 2, gone_uids={"u1"})  # type: ignore[arg-type]

    assert [p.name for p in settled] == ["new", "other"]


def test_a_new_pod_that_failed_gives_up_at_once() -> None:
    watch = ScriptedWatch([pod("new", "u2", phase="Failed", ready=False)])

    with pytest.raises(waits.Unrecoverable, match=r"pod/ns/new failed"):
        waits.Waiter(watch).pods_settled("ns", {"app": "echo"}, 1)  # type: ignore[arg-type]


def test_a_deleted_pod_counts_as_gone_once_its_phase_is_terminal() -> None:
    # The kubelet writes the terminal phase of a deleted Pod after its containers and sandbox
    # stopped (the IP released); the object may linger while volumes are reclaimed.
    watch = ScriptedWatch(
        [pod("old", "u1", gone=True), pod("new", "u2")],
        [pod("old", "u1", phase="Succeeded", ready=False, gone=True), pod("new", "u2")],
        [pod("new", "u2")],
    )
    seen: list[int] = []
    original = watch.observe

    def counting(*args: object, **kwargs: object) -> Iterator[dict[str, Any]]:
        for state in original(*args, **kwargs):
            seen.append(len(state))
            yield state

    watch.observe = counting  # type: ignore[method-assign]

    settled = waits.Waiter(watch).pods_settled("ns", {"app": "echo"}, 1, gone_uids={"u1"})  # type: ignore[arg-type]

    assert [p.name for p in settled] == ["new"]
    assert seen == [2, 2], "settled at the terminal phase, not when the object went"
