"""G1: Pod IPs are ephemeral.

A Pod that replaces another MUST be a new Pod (a new UID) with a new IP, whatever replaced it: a
Pod delete, a rollout restart, an image change or an eviction. The old IP MUST stop serving the
old Pod once it is gone, and no two running Pods may share an IP. So nothing may hold on to a Pod
IP: only a Service gives a stable address (G3).

Upstream e2e has no test that compares Pod IPs across a replacement.

``--podnet-ip-reuse=allow`` turns a replacement that reuses an old IP into a recorded observation
(``ip_reused``) instead of a failure, for IPAMs that hand a freed address straight back.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from pytest_podnet import waits
from pytest_podnet.kube import PodInfo
from pytest_podnet.probes import HOSTNAME, not_answered_by

pytestmark = [pytest.mark.podnet_guarantee("G1")]


def described(pods: list[PodInfo]) -> list[str]:
    return [f"{p.ref} uid={p.uid} ip={','.join(p.ips)} node={p.node}" for p in pods]


def expect_new_ips(podnet, old: list[PodInfo], new: list[PodInfo], how: str) -> None:
    """No new Pod may carry an IP an old one had (strict), or it is recorded (ip-reuse=allow)."""
    old_by_ip = {ip: pod for pod in old for ip in pod.ips}
    reused = [
        f"{pod.ref} (on {pod.node}) got {ip}, the IP of {old_by_ip[ip].ref} "
        f"(on {old_by_ip[ip].node}) before {how}"
        for pod in new
        for ip in pod.ips
        if ip in old_by_ip
    ]
    podnet.record("ip_reused", reused)
    if podnet.ip_reuse == "allow":
        return
    assert not reused, (
        f"{len(reused)} replacement Pod(s) reuse an old Pod IP after {how}: expected a new "
        "IP (pass --podnet-ip-reuse=allow to record reuse instead of failing):\n  "
        + "\n  ".join(reused)
    )


def expect_new_uids(old: list[PodInfo], new: list[PodInfo], how: str) -> None:
    kept = {p.uid for p in old} & {p.uid for p in new}
    assert not kept, f"{how} kept Pod UIDs {sorted(kept)}: after {described(new)}"


@pytest.mark.podnet_quick
def test_deleted_replica_comes_back_with_a_new_uid_and_a_new_ip(podnet, placement):
    """A deleted replica MUST come back as a new Pod (new UID) with a new IP, while the other
    replica keeps its own: the seed scenario (2 replicas, record, delete one, compare).
    """
    echo = podnet.echo_deployment(replicas=2, placement=placement)
    victim, survivor = podnet.pods(echo)
    podnet.record("pods_before", described([victim, survivor]))

    with podnet.step(f"delete {victim.ref} ({victim.ip} on {victim.node})"):
        replacement = podnet.delete_pod(victim)

    after = podnet.pods(echo)
    podnet.record("pods_after", described(after))
    assert {(p.uid, p.ip) for p in after} == {
        (survivor.uid, survivor.ip),
        (replacement.uid, replacement.ip),
    }, f"expected the survivor {described([survivor])} and one new Pod, got {described(after)}"
    expect_new_uids([victim], [replacement], "a Pod delete")
    expect_new_ips(podnet, [victim, survivor], [replacement], "a Pod delete")


@pytest.mark.parametrize("how", ["delete", "eviction", "rollout-restart", "set-image"])
def test_replaced_pods_get_new_uids_and_new_ips(podnet, placement, how):
    """Every Pod that a Pod delete, a rollout restart, an image change (``kubectl set image``)
    or an eviction (Eviction API) replaces MUST come back as a new Pod (new UID) with an IP no
    replaced Pod had.
    """
    echo = podnet.echo_deployment(replicas=2, placement=placement)

    with podnet.step(f"replace echo Pods by {how}"):
        replaced = podnet.replace(echo, how)

    old, new = replaced.old, replaced.new
    podnet.record("pods_before", described(old))
    podnet.record("pods_after", described(new))
    assert len(new) == len(old), f"{how} replaced {described(old)} by {described(new)}"
    expect_new_uids(old, new, how)
    expect_new_ips(podnet, old, new, how)


@pytest.mark.podnet_slow("calls the old IP until its neighbour entry fails (~3 s)")
def test_old_ip_stops_serving_the_old_workload(podnet):
    """Once a Pod is gone its IP MUST stop serving its workload within OLD_IP_RELEASE: a call to
    the old IP is refused, times out, or is answered by a Pod of another workload; never by the
    deleted Pod, nor (unless --podnet-ip-reuse=allow) by its replacement.
    """
    # One replica per node (required anti-affinity): the replacement can start only on the old
    # Pod's node and only once the old Pod is gone, where the freed IP lives. An IPAM that hands
    # it straight back is then caught every run, not only when the scheduler happens to.
    echo = podnet.echo_deployment(replicas=len(podnet.nodes()))
    old = podnet.pods(echo)[0]
    # From the old Pod's node: the call to the old IP stays on that node's bridge, where a
    # replacement that got the IP answers it.
    client = podnet.probe_pods()[old.node]
    expect_answering_as_itself(podnet, client, old)

    with podnet.step(f"delete {old.ref} ({old.ip} on {old.node})"):
        replacement = podnet.delete_pod(old)

    current = {p.name for p in podnet.pods(echo)}
    workload = {old.name} if podnet.ip_reuse == "allow" else {old.name} | current
    released = podnet.converge(
        {old.node: client},
        old.ip,
        not_answered_by(workload),
        count=1,
        deadline=waits.OLD_IP_RELEASE,
        context=f"the old IP of deleted {old.ref} on {old.node}; replacement {replacement.ref} "
        f"on {replacement.node} has {replacement.ip}",
    )
    podnet.record("old_ip_answer", str(released.results[old.node][0]))
    podnet.record("old_ip_release_after_replacement_s", round(released.slowest, 3))
    expect_old_ip_left_the_workload(podnet, echo, old)


def expect_answering_as_itself(podnet, client, pod: PodInfo) -> None:
    """Precondition: ``pod`` answers on its IP as itself (else that IP going quiet proves
    nothing). A Pod is Ready a moment before netexec listens, so an unanswered call is made again
    within POD_REACHABLE; an answer as another Pod is not."""
    before = podnet.probe(from_=client, to=pod, request=HOSTNAME, converge=waits.POD_REACHABLE)
    assert [r.seen_hostname for r in before] == [pod.name], (
        f"precondition: {pod.ref} ({pod.ip} on {pod.node}) did not answer as itself: {before[0]}"
    )


def expect_old_ip_left_the_workload(podnet, echo, old: PodInfo) -> None:
    """No current Pod of ``echo`` holds the IP of deleted ``old`` (unless ip-reuse=allow)."""
    # A probe can miss a replacement that holds the old IP while the node's neighbour (ARP)
    # entry still names the old Pod; the old IP serves the workload again once it expires.
    holders = sorted(p.ref for p in podnet.pods(echo) if old.ip in p.ips)
    assert podnet.ip_reuse == "allow" or not holders, (
        f"the old IP {old.ip} of deleted {old.ref} (on {old.node}) belongs to {holders} of "
        f"the same workload: it keeps serving the old workload"
    )


def test_running_pod_ips_are_unique_cluster_wide(podnet):
    """No two running Pods of the cluster, in any namespace, MAY share a Pod IP. Pods of this
    check run on every node, so an IPAM handing out one range on two nodes shows here.
    """
    nodes = [n.name for n in podnet.nodes()]
    echo = podnet.echo_deployment(replicas=len(nodes))
    clients = list(podnet.probe_pods().values())  # starting beside the echo Pods, if new
    ours = podnet.pods(echo) + clients

    with podnet.step("list every running Pod of the cluster"):
        node_ips = {n.internal_ip for n in podnet.nodes()}
        running = [p for p in podnet.all_pods() if own_network(p, node_ips)]

    by_ip = defaultdict(list)
    for pod in running:
        for ip in pod.ips:
            by_ip[ip].append(f"{pod.ref} (on {pod.node})")
    podnet.record("running_pod_ips", len(by_ip))
    missing = [p.ref for p in ours if p.ip not in by_ip]
    assert not missing, f"the cluster-wide list of running Pods lacks this check's {missing}"
    shared = {ip: refs for ip, refs in sorted(by_ip.items()) if len(refs) > 1}
    assert not shared, f"{len(shared)} Pod IP(s) shared by running Pods: " + "; ".join(
        f"{ip} by {', '.join(refs)}" for ip, refs in shared.items()
    )


def own_network(pod: PodInfo, node_ips: set[str | None]) -> bool:
    """A running Pod with its own network namespace: not hostNetwork, not on its way out.

    hostNetwork Pods share their node's IP by design. ``PodInfo`` does not say hostNetwork yet
    (docs/facade-requests.md), so a Pod whose IP is a node's InternalIP counts as one. A
    terminating Pod may already have handed its IP back while its object lingers.
    """
    return (
        pod.phase == "Running" and not pod.terminating and bool(pod.ip) and pod.ip not in node_ips
    )
