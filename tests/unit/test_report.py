"""Verdict table, JSON document and diagnostics sections from pytest's own report objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_podnet import report


def phase(
    nodeid: str,
    when: str,
    outcome: str,
    *,
    guarantee: str | None = "G1",
    longrepr: Any = None,
    duration: float = 0.5,
    values: dict[str, Any] | None = None,
) -> pytest.TestReport:
    properties: list[tuple[str, object]] = []
    if guarantee:
        properties.append((report.GUARANTEE_PROPERTY, guarantee))
    properties += [(f"podnet:{k}", v) for k, v in (values or {}).items()]
    return pytest.TestReport(
        nodeid=nodeid,
        location=("suites/x.py", 1, nodeid),
        keywords={},
        outcome=outcome,  # type: ignore[arg-type]
        longrepr=longrepr,
        when=when,  # type: ignore[arg-type]
        duration=duration,
        user_properties=properties,
    )


def passed_test(
    nodeid: str, guarantee: str | None = "G1", **values: Any
) -> list[pytest.TestReport]:
    return [
        phase(nodeid, "setup", "passed", guarantee=guarantee),
        phase(nodeid, "call", "passed", guarantee=guarantee, values=values),
        phase(nodeid, "teardown", "passed", guarantee=guarantee),
    ]


def ledger_of(*reports: pytest.TestReport) -> report.Ledger:
    ledger = report.Ledger()
    for rep in reports:
        ledger.add(rep)
    return ledger


def test_a_failed_check_fails_its_guarantee_and_keeps_the_message_head() -> None:
    ledger = ledger_of(
        *passed_test("a::ok", old_ip="10.244.1.7", new_ip="10.244.2.9"),
        phase("a::bad", "setup", "passed"),
        phase("a::bad", "call", "failed", longrepr="AssertionError: pod kept IP 10.244.1.7\nmore"),
        phase("a::bad", "teardown", "passed"),
    )

    (g1, g2, g3) = ledger.verdicts()

    assert (g1.passed, g1.failed, g1.skipped, g1.verdict) == (1, 1, 0, report.VERDICT_FAIL)
    assert (g2.verdict, g3.verdict) == (report.VERDICT_NOT_RUN, report.VERDICT_NOT_RUN)
    bad = next(r for r in ledger.results if r.nodeid == "a::bad")
    assert bad.outcome == report.FAILED
    assert bad.message == "AssertionError: pod kept IP 10.244.1.7\nmore"
    assert bad.duration == pytest.approx(1.5)
    ok = next(r for r in ledger.results if r.nodeid == "a::ok")
    assert ok.values == {"old_ip": "10.244.1.7", "new_ip": "10.244.2.9"}


def test_setup_or_teardown_errors_count_as_failures() -> None:
    ledger = ledger_of(
        phase("b::setup", "setup", "failed", guarantee="G2", longrepr="WaitTimeout: timed out"),
        phase("b::setup", "teardown", "passed", guarantee="G2"),
        *passed_test("b::teardown", guarantee="G2"),
        phase("b::teardown", "teardown", "failed", guarantee="G2", longrepr="cleanup failed"),
    )

    g2 = ledger.verdicts()[1]

    assert (g2.passed, g2.failed, g2.verdict) == (0, 2, report.VERDICT_FAIL)
    assert {r.outcome for r in ledger.results} == {report.ERROR}


def test_skipped_checks_leave_a_guarantee_partly_shown() -> None:
    skip = ("suites/x.py", 3, "Skipped: needs 2 schedulable nodes, the cluster has 1")
    ledger = ledger_of(
        *passed_test("c::same_node", guarantee="G2"),
        phase("c::cross", "setup", "skipped", guarantee="G2", longrepr=skip),
        phase("c::cross", "teardown", "passed", guarantee="G2"),
        phase("d::only", "setup", "skipped", guarantee="G3", longrepr=skip),
    )

    _, g2, g3 = ledger.verdicts()

    assert g2.verdict == report.VERDICT_PARTIAL
    assert g3.verdict == report.VERDICT_SKIPPED
    cross = next(r for r in ledger.results if r.nodeid == "c::cross")
    assert cross.message == "needs 2 schedulable nodes, the cluster has 1"


def test_verdict_table_lines_up_every_guarantee() -> None:
    ledger = ledger_of(
        *passed_test("a::ok"),
        phase("a::bad", "call", "failed", longrepr="boom"),
        *passed_test("g3::ok", guarantee="G3"),
    )

    lines = report.verdict_table(ledger.verdicts())

    assert lines == [
        "guarantee                                   passed  failed  skipped  verdict",
        "G1         Pod IPs are ephemeral                 1       1        0  FAIL",
        "G2         flat network, no NAT                  0       0        0  NOT RUN",
        "G3         Services are the stable address       1       0        0  PASS",
    ]


def test_json_document_holds_every_check_with_its_values(tmp_path: Path) -> None:
    ledger = ledger_of(
        *passed_test("a::ok", old_ip="10.244.1.7", seconds=0.25, ips=["10.244.1.7"]),
        *passed_test("tests/test_unrelated.py::test_x", guarantee=None),
    )
    document = report.verdict_document(
        ledger.results, ledger.verdicts(), run={"run_id": "r1", "exit_status": 0}
    )

    path = report.write_json(tmp_path / "out" / "verdict.json", document)

    loaded = json.loads(path.read_text())
    assert loaded["schema"] == report.JSON_SCHEMA
    assert loaded["run"] == {"run_id": "r1", "exit_status": 0}
    assert [g["verdict"] for g in loaded["guarantees"]] == ["PASS", "NOT RUN", "NOT RUN"]
    assert loaded["checks"][0] == {
        "nodeid": "a::ok",
        "guarantee": "G1",
        "outcome": "passed",
        "duration": 1.5,
        "message": None,
        "values": {"old_ip": "10.244.1.7", "seconds": 0.25, "ips": ["10.244.1.7"]},
    }
    assert loaded["checks"][1]["guarantee"] is None


def test_json_stays_valid_with_values_json_cannot_hold(tmp_path: Path) -> None:
    ledger = ledger_of(*passed_test("a::ok", lag=float("nan"), ips=frozenset({"10.0.0.1"})))
    document = report.verdict_document(ledger.results, ledger.verdicts(), run={})

    path = report.write_json(tmp_path / "verdict.json", document)

    values = json.loads(path.read_text())["checks"][0]["values"]
    assert values == {"lag": "nan", "ips": ["10.0.0.1"]}


def test_header_names_context_server_nodes_images_run_and_scale() -> None:
    facts = {
        "context": "podnet-local",
        "server_url": "https://172.30.0.1:6443",
        "server_version": "v1.36.3",
        "nodes": [
            {"name": "podnet-node-1", "internal_ip": "172.30.0.11", "pod_cidrs": ["10.244.0.0/24"]}
        ],
        "ip_families": ["IPv4"],
    }

    lines = report.header_lines(facts, ["agnhost:2.63.0", "pause:3.10.2"], "r1", 1.5)

    assert lines == [
        "podnet: context podnet-local, server https://172.30.0.1:6443, version v1.36.3",
        "podnet: 1 schedulable node(s): podnet-node-1 (172.30.0.11, pods 10.244.0.0/24); "
        "ip families IPv4",
        "podnet: images agnhost:2.63.0 pause:3.10.2",
        "podnet: run id r1, timeout scale 1.5",
    ]


def test_diagnostics_are_added_as_report_sections() -> None:
    rep = phase("a::bad", "call", "failed", longrepr="AssertionError: original")

    report.attach_diagnostics(rep, lambda: [("events", "Warning BackOff"), ("pods", "echo-1")])

    assert rep.sections[-2:] == [
        ("podnet diagnostics: events", "Warning BackOff"),
        ("podnet diagnostics: pods", "echo-1"),
    ]
    assert rep.longrepr == "AssertionError: original"


def test_failing_diagnostics_never_hide_the_original_error() -> None:
    rep = phase("a::bad", "call", "failed", longrepr="AssertionError: original")

    def broken() -> list[tuple[str, str]]:
        raise ConnectionResetError("apiserver went away")

    report.attach_diagnostics(rep, broken)

    assert rep.failed
    assert rep.longrepr == "AssertionError: original"
    assert (
        "podnet diagnostics: diagnostics failed",
        "ConnectionResetError: apiserver went away",
    ) in rep.sections
