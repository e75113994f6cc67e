"""The per-test undo stack (``cleanup.UndoStack``), offline."""

from __future__ import annotations

import pytest

from pytest_podnet import cleanup, kube


def test_unwind_runs_every_undo_last_pushed_first_and_empties_the_stack() -> None:
    ran: list[str] = []
    stack = cleanup.UndoStack()
    for name in ("namespace", "deployment", "service"):
        stack.push(name, lambda name=name: ran.append(name))  # type: ignore[misc]

    errors = stack.unwind(60)

    assert (ran, errors, len(stack)) == (["service", "deployment", "namespace"], [], 0)


def test_unwind_counts_not_found_as_done_and_keeps_going_past_other_errors() -> None:
    ran: list[str] = []

    def gone() -> None:
        raise kube.NotFound("pod/ns/p: 404 not found", status=404)

    def refused() -> None:
        raise kube.Forbidden("svc/ns/s: 403 forbidden", status=403)

    stack = cleanup.UndoStack()
    stack.push("namespace/ns", lambda: ran.append("namespace/ns"))
    stack.push("svc/ns/s", refused)
    stack.push("pod/ns/p", gone)

    errors = stack.unwind(60)

    assert ran == ["namespace/ns"]
    assert errors == ["svc/ns/s: Forbidden: svc/ns/s: 403 forbidden"]


def test_unwind_past_its_deadline_reports_the_rest_without_running_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = iter([100.0, 100.0, 200.0])
    monkeypatch.setattr(cleanup.time, "monotonic", lambda: next(clock))
    ran: list[str] = []
    stack = cleanup.UndoStack()
    stack.push("namespace/ns", lambda: ran.append("namespace/ns"))
    stack.push("pod/ns/p", lambda: ran.append("pod/ns/p"))

    errors = stack.unwind(60)

    assert ran == ["pod/ns/p"]
    assert errors == [
        "namespace/ns: not attempted, cleanup deadline of 60s [cleanup] passed",
    ]
