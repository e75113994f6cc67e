"""The disruption monitor's arithmetic: outage windows, NAT seen mid-run, the budget verdict."""

from __future__ import annotations

import math

from pytest_podnet import disruption, flows, probes
from pytest_podnet.flows import FlowCall


def answered(seq: int, at: float, by: str = "10.244.0.5") -> FlowCall:
    return FlowCall(seq, at, probes.REACHABLE, by, "", 0.01)


def lost(seq: int, at: float, outcome: probes.Outcome = probes.TIMED_OUT) -> FlowCall:
    return FlowCall(seq, at, outcome, None, "", 1.0)


def test_a_path_never_out_has_no_window_and_no_outage() -> None:
    report = disruption.PathReport.of("pod -> pod", [answered(1, 0.0), answered(2, 0.2)])

    assert report.windows == ()
    assert report.longest == 0.0
    assert disruption.verdict([report], budget=1.0) == []


def test_a_window_runs_from_the_last_answer_to_the_next_one() -> None:
    calls = [
        answered(1, 0.0),
        lost(2, 0.2),
        lost(3, 1.4, probes.REFUSED),
        answered(4, 2.6),
        answered(5, 2.8),
    ]

    (window,) = disruption.windows(calls)

    assert (window.start, window.end, window.unanswered) == (0.01, 2.6, 2)
    assert window.outcomes == {probes.TIMED_OUT: 1, probes.REFUSED: 1}
    assert window.seconds == 2.59


def test_windows_are_each_outage_and_an_open_one_never_fits_a_budget() -> None:
    calls = [lost(1, 0.0), answered(2, 1.2), answered(3, 1.4), lost(4, 1.6), lost(5, 2.8)]

    first, still_out = disruption.windows(calls)

    assert (first.start, first.end) == (0.0, 1.2)
    assert still_out.end is None
    assert math.isinf(still_out.seconds)
    report = disruption.PathReport("pod -> ClusterIP", len(calls), (first, still_out))
    assert report.over(budget=5.0) == [still_out]


def test_the_verdict_names_the_path_the_window_and_the_budget() -> None:
    calls = [answered(1, 0.0), lost(2, 0.2), lost(3, 1.4), answered(4, 2.6)]
    report = disruption.PathReport.of("pod -> pod podnet-node-1 -> podnet-node-2", calls)

    (problem,) = disruption.verdict([report], budget=2.0)

    assert problem.startswith("pod -> pod podnet-node-1 -> podnet-node-2: outage 0.0s-2.6s")
    assert "exceeds the budget of 2s" in problem
    assert disruption.verdict([report], budget=3.0) == []


def test_an_answer_with_another_source_ip_is_nat_even_within_the_budget() -> None:
    calls = [answered(1, 0.0), answered(2, 0.2, by="172.30.0.12"), answered(3, 0.4)]
    report = disruption.PathReport.of("pod -> pod", calls, own_ip="10.244.0.5")

    assert [c.seq for c in report.nated] == [2]
    (problem,) = disruption.verdict([report], budget=10.0)
    assert "NAT" in problem
    assert "172.30.0.12" in problem


def test_a_cut_established_connection_is_reported_apart_from_the_outage() -> None:
    # flow.sh's lines for a kept connection: #1 answers, the other end closes it (#2), a new
    # connection cannot connect at once (#3), connection #3 answers (#4).
    text = (
        "@@flow 1 0 0 2000 conn=1 10.244.0.5:40000\n"
        "@@flow 2 200000 56 2000 conn=1 cut: closed or reset\n"
        "@@flow 3 400000 7 2000 conn=2 could not connect: nc: connect failed: Connection refused\n"
        "@@flow 4 600000 0 2000 conn=3 10.244.0.5:40002\n"
    )
    calls, _ = flows.parse(text, probes.HTTP, probes.CLIENTIP)
    report = disruption.PathReport.of("pod -> ClusterIP (kept)", calls, own_ip="10.244.0.5")

    assert [c.connection for c in calls] == [1, 1, 2, 3]
    assert [c.cut for c in calls] == [False, True, False, False]
    outcomes = [probes.REACHABLE, probes.ERROR, probes.REFUSED, probes.REACHABLE]
    assert [c.outcome for c in calls] == outcomes
    assert len(report.cuts) == 1
    assert "established connection #1 cut at 0.2s: closed or reset" in str(report)
    (window,) = report.windows
    assert window.seconds == 0.598
    # Within the outage budget, yet failed for the cut, which names the connection.
    (problem,) = disruption.verdict([report], budget=1.0)
    assert problem == (
        "pod -> ClusterIP (kept): established connection #1 cut at 0.2s: closed or reset"
    )


def test_a_kept_connection_that_waits_out_an_outage_is_not_cut() -> None:
    text = (
        "@@flow 1 0 0 2000 conn=1 10.244.0.5:40000\n"
        "@@flow 2 200000 28 1000000 conn=1 no reply yet (the request waits on the connection)\n"
        "@@flow 3 1400000 0 500000 conn=1 10.244.0.5:40000\n"
    )
    calls, _ = flows.parse(text, probes.HTTP, probes.CLIENTIP)
    report = disruption.PathReport.of("pod -> ClusterIP (kept)", calls, own_ip="10.244.0.5")

    assert report.cuts == ()
    assert calls[1].outcome == probes.TIMED_OUT
    assert report.longest == 1.398
    assert disruption.verdict([report], budget=2.0) == []
