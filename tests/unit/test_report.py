"""Verdict table, JSON document and diagnostics sections from pytest's own report objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import verdicts

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
    classified: str | None = None,
    skip_reason: str | None = None,
) -> pytest.TestReport:
    properties: list[tuple[str, object]] = []
    if guarantee:
        properties.append((report.GUARANTEE_PROPERTY, guarantee))
    if skip_reason:
        properties.append((report.SKIP_PROPERTY, skip_reason))
    if classified:
        properties.append((report.OUTCOME_PROPERTY, classified))
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


def ledger_of(*reports: pytest.TestReport, policy: report.Policy | None = None) -> report.Ledger:
    ledger = report.Ledger(policy)
    for rep in reports:
        ledger.add(rep)
    return ledger


def test_a_failed_check_fails_its_guarantee_and_keeps_the_message_head() -> None:
    ledger = ledger_of(
        *passed_test("a::ok", old_ip="10.244.1.7", new_ip="10.244.2.9"),
        phase("a::bad", "setup", "passed"),
        phase(
            "a::bad",
            "call",
            "failed",
            longrepr="AssertionError: pod kept IP 10.244.1.7\nmore",
            classified=report.FAIL,
        ),
        phase("a::bad", "teardown", "passed"),
    )

    (g1, g2, g3) = ledger.verdicts()

    assert (g1.passed, g1.failed, g1.not_verified, g1.verdict) == (1, 1, 0, report.FAIL)
    assert g1.reasons == ("bad: pod kept IP 10.244.1.7",)
    assert (g2.verdict, g3.verdict) == (report.NOT_VERIFIED, report.NOT_VERIFIED)
    assert g2.reasons[0].startswith("no check of G2 ran in this session")
    bad = next(r for r in ledger.results if r.nodeid == "a::bad")
    assert bad.outcome == report.FAIL
    assert bad.message == "AssertionError: pod kept IP 10.244.1.7\nmore"
    assert bad.duration == pytest.approx(1.5)
    ok = next(r for r in ledger.results if r.nodeid == "a::ok")
    assert ok.values == {"old_ip": "10.244.1.7", "new_ip": "10.244.2.9"}
    assert ledger.gate() == report.EXIT_FAIL


def test_setup_or_teardown_errors_take_the_outcome_the_plugin_classified() -> None:
    ledger = ledger_of(
        phase(
            "b::setup",
            "setup",
            "failed",
            guarantee="G2",
            longrepr="Failed: G2 (flat network, no NAT) not verified (in setup): create "
            "namespace/podnet-x: 403 denied; fix: exempt",
            classified=report.NOT_VERIFIED,
        ),
        phase("b::setup", "teardown", "passed", guarantee="G2"),
        *passed_test("b::teardown", guarantee="G2"),
        phase("b::teardown", "teardown", "failed", guarantee="G2", longrepr="cleanup failed"),
    )

    g2 = ledger.verdicts()[1]

    assert (g2.passed, g2.failed, g2.not_verified, g2.verdict) == (0, 1, 1, report.FAIL)
    outcomes = {r.nodeid: r.outcome for r in ledger.results}
    # A failed phase nobody classified is a FAIL: unknown must keep the gate closed.
    assert outcomes == {"b::setup": report.NOT_VERIFIED, "b::teardown": report.FAIL}


def test_a_not_verified_check_leaves_its_guarantee_not_verified_with_the_cause() -> None:
    phases = [
        *passed_test("c::ok", guarantee="G3"),
        phase(
            "c::denied",
            "call",
            "failed",
            guarantee="G3",
            longrepr="Failed: G3 (Services are the stable address) not verified: create "
            "deployment/ns/echo: 422 denied request; fix: exempt the namespaces",
            classified=report.NOT_VERIFIED,
        ),
    ]
    everything = ledger_of(*phases)
    only_g3 = ledger_of(*phases, policy=report.Policy(require=("G3",)))

    g3 = everything.verdicts()[2]

    assert (g3.passed, g3.not_verified, g3.verdict) == (1, 1, report.NOT_VERIFIED)
    assert g3.reasons == (
        "denied: create deployment/ns/echo: 422 denied request; fix: exempt the namespaces",
    )
    assert everything.gate() == report.EXIT_NOT_VERIFIED
    assert only_g3.gate() == report.EXIT_NOT_VERIFIED
    assert ledger_of(*phases, policy=report.Policy(require=("G1",))).gate() == (
        report.EXIT_NOT_VERIFIED
    )


def test_skipped_required_checks_are_not_verified_unless_the_user_allowed_the_skip() -> None:
    skip = ("suites/x.py", 3, "Skipped: needs 2 schedulable nodes, the cluster has 1")
    phases = [
        *passed_test("c::same_node", guarantee="G2"),
        phase(
            "c::cross", "setup", "skipped", guarantee="G2", longrepr=skip, skip_reason="cross-node"
        ),
        phase("c::cross", "teardown", "passed", guarantee="G2", skip_reason="cross-node"),
        phase(
            "d::host", "setup", "skipped", guarantee="G2", longrepr=skip, skip_reason="privileged"
        ),
    ]
    not_requested = frozenset({"privileged"})
    strict = ledger_of(*phases, policy=report.Policy(require=("G2",), not_requested=not_requested))
    allowed = ledger_of(
        *phases,
        policy=report.Policy(
            require=("G2",), allow_skip=frozenset({"cross-node"}), not_requested=not_requested
        ),
    )

    g2 = strict.verdicts()[1]
    assert (g2.passed, g2.not_verified, g2.skipped, g2.verdict) == (1, 1, 1, report.NOT_VERIFIED)
    cross = next(r for r in strict.results if r.nodeid == "c::cross")
    assert cross.message is not None
    assert cross.message.startswith("skipped: needs 2 schedulable nodes, the cluster has 1; fix:")
    assert "--podnet-allow-skip=cross-node" in cross.message
    assert strict.gate() == report.EXIT_NOT_VERIFIED
    assert allowed.verdicts()[1].verdict == report.PASS
    assert allowed.gate() == report.EXIT_PASS


def test_verdict_table_lines_up_every_guarantee() -> None:
    ledger = ledger_of(
        *passed_test("a::ok"),
        phase("a::bad", "call", "failed", longrepr="AssertionError: boom", classified=report.FAIL),
        *passed_test("g3::ok", guarantee="G3"),
    )

    lines = report.verdict_table(ledger.verdicts())

    assert lines == [
        "guarantee                                   required  pass  fail  not verified  "
        "skipped  verdict",
        "G1         Pod IPs are ephemeral            yes          1     1             0        "
        "0  FAIL",
        "G2         flat network, no NAT             yes          0     0             0        "
        "0  NOT VERIFIED",
        "G3         Services are the stable address  yes          1     0             0        "
        "0  PASS",
        "G1 broken: bad: boom",
        "G2 not verified: no check of G2 ran in this session (deselected by -m/-k, or skipped by "
        "choice); fix: run its checks, or leave it out of --podnet-require",
    ]


#: The run facts the plugin always writes (the schema requires them; the preflight's are optional).
RUN = {
    "run_id": "r1",
    "exit_status": 0,
    "preflight_error": None,
    "cluster": "external",
    "images": ["registry.k8s.io/e2e-test-images/agnhost:2.63.0"],
    "timeout_scale": 1.0,
    "ip_reuse": "strict",
    "require": ["G1", "G2", "G3"],
    "allow_skip": [],
    "not_requested": ["privileged"],
}


def test_json_document_holds_every_check_with_its_values(tmp_path: Path) -> None:
    ledger = ledger_of(
        *passed_test("a::ok", old_ip="10.244.1.7", seconds=0.25, ips=["10.244.1.7"]),
        *passed_test("tests/test_unrelated.py::test_x", guarantee=None),
    )
    document = report.verdict_document(ledger.results, ledger.verdicts(), run=RUN)

    path = report.write_json(tmp_path / "out" / "verdict.json", document)

    loaded = verdicts.load(path)
    assert loaded["schema"] == report.JSON_SCHEMA == "pytest-podnet/verdict/v2"
    assert loaded["run"] == RUN
    assert [g["verdict"] for g in loaded["guarantees"]] == ["PASS", "NOT VERIFIED", "NOT VERIFIED"]
    assert loaded["checks"][0] == {
        "nodeid": "a::ok",
        "guarantee": "G1",
        "outcome": "PASS",
        "duration": 1.5,
        "message": None,
        "skip_reason": None,
        "values": {"old_ip": "10.244.1.7", "seconds": 0.25, "ips": ["10.244.1.7"]},
        "matrices": [],
    }
    assert loaded["checks"][1]["guarantee"] is None
    assert path.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in path.parent.iterdir()] == ["verdict.json"]


def test_json_stays_valid_with_values_json_cannot_hold(tmp_path: Path) -> None:
    ledger = ledger_of(*passed_test("a::ok", lag=float("nan"), ips=frozenset({"10.0.0.1"})))
    document = report.verdict_document(ledger.results, ledger.verdicts(), run=RUN)

    path = report.write_json(tmp_path / "verdict.json", document)

    values = verdicts.load(path)["checks"][0]["values"]
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

    facts["node_selector"] = "kubernetes.io/os=linux"
    facts["excluded_nodes"] = [{"name": "win-1", "why": "not matched by node selector x"}]
    policy = report.Policy(allow_skip=frozenset({"cross-node"}))

    lines = report.header_lines(facts, ["agnhost:2.63.0", "pause:3.10.2"], "r1", 1.5, policy)

    assert lines == [
        "podnet: context podnet-local, server https://172.30.0.1:6443, version v1.36.3",
        "podnet: testing 1 node(s) (selector kubernetes.io/os=linux): podnet-node-1 "
        "(172.30.0.11, pods 10.244.0.0/24); ip families IPv4",
        "podnet: left out 1 node(s): win-1: not matched by node selector x",
        "podnet: images agnhost:2.63.0 pause:3.10.2",
        "podnet: run id r1, timeout scale 1.5",
        "podnet: required G1, G2, G3; allowed skips cross-node; not requested none",
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


def test_a_check_whose_worker_died_is_not_verified_not_failed() -> None:
    # What pytest-xdist reports when a worker is killed mid-test (SIGINT/SIGKILL, OOM): the
    # check observed nothing that contradicts its guarantee.
    crashed = "worker 'gw0' crashed while running 'suites/x.py::a::killed'"
    ledger = ledger_of(
        *passed_test("a::ok"),
        phase("a::killed", "setup", "passed"),
        phase("a::killed", "???", "failed", guarantee=None, longrepr=crashed),
    )

    g1 = ledger.verdicts()[0]

    assert (g1.passed, g1.failed, g1.not_verified, g1.verdict) == (1, 0, 1, report.NOT_VERIFIED)
    [reason] = g1.reasons
    assert reason.startswith(f"killed: {crashed}: the test process died before the check")
    # The run's collector asks this to tell the stand-in report from a failure outside the checks.
    assert ledger.guarantee_of("a::killed") == "G1"
    assert ledger.guarantee_of("b::never-seen") is None
    assert ledger.gate() == report.EXIT_NOT_VERIFIED


def test_an_unclassified_failure_that_is_no_crash_still_fails() -> None:
    ledger = ledger_of(
        phase("a::bad", "setup", "passed"),
        phase("a::bad", "call", "failed", longrepr="worker said: crashed while running, in a test"),
    )

    assert ledger.verdicts()[0].verdict == report.FAIL
