"""Probes from real Pods: one exec per batch, typed outcomes, the caller's Pod IP as seen."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest
from inner_run import Inner

from pytest_podnet import kube, probes, waits, workloads
from pytest_podnet.fixtures import Podnet


@pytest.fixture
def exec_count(podnet: Podnet, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """The commands of every exec this test makes (the real exec still runs)."""
    calls: list[list[str]] = []
    real_exec = podnet.cluster.exec

    def counting_exec(*args: object, **kwargs: object) -> kube.ExecResult:
        calls.append(list(args[2]))  # type: ignore[call-overload]
        return real_exec(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(podnet.cluster, "exec", counting_exec)
    return calls


def dead_ip(podnet: Podnet, node: kube.NodeInfo) -> str:
    """An address in ``node``'s Pod CIDR that no Pod of the cluster holds."""
    taken = {ip for pod in podnet.all_pods() for ip in pod.ips}
    network = ipaddress.ip_network(node.pod_cidrs[0])
    candidates = (str(ip) for ip in reversed(list(network.hosts())))
    return next(ip for ip in candidates if ip not in taken)


def test_probes_to_many_targets_cost_one_exec_and_see_the_caller_pod_ip(
    podnet: Podnet, exec_count: list[list[str]]
) -> None:
    echo = podnet.echo_deployment(replicas=2)
    svc = podnet.service_for(echo)
    client = podnet.client_pod()
    targets = [*podnet.pods(echo), svc]
    # kube-proxy may lag the EndpointSlices, and a Pod is Ready a moment before it listens.
    podnet.expect_reachable(from_=client, to=targets)
    exec_count.clear()

    results = podnet.probe(from_=client, to=targets, count=2)

    assert len(exec_count) == 1, exec_count
    assert len(results) == 6
    assert {r.outcome for r in results} == {probes.REACHABLE}, [str(r) for r in results]
    assert {r.seen_ip for r in results} == {client.ip}
    assert [r.target_ref for r in results[::2]] == [t.ref for t in targets]


def test_udp_and_hostname_probes_answer_as_the_target_pod(podnet: Podnet) -> None:
    echo = podnet.echo_deployment(replicas=2)
    client = podnet.client_pod()
    pods = podnet.pods(echo)
    # A netexec Pod is Ready once its container runs, which can be a moment before it listens
    # on UDP (a datagram then meets "port unreachable", a conclusive answer): the checks converge
    # on fresh targets, and so does this test before its single probes.
    podnet.expect_reachable(from_=client, to=pods, protocol=probes.UDP)

    by_udp = podnet.probe(from_=client, to=pods, protocol=probes.UDP)
    names = podnet.probe(from_=client, to=pods, request=probes.HOSTNAME)
    names_udp = podnet.probe(from_=client, to=pods, protocol=probes.UDP, request=probes.HOSTNAME)

    assert [r.seen_ip for r in by_udp] == [client.ip, client.ip], [str(r) for r in by_udp]
    assert [r.seen_hostname for r in names] == [p.name for p in pods]
    assert [r.seen_hostname for r in names_udp] == [p.name for p in pods]


def test_dead_pod_ip_and_closed_port_are_refused_or_timed_out_never_reachable(
    podnet: Podnet, exec_count: list[list[str]]
) -> None:
    client = podnet.client_pod(node=podnet.nodes()[0].name)
    local_dead = dead_ip(podnet, podnet.nodes()[0])
    remote_dead = dead_ip(podnet, podnet.nodes()[-1])
    closed_tcp = probes.Probe(client.ip or "", 9, probes.HTTP, probes.CLIENTIP, "closed tcp port")
    closed_udp = probes.Probe(client.ip or "", 9, probes.UDP, probes.CLIENTIP, "closed udp port")
    exec_count.clear()

    dead = podnet.probe(from_=client, to=[local_dead, remote_dead])
    dead_udp = podnet.probe(from_=client, to=[local_dead, remote_dead], protocol=probes.UDP)
    closed = podnet.probe(from_=client, to=[closed_tcp, closed_udp])

    assert len(exec_count) == 3
    for result in [*dead, *dead_udp]:
        assert result.outcome in (probes.REFUSED, probes.TIMED_OUT), str(result)
        assert result.seen_ip is None
    assert closed[0].outcome == probes.REFUSED, str(closed[0])
    assert closed[1].outcome in (probes.REFUSED, probes.TIMED_OUT), str(closed[1])
    assert "refused" in closed[0].detail.lower()


def test_inconclusive_answers_are_retried_but_a_refusal_is_not(podnet: Podnet) -> None:
    client = podnet.client_pod()
    closed = probes.Probe(client.ip or "", 9, probes.HTTP, probes.CLIENTIP, "closed")
    # netexec's UDP server reads a command it does not know and sends nothing back: a listener
    # that stays silent on every attempt, so each attempt is inconclusive (unlike a dead IP,
    # which the network may refuse with ICMP host unreachable).
    silent = probes.Probe(
        client.ip or "",
        workloads.UDP_PORT,
        probes.UDP,
        "no-such-command",  # type: ignore[arg-type]
        "silent udp listener",
    )

    (refused,) = podnet.probe(from_=client, to=closed)
    (unanswered,) = podnet.probe(from_=client, to=silent)

    assert (refused.outcome, refused.attempts) == (probes.REFUSED, 1), str(refused)
    assert (unanswered.outcome, unanswered.attempts) == (
        probes.TIMED_OUT,
        probes.ATTEMPTS,
    ), str(unanswered)


def test_probe_until_returns_the_converged_batch_or_times_out_naming_the_deadline(
    podnet: Podnet,
) -> None:
    echo = podnet.echo_deployment(replicas=1)
    svc = podnet.service_for(echo)
    client = podnet.client_pod()
    (pod,) = podnet.pods(echo)

    seconds, results = podnet.probe_until(
        client,
        svc,
        done=lambda rs: rs[0].outcome == probes.REACHABLE,
        what=f"{svc.ref} to answer",
        deadline=waits.DATAPLANE_PROPAGATION,
    )
    converged = podnet.probe(client, svc, request=probes.HOSTNAME, converge=waits.OLD_IP_RELEASE)
    with pytest.raises(waits.WaitTimeout, match=r"\[probe-attempt\] waiting for the impossible"):
        podnet.probe_until(
            client, svc, done=lambda rs: False, what="the impossible", deadline=waits.PROBE_ATTEMPT
        )

    assert 0 <= seconds < podnet.deadline(waits.DATAPLANE_PROPAGATION)
    assert results[0].seen_ip == client.ip
    assert converged[0].seen_hostname == pod.name


HOST_NETWORK_RUN = """
from pytest_podnet import probes
from pytest_podnet.fixtures import podnet, podnet_cluster, podnet_probe_pool  # noqa: F401


def test_host_network_pod_probes_pods_on_every_node(podnet):
    nodes = podnet.nodes()
    host = podnet.host_network_pod(nodes[0].name)
    echo = podnet.echo_deployment(replicas=len(nodes))
    # Ready is a moment before netexec listens: a first call may be refused (CI, 2026-12-06).
    results = podnet.expect_reachable(from_=host, to=podnet.pods(echo))
    assert host.host_network and host.ip == nodes[0].internal_ip, host
    assert [r.outcome for r in results] == [probes.REACHABLE] * len(nodes), [
        str(r) for r in results
    ]
"""


def test_host_network_pod_with_privileged_probes_every_node(
    tmp_path: Path, podnet_args: list[str]
) -> None:
    inner = Inner(tmp_path, podnet_args, "passes", "--podnet-privileged", source=HOST_NETWORK_RUN)

    output = inner.finish()

    assert inner.process.returncode == 0, output
    assert "1 passed" in output
