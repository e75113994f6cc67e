"""The podnet façade on the embedded cluster: placement, Services, readiness, replacement."""

from __future__ import annotations

import pytest

from pytest_podnet import kube, probes, waits
from pytest_podnet.fixtures import Podnet
from pytest_podnet.workloads import OnNode


def test_echo_spread_places_one_ready_pod_per_node(podnet: Podnet) -> None:
    nodes = podnet.nodes()
    echo = podnet.echo_deployment(replicas=len(nodes))
    pods = podnet.pods(echo)

    assert sorted(p.node for p in pods) == sorted(n.name for n in nodes)
    assert all(p.ready and p.ip for p in pods), pods
    assert all(p.labels[kube.RUN_LABEL] == podnet.run_id for p in pods)
    assert all(p.labels[kube.MANAGED_BY_LABEL] == kube.MANAGED_BY for p in pods)


def test_echo_same_node_and_pinned_placement_put_every_replica_on_one_node(
    podnet: Podnet,
) -> None:
    last = podnet.nodes()[-1].name
    together = podnet.echo_deployment(replicas=2, placement="same-node", name="together")
    pinned = podnet.echo_deployment(replicas=2, placement=OnNode(last), name="pinned")

    assert len({p.node for p in podnet.pods(together)}) == 1
    assert {p.node for p in podnet.pods(pinned)} == {last}


def test_echo_spread_refuses_more_replicas_than_nodes(podnet: Podnet) -> None:
    too_many = len(podnet.nodes()) + 1

    with pytest.raises(ValueError, match="schedulable nodes"):
        podnet.echo_deployment(replicas=too_many)


def test_service_lists_exactly_the_ready_pods_and_keeps_the_client_ip(podnet: Podnet) -> None:
    echo = podnet.echo_deployment(replicas=2)
    svc = podnet.service_for(echo)
    client = podnet.client_pod()

    assert podnet.endpoints(svc).ready_ips == {p.ip for p in podnet.pods(echo)}
    for protocol in (probes.HTTP, probes.UDP):
        results = podnet.expect_reachable(from_=client, to=svc, protocol=protocol)
        assert [r.seen_ip for r in results] == [client.ip], results
    assert svc.cluster_ip
    assert svc.cluster_ip.startswith("10.96.")


def test_set_ready_removes_and_readds_the_pod_in_the_endpoint_slices(podnet: Podnet) -> None:
    echo = podnet.echo_deployment(replicas=2, settable_readiness=True)
    svc = podnet.service_for(echo)
    first, second = podnet.pods(echo)

    to_unready = podnet.set_ready(first, False)
    removal = podnet.wait_endpoints(svc, [second])
    unready = podnet.read(first)
    removed = podnet.endpoints(svc)
    to_ready = podnet.set_ready(first, True)
    readded = podnet.wait_endpoints(svc, [first, second])

    assert unready.ready is False
    # The Pod stays in the slices, listed as not ready: removed from traffic, not forgotten.
    assert (removed.ready_ips, removed.not_ready_ips) == ({second.ip}, {first.ip}), removed
    assert podnet.read(first).ready is True
    assert podnet.endpoints(svc).ready_ips == {first.ip, second.ip}
    podnet.record("readiness_off_seconds", to_unready)
    podnet.record("readiness_on_seconds", to_ready)
    podnet.record("removed_seconds", removal)
    podnet.record("readded_seconds", readded)
    assert 0 < to_unready < podnet.deadline(waits.READINESS_CHANGE)


def stopped_or_gone(podnet: Podnet, pod: kube.PodInfo) -> bool:
    """The Pod is gone, or deleted and stopped (``PodInfo.stopped``: its IP released)."""
    try:
        return podnet.read(pod).stopped
    except kube.NotFound:
        return True


def test_delete_pod_and_evict_return_a_new_ready_pod_after_the_old_one_stopped(
    podnet: Podnet,
) -> None:
    echo = podnet.echo_deployment(replicas=2)
    victim = podnet.pods(echo)[0]

    deleted_for = podnet.delete_pod(victim)
    evicted_for = podnet.evict(deleted_for)

    for old, new in ((victim, deleted_for), (deleted_for, evicted_for)):
        assert new.uid != old.uid
        assert new.ready
        assert new.ip
        assert stopped_or_gone(podnet, old)
    assert len(podnet.pods(echo)) == 2


def test_rollout_restart_set_image_and_scale_replace_every_spread_pod(podnet: Podnet) -> None:
    nodes = podnet.nodes()
    echo = podnet.echo_deployment(replicas=len(nodes))

    restarted = podnet.rollout_restart(echo)
    reimaged = podnet.set_image(echo)
    scaled_down = podnet.scale(echo, 0)
    scaled_up = podnet.scale(echo, len(nodes))

    for step in (restarted, reimaged):
        assert {p.uid for p in step.old}.isdisjoint(p.uid for p in step.new)
        assert sorted(p.node for p in step.new) == sorted(n.name for n in nodes)
    assert scaled_down == []
    assert len(scaled_up) == len(nodes)
    assert all(p.ready for p in scaled_up)
    assert podnet.deployment(echo).image == podnet.image


def test_replace_all_pods_waits_for_every_old_pod_to_stop(podnet: Podnet) -> None:
    echo = podnet.echo_deployment(replicas=2)

    replacement = podnet.replace_all_pods(echo)

    assert len(replacement.new) == 2
    assert {p.uid for p in replacement.old}.isdisjoint(p.uid for p in replacement.new)
    assert all(stopped_or_gone(podnet, old) for old in replacement.old)


def test_client_pods_start_one_per_node_and_dual_stack_service_has_one_ip_per_family(
    podnet: Podnet,
) -> None:
    nodes = [n.name for n in podnet.nodes()]

    clients = podnet.client_pods(nodes, prefix="sender")
    echo = podnet.echo_deployment(replicas=1, placement=OnNode(nodes[0]))
    svc = podnet.service_for(echo, dual_stack=True)

    assert {node: pod.node for node, pod in clients.items()} == {n: n for n in nodes}
    assert all(pod.ready for pod in clients.values())
    assert len(svc.cluster_ips) == len(podnet.ip_families())


def test_host_network_pod_without_privileged_names_the_option(podnet: Podnet) -> None:
    with pytest.raises(pytest.UsageError, match="--podnet-privileged"):
        podnet.host_network_pod(podnet.nodes()[0].name)
