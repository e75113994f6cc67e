"""Probe result parsing and classification, and the named batch checks, offline."""

from __future__ import annotations

from typing import get_args

import pytest

from pytest_podnet import probes
from pytest_podnet.kube import PodInfo, ServiceInfo, ServicePort
from pytest_podnet.probes import ProbeResult


def result(outcome: probes.Outcome = probes.REACHABLE, hostname: str | None = "a") -> ProbeResult:
    return ProbeResult("pod/ns/client", "10.96.0.10:80", "http", outcome, None, hostname, "")


def test_parse_lines_reads_each_marked_line_and_ignores_the_rest() -> None:
    stdout = (
        "noise from bash\n"
        "@@podnet 0 1 0 1234 10.244.1.7:40000\n"
        "@@podnet 1 3 28 9000000 * Connection timed out | curl: (28) timeout \n"
        "@@podnet 2 1 0 12\n"
        "@@podnet broken\n"
    )

    lines = probes.parse_lines(stdout)

    assert lines == {
        0: (1, 0, 1234, "10.244.1.7:40000"),
        1: (3, 28, 9000000, "* Connection timed out | curl: (28) timeout"),
        2: (1, 0, 12, ""),
    }


@pytest.mark.parametrize(
    ("protocol", "rc", "output", "outcome"),
    [
        ("http", 0, "10.244.1.7:40000", probes.REACHABLE),
        ("udp", 0, "pod-a", probes.REACHABLE),
        ("http", 7, "connect to 10.244.9.9 port 8080 failed: Connection refused", probes.REFUSED),
        ("http", 7, "connect failed: No route to host", probes.REFUSED),
        ("udp", 111, "nc: connection refused (ended at once)", probes.REFUSED),
        ("udp", 1, "nc: Network unreachable", probes.REFUSED),
        ("http", 28, "curl: (28) Connection timed out after 3001 ms", probes.TIMED_OUT),
        ("udp", 0, "", probes.TIMED_OUT),
        ("http", 0, "", probes.ERROR),
        ("http", 52, "curl: (52) Empty reply from server", probes.ERROR),
        ("udp", 2, "nc: getaddrinfo: bad address", probes.ERROR),
    ],
)
def test_classify_names_the_outcome_of_the_last_attempt(
    protocol: probes.Protocol, rc: int, output: str, outcome: probes.Outcome
) -> None:
    found, detail = probes.classify(protocol, rc, output)

    assert found == outcome
    assert (detail == "") is (outcome == probes.REACHABLE)


def test_classify_keeps_the_telling_part_of_a_verbose_error() -> None:
    output = (
        "Trying 10.244.9.9:8080... | connect to 10.244.9.9 port 8080 failed: Connection refused"
    )

    _, detail = probes.classify("http", 7, output)

    assert detail == "connect to 10.244.9.9 port 8080 failed: Connection refused"


@pytest.mark.parametrize(
    ("request_", "output", "seen"),
    [
        ("clientip", "10.244.1.7:40000", ("10.244.1.7", None)),
        ("clientip", "[fd00::7]:40000", ("fd00::7", None)),
        ("clientip", "fd00::7", ("fd00::7", None)),
        ("hostname", "echo-1\n", (None, "echo-1")),
        ("clientip", "  ", (None, None)),
    ],
)
def test_parse_seen_reads_an_address_with_or_without_port_or_a_hostname(
    request_: probes.Request, output: str, seen: tuple[str | None, str | None]
) -> None:
    assert probes.parse_seen(request_, output) == seen


def test_probe_for_uses_netexec_ports_for_pods_and_service_ports_for_services() -> None:
    pod = PodInfo("ns", "echo-1", "u", "fd00::7", ("fd00::7",), "n1", "Running", True, 0)
    ports = (ServicePort("http", "TCP", 80, 8080), ServicePort("udp", "UDP", 81, 8081))
    svc = ServiceInfo("ns", "echo", "s", "10.96.0.10", ("10.96.0.10",), ports)

    assert probes.probe_for(pod, "udp").address == "[fd00::7]:8081"
    assert probes.probe_for(svc, "http", "hostname") == probes.Probe(
        "10.96.0.10", 80, "http", "hostname", "svc/ns/echo"
    )
    assert probes.probe_for("10.244.1.9").port == 8080
    with pytest.raises(ValueError, match="protocol 'sctp'"):
        probes.probe_for(pod, "sctp")  # type: ignore[arg-type]


def test_a_dual_stack_service_is_probed_on_each_of_its_cluster_ips() -> None:
    ports = (ServicePort("http", "TCP", 80, 8080), ServicePort("udp", "UDP", 81, 8081))
    dual = ServiceInfo("ns", "echo", "s", "10.96.0.10", ("10.96.0.10", "fd00:10:96::a"), ports)
    built = probes.probes_for([dual, "10.244.1.9"], "udp", count=2)
    assert [p.address for p in built] == [
        "10.96.0.10:81",
        "10.96.0.10:81",
        "[fd00:10:96::a]:81",
        "[fd00:10:96::a]:81",
        "10.244.1.9:8081",
        "10.244.1.9:8081",
    ]
    assert {p.ref for p in built[:4]} == {"svc/ns/echo"}


def test_outcomes_are_the_outcome_type() -> None:
    assert set(probes.OUTCOMES) == set(get_args(probes.Outcome))


def test_answered_only_by_fails_on_another_pod_or_an_unanswered_probe() -> None:
    check = probes.answered_only_by(["a", "b"])

    assert check([result(hostname="a"), result(hostname="b")])
    assert not check([result(hostname="a"), result(hostname="old")])
    assert not check([result(hostname="a"), result(probes.TIMED_OUT, None)])
    assert not check([])
    assert check.description == "answered only by ['a', 'b']"


def test_answered_by_each_of_needs_every_pod_and_no_other() -> None:
    check = probes.answered_by_each_of(["a", "b"])

    assert check([result(hostname="a"), result(hostname="b"), result(hostname="a")])
    assert not check([result(hostname="a"), result(hostname="a")])
    assert not check([result(hostname="a"), result(hostname="b"), result(probes.REFUSED, None)])


def test_not_answered_by_accepts_silence_refusal_and_other_pods_only() -> None:
    check = probes.not_answered_by(["old", "new"])

    assert check([result(probes.REFUSED, None)])
    assert check([result(hostname="other-workload")])
    assert not check([result(hostname="new")])
    assert check.description == "no longer answering as new or old"


def test_the_batch_script_is_package_data_with_the_output_marker() -> None:
    script = probes.batch_script()

    assert script.startswith("#!/usr/bin/env bash\n")
    assert '"@@podnet"' in script
