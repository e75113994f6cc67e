"""Offline parts of the G3 depth checks (UDP flows, calls by name) and of their faults."""

from __future__ import annotations

from pytest_podnet import flows, names, probes
from pytest_podnet.flows import FlowCall
from pytest_podnet.localcluster import serve_terminating, udp_pin


def call(seq: int, by: str | None, at: float | None = None) -> FlowCall:
    outcome = probes.REACHABLE if by else probes.TIMED_OUT
    return FlowCall(seq, seq * 0.2 if at is None else at, outcome, by, "", 0.01 if by else 1.0)


def test_parse_reads_each_call_line_and_the_end_line() -> None:
    text = (
        "bash: noise\n"
        "@@flow 1 120 0 2500 echo-a\n"
        "@@flow 2 320500 0 1000000\n"
        "@@flow 3 1520000 111 300 nc: connection refused (ended at once without a reply: ICMP"
        " unreachable)\n"
        "@@flow broken\n"
        "@@flow-end 3\n"
    )

    calls, ended = flows.parse(text)

    assert ended
    assert [(c.seq, c.outcome, c.answered_by) for c in calls] == [
        (1, probes.REACHABLE, "echo-a"),
        (2, probes.TIMED_OUT, None),
        (3, probes.REFUSED, None),
    ]
    assert (calls[1].at, calls[1].elapsed) == (0.3205, 1.0)


def test_parse_of_a_tcp_flow_reads_curl_exits() -> None:
    text = (
        "@@flow 1 0 0 2500 echo-a\n"
        "@@flow 2 200000 28 1000000 curl: (28) Connection timed out after 1000 milliseconds\n"
        "@@flow 3 1400000 7 300 curl: (7) Failed to connect to 10.96.0.20 port 80: Connection"
        " refused\n"
    )

    calls, _ = flows.parse(text, probes.HTTP)

    assert [(c.outcome, c.answered_by) for c in calls] == [
        (probes.REACHABLE, "echo-a"),
        (probes.TIMED_OUT, None),
        (probes.REFUSED, None),
    ]


def test_a_tcp_connect_that_fails_at_once_is_refused_in_curl_7_88_wording() -> None:
    """curl 7.88 reports a refused connect as "Couldn't connect to server", exit 7."""
    output = "curl: (7) Failed to connect to 10.244.1.7 port 8080 after 0 ms: Couldn't connect"

    assert probes.classify(probes.HTTP, 7, output)[0] == probes.REFUSED
    assert probes.classify(probes.HTTP, 28, "curl: (28) timed out")[0] == probes.TIMED_OUT


def test_parse_of_a_running_flow_is_not_ended() -> None:
    assert flows.parse("@@flow 1 0 0 10 echo-a\n")[1] is False


def test_first_run_answered_by_needs_that_many_calls_in_a_row() -> None:
    calls = [call(1, "old"), call(2, "new"), call(3, None), call(4, "new"), call(5, "new")]

    assert flows.first_run_answered_by(calls, {"new"}, 2) == calls[3]
    assert flows.first_run_answered_by(calls, {"new"}, 3) is None
    assert flows.first_run_answered_by(calls, {"old", "new"}, 2) == calls[0]


def test_outage_is_from_the_last_old_answer_to_the_first_new_one() -> None:
    calls = [call(1, "old", 0.0), call(2, None, 0.2), call(3, None, 1.4), call(4, "new", 2.6)]

    assert flows.outage(calls, before={"old"}, after={"new"}) == 2.59
    assert flows.outage(calls[:3], before={"old"}, after={"new"}) == float("inf")


def test_summary_folds_runs_of_one_kind() -> None:
    calls = [call(1, "old"), call(2, "old"), call(3, None), call(4, None), call(5, "new")]

    assert flows.summary(calls) == (
        "  #1-#2 answered by old\n  #3-#4 timed-out\n  #5 answered by new"
    )
    assert flows.summary([]) == "  (no call recorded yet)"
    assert flows.summary(calls, limit=1).startswith("  (2 earlier runs of calls not shown)")


def test_udp_pin_reads_a_destroy_event_of_a_dnat_entry() -> None:
    line = (
        "    [DESTROY] udp      17 src=10.244.0.5 dst=10.96.0.10 sport=30081 dport=81"
        " src=10.244.1.7 dst=10.244.0.5 sport=8081 dport=30081 [ASSURED]"
    )

    assert udp_pin.parse(line) == udp_pin.Destroyed(
        "10.244.0.5", "10.96.0.10", "30081", "81", "10.244.1.7", "8081"
    )
    assert udp_pin.parse("[DESTROY] tcp 6 src=1.2.3.4 dst=5.6.7.8 sport=1 dport=2") is None


def test_cluster_domain_is_read_from_the_kubelets_search_line() -> None:
    resolv = (
        "search team-a.svc.corp.example svc.corp.example corp.example\n"
        "nameserver 10.96.0.10\noptions ndots:5\n"
    )

    assert names.cluster_domain(resolv, "team-a") == "corp.example"
    assert names.cluster_domain("nameserver 127.0.0.1\n", "team-a") is None
    assert names.cluster_domain("search other.svc.cluster.local\n", "team-a") is None


def test_by_name_lines_give_the_address_connected_to_or_none() -> None:
    stdout = (
        "@@name echo.ns.svc.cluster.local 0 10.96.4.2 echo-7d-abc\n"
        "@@name echo 6 - curl: (6) Could not resolve host: echo\n"
        "stray output\n"
    )

    assert names.parse(stdout) == {
        "echo.ns.svc.cluster.local": (0, "10.96.4.2", "echo-7d-abc"),
        "echo": (6, None, "curl: (6) Could not resolve host: echo"),
    }


def test_serve_terminating_diverts_only_while_a_ready_endpoint_exists() -> None:
    service = {
        "spec": {
            "clusterIP": "10.96.7.7",
            "ports": [
                {"name": "http", "port": 80, "protocol": "TCP"},
                {"name": "udp", "port": 81, "protocol": "UDP"},
            ],
        }
    }
    ready = {"addresses": ["10.244.0.5"], "conditions": {"ready": True, "serving": True}}
    draining = {
        "addresses": ["10.244.0.6"],
        "conditions": {"ready": False, "serving": True, "terminating": True},
    }
    ports = [{"name": "http", "port": 8080}, {"name": "udp", "port": 8081}]

    found = serve_terminating.diversions({"endpoints": [ready, draining], "ports": ports}, service)

    assert found == [
        serve_terminating.Diversion("10.96.7.7", 80, "tcp", "10.244.0.6", 8080),
        serve_terminating.Diversion("10.96.7.7", 81, "udp", "10.244.0.6", 8081),
    ]
    assert serve_terminating.diversions({"endpoints": [draining], "ports": ports}, service) == []
    assert serve_terminating.rules("CHAIN", found[:1]).splitlines() == [
        "*nat",
        ":CHAIN - [0:0]",
        "-A CHAIN -d 10.96.7.7/32 -p tcp -m tcp --dport 80 -m statistic --mode random"
        " --probability 0.5 -j DNAT --to-destination 10.244.0.6:8080",
        "COMMIT",
    ]


def test_the_flow_and_by_name_scripts_are_package_data_with_their_markers() -> None:
    assert flows.flow_script().startswith("#!/usr/bin/env bash")
    assert "@@flow-end" in flows.flow_script()
    assert names.by_name_script().startswith("#!/usr/bin/env bash")
    assert "@@name" in names.by_name_script()
