"""Node-pair matrices (``pytest_podnet.matrix``), offline: a fake runner plays the probes."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from pytest_podnet import matrix, probes
from pytest_podnet.kube import PodInfo, ServiceInfo, ServicePort
from pytest_podnet.outcomes import NotVerified
from pytest_podnet.probes import Probe, ProbeResult

NODES = ("node-1", "node-2")


def pod(name: str, node: str, *ips: str) -> PodInfo:
    return PodInfo(
        "ns", name, f"uid-{name}", ips[0] if ips else None, ips, node, "Running", True, 0
    )


SENDERS = {"node-1": pod("s1", "node-1", "10.244.1.5"), "node-2": pod("s2", "node-2", "10.244.2.5")}
RECEIVERS = {
    "node-1": pod("r1", "node-1", "10.244.1.6"),
    "node-2": pod("r2", "node-2", "10.244.2.6"),
}


class FakeNetwork:
    """Answers each probe with the sender's IP, or with ``snat`` for the given node pairs."""

    def __init__(self, nat: Sequence[tuple[str, str]] = (), down: Sequence[str] = ()) -> None:
        self.nat = set(nat)
        self.down = set(down)
        self.batches: list[tuple[str, list[Probe]]] = []

    def run(self, sender: PodInfo, batch: Sequence[Probe]) -> list[ProbeResult]:
        self.batches.append((sender.name, list(batch)))
        return [self.answer(sender, p) for p in batch]

    def answer(self, sender: PodInfo, probe: Probe) -> ProbeResult:
        dst = next(n for n, r in RECEIVERS.items() if r.ip == probe.ip)
        if probe.ip in self.down:
            return ProbeResult(
                sender.ref, probe.address, probe.protocol, "timed-out", None, None, ""
            )
        seen = "172.30.0.11" if (sender.node, dst) in self.nat else sender.ip
        return ProbeResult(
            sender.ref, probe.address, probe.protocol, "reachable", seen, None, "", probe.ref
        )


def probe_pairs(network: FakeNetwork, scope: matrix.Scope, **kwargs: object) -> matrix.PairMatrices:
    options: dict[str, object] = {
        "what": "pod -> pod",
        "expect": matrix.source_is_sender_pod_ip,
        "families": ["IPv4"],
        "run": network.run,
    }
    options.update(kwargs)
    return matrix.probe_pairs(SENDERS, RECEIVERS, scope, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "pairs"),
    [
        ("same-node", [("a", "a"), ("b", "b")]),
        ("cross-node", [("a", "b"), ("b", "a")]),
        ("every-pair", [("a", "a"), ("a", "b"), ("b", "a"), ("b", "b")]),
    ],
)
def test_pairs_in_covers_the_scope(scope: matrix.Scope, pairs: list[tuple[str, str]]) -> None:
    assert matrix.pairs_in(scope, ["a", "b"]) == pairs


def test_a_clean_network_gives_one_ok_matrix_per_protocol_and_one_exec_per_sender() -> None:
    network = FakeNetwork()

    found = probe_pairs(network, "every-pair")

    assert not found.broken
    assert found.pairs == 4
    assert [m.what for m in found.matrices] == [
        "pod -> pod, every-pair, http /clientip, IPv4",
        "pod -> pod, every-pair, udp /clientip, IPv4",
    ]
    # One exec per sender with both protocols' probes (the senders' execs run side by side).
    assert sorted((name, len(batch)) for name, batch in network.batches) == [("s1", 4), ("s2", 4)]
    (s1_batch,) = [batch for name, batch in network.batches if name == "s1"]
    assert [p.protocol for p in s1_batch] == ["http", "http", "udp", "udp"]
    assert found.matrices[0].headline() == (
        "all 4 node pairs ok [pod -> pod, every-pair, http /clientip, IPv4]"
    )


def test_a_rewritten_source_marks_the_pair_nated_with_the_seen_and_expected_ip() -> None:
    found = probe_pairs(FakeNetwork(nat=[("node-1", "node-2")]), "cross-node", protocols=["http"])

    (broken,) = found.broken
    assert broken.nated == 1
    assert broken.rows() == [
        "src node \\ dst node  node-1  node-2",
        "node-1               -       N",
        "node-2               .       -",
    ]
    assert broken.findings == [
        "node-1 -> node-2: pod/ns/r2 (10.244.2.6:8080) saw source 172.30.0.11, expected the "
        "sender pod/ns/s1 Pod IP 10.244.1.5"
    ]
    assert str(found).startswith("1 of 2 node pairs rewrote the source IP [pod -> pod, ")


def test_reachability_only_accepts_any_source_but_not_silence() -> None:
    network = FakeNetwork(nat=[("node-1", "node-2")], down=["10.244.1.6"])

    found = probe_pairs(network, "every-pair", expect=matrix.any_source, protocols=["udp"])

    (broken,) = found.broken
    assert (broken.nated, broken.unreachable) == (0, 2)
    assert broken.headline().startswith("2 of 4 node pairs unreachable")
    assert all(line.startswith("node-") and "-> node-1" in line for line in broken.findings)


def test_a_family_without_an_address_counts_as_unreachable_without_a_probe() -> None:
    network = FakeNetwork()

    found = probe_pairs(network, "same-node", families=["IPv6"], protocols=["http"])

    assert found.broken[0].unreachable == 2
    assert "pod/ns/r1 has no IPv6 address" in str(found)
    assert network.batches == []


def test_families_follow_the_senders_and_for_services_only_those_every_service_has() -> None:
    ports = (ServicePort("http", "TCP", 80, 8080),)
    single = ServiceInfo("ns", "a", "u", "10.96.0.1", ("10.96.0.1",), ports)
    dual = ServiceInfo("ns", "b", "u", "10.96.0.2", ("10.96.0.2", "fd00:96::2"), ports)
    dual_sender = {"node-1": pod("s", "node-1", "10.244.1.5", "fd00::5")}

    assert matrix.families_to_probe(["IPv4"], dual_sender, RECEIVERS) == ["IPv4", "IPv6"]
    assert matrix.families_to_probe(["IPv4", "IPv6"], SENDERS, {"n": single, "m": dual}) == ["IPv4"]


def test_nothing_to_probe_is_not_verified_naming_the_scope() -> None:
    with pytest.raises(NotVerified, match="no cross-node node pair"):
        matrix.probe_pairs(
            {"node-1": SENDERS["node-1"]},
            {"node-1": RECEIVERS["node-1"]},
            "cross-node",
            what="pod -> pod",
            expect=matrix.source_is_sender_pod_ip,
            families=["IPv4"],
            run=FakeNetwork().run,
        )


def crossing(seen_ip: str) -> matrix.Crossing:
    """A reachable probe from sender s1 (10.244.1.5) whose receiver saw ``seen_ip``."""
    result = ProbeResult("s", "t", probes.HTTP, probes.REACHABLE, seen_ip, None, "")
    return matrix.Crossing("node-1", "node-2", SENDERS["node-1"], "10.244.1.5", result)


def test_the_judgement_is_the_expectation_the_check_passes() -> None:
    assert matrix.source_is_sender_pod_ip(crossing("10.244.1.5"))
    assert not matrix.source_is_sender_pod_ip(crossing("172.30.0.11"))
    assert matrix.any_source(crossing("172.30.0.11"))
