"""The embedded cluster on dataplanes other than the default: the suites pass, SNAT is caught,
and `down` leaves the host as it found it (issue 10).

The variants here: Flannel (VXLAN) with kube-proxy's nftables backend, and a dual-stack cluster
(bridge, iptables, IPv4 and IPv6). The default (bridge CNI with plain routes, kube-proxy
iptables, IPv4) is the fault-sensitivity module's. Lifecycle tests: the module takes the
default cluster down, each test runs its own variant, and the default comes back after the last.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import verdicts

from pytest_podnet.localcluster import cluster, faults, flannel, footprint, procs
from pytest_podnet.localcluster.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
#: Seconds one suites run may take (about 60 s with -n 2 here).
SUITES_RUN = 1200
#: The checks the SNAT fault must fail (the receiver sees the node's address, not the sender's),
#: directly and through a ClusterIP that kube-proxy's nftables rules translate.
SNAT_CATCHES = {
    f"test_pod_to_{path}_traffic_keeps_the_{who}_pod_ip[{pair}]"
    for path, who in (("pod", "sender"), ("cluster_ip", "client"))
    for pair in ("same-node", "cross-node")
}
#: The opt-in check that skips without --podnet-privileged.
PRIVILEGED = "test_host_network_pod_reaches_every_pod"


def run_suites(kubeconfig: Path, report: Path, *select: str) -> dict[str, Any]:
    """The packaged suites with -n 2 as a user runs them; their JSON verdict."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--podnet",
        f"--podnet-kubeconfig={kubeconfig}",
        f"--podnet-report={report}",
        "-p",
        "no:cacheprovider",
        "-q",
        "-n",
        "2",
        str(ROOT / "suites"),
        *(["-k", " or ".join(select)] if select else []),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=SUITES_RUN)
    assert report.exists(), f"no verdict written:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return verdicts.load(report)


@pytest.fixture(scope="module")
def default_set_aside(local_cluster: Path) -> Iterator[None]:
    """The default cluster taken down once for this module's variants, and brought back after
    the last (one down and one up fewer than a round trip per variant)."""
    was_running = cluster.is_running()
    cluster.down()
    yield
    cluster.down()
    if was_running:
        cluster.up(2)


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"].split("::")[-1]: c["outcome"] for c in document["checks"]}


def vxlan_packets(topology: Topology) -> dict[str, int]:
    """Packets each node has sent through its flannel VXLAN device."""
    sent = {}
    for n in topology.nodes:
        link = procs.run(["ip", "-s", "-j", "link", "show", flannel.VXLAN_DEVICE], netns=n.netns)
        sent[n.name] = json.loads(link)[0]["stats64"]["tx"]["packets"]
    return sent


def assert_routes_cross_the_vxlan_device(topology: Topology) -> None:
    """Each node reaches every other node's Pod CIDR through flannel.1, never a plain route."""
    cidrs = {
        n.name: cluster.kubectl("get", f"node/{n.name}", "-o", "jsonpath={.spec.podCIDR}").strip()
        for n in topology.nodes
    }
    for n in topology.nodes:
        for other in topology.nodes:
            if other.name == n.name:
                continue
            route = procs.run(["ip", "route", "show", cidrs[other.name]], netns=n.netns)
            assert f"dev {flannel.VXLAN_DEVICE}" in route, (n.name, other.name, route)
            assert other.ip not in route, (n.name, other.name, route)


@pytest.mark.cluster_lifecycle
def test_down_leaves_no_residue(default_set_aside: None) -> None:
    """The default dataplane (bridge, iptables, IPv4): `up` changes the host, `down` undoes all."""
    before = footprint.snapshot()
    cluster.up(2)
    during = footprint.snapshot()
    assert before.differences(during), "up changed nothing on the host?"
    cluster.down()
    after = footprint.snapshot()
    assert before.differences(after) == {}


@pytest.mark.cluster_lifecycle
def test_flannel_with_nftables_passes_the_suites_over_vxlan_catches_snat_and_leaves_no_residue(
    default_set_aside: None, tmp_path: Path
) -> None:
    before = footprint.snapshot()
    try:
        kubeconfig = cluster.up(2, proxy_mode="nftables", cni="flannel")
        topology = cluster.current_topology()
        assert topology == Topology(2, "nftables", "flannel")
        for n in topology.nodes:
            tables = procs.run(["nft", "list", "tables"], netns=n.netns)
            # kube-proxy programs its own nftables table, and no iptables Service chains;
            # flanneld (EnableNFTables beside an nftables kube-proxy) its own.
            assert "table ip kube-proxy" in tables
            assert "table ip flannel-ipv4" in tables
            assert "KUBE-SERVICES" not in procs.run(["iptables-save", "-t", "nat"], netns=n.netns)
        assert cluster.status().dataplane == topology.dataplane
        assert "flannel (VXLAN)" in topology.dataplane
        assert_routes_cross_the_vxlan_device(topology)

        sent_before = vxlan_packets(topology)
        healthy = run_suites(kubeconfig, tmp_path / "healthy.json")
        sent = {name: vxlan_packets(topology)[name] - count for name, count in sent_before.items()}
        # Every node's cross-node checks went through its VXLAN device.
        assert all(count > 0 for count in sent.values()), sent
        assert healthy["run"]["dataplane"] == topology.dataplane
        seen = outcomes(healthy)
        not_passed = {c: o for c, o in seen.items() if o != "PASS"}
        # Only the opt-in privileged check may skip (not requested without --podnet-privileged).
        assert not_passed == {PRIVILEGED: "SKIPPED"}, not_passed
        assert len(seen) - len(not_passed) >= 18, seen

        faults.main("add", "snat-pod-traffic", None)
        try:
            faulted = run_suites(
                kubeconfig, tmp_path / "snat.json", "keeps_the_sender", "keeps_the_client"
            )
        finally:
            faults.main("remove", "snat-pod-traffic", None)
        caught = {c for c, o in outcomes(faulted).items() if o == "FAIL"}
        assert caught >= SNAT_CATCHES, outcomes(faulted)
    finally:
        cluster.down()
    after = footprint.snapshot()
    assert before.differences(after) == {}


def matrix_families(check: dict[str, Any]) -> dict[str, bool]:
    """Per IP family of a check's matrices: True when one of them has a finding."""
    found: dict[str, bool] = {}
    for m in check["matrices"]:
        family = m["what"].rsplit(", ", 1)[-1]
        found[family] = found.get(family, False) or bool(m["findings"])
    return found


def snat_checks(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in document["checks"] if c["nodeid"].split("::")[-1] in SNAT_CATCHES]


@pytest.mark.cluster_lifecycle
def test_dual_stack_passes_the_suites_in_both_families_and_catches_snat_per_family(
    default_set_aside: None, tmp_path: Path
) -> None:
    before = footprint.snapshot()
    try:
        kubeconfig = cluster.up(2, ip_family="dual")
        topology = cluster.current_topology()
        assert topology == Topology(2, ip_family="dual")
        assert "dual-stack IPv4/IPv6" in cluster.status().dataplane
        unreachable = procs.run(["ip", "-6", "route", "show", "type", "unreachable"])
        assert "fd00:10:244::/56" in unreachable
        assert "fd00:10:96::/112" in unreachable
        for n in topology.nodes:
            cidrs = cluster.kubectl("get", f"node/{n.name}", "-o", "jsonpath={.spec.podCIDRs}")
            assert "10.244." in cidrs, cidrs
            assert "fd00:10:244:" in cidrs, cidrs

        healthy = run_suites(kubeconfig, tmp_path / "healthy.json")
        assert healthy["run"]["dataplane"] == topology.dataplane
        seen = outcomes(healthy)
        not_passed = {c: o for c, o in seen.items() if o != "PASS"}
        assert not_passed == {PRIVILEGED: "SKIPPED"}, not_passed
        assert len(seen) - len(not_passed) >= 18, seen
        for check in healthy["checks"]:
            if check["guarantee"] == "G2" and check["outcome"] == "PASS":
                # Every G2 matrix in both families, and nothing found in either.
                assert matrix_families(check) == {"IPv4": False, "IPv6": False}, check["nodeid"]
        cluster_ip_checks = [c for c in healthy["checks"] if "cluster_ips" in c["values"]]
        assert cluster_ip_checks, "no G3 check recorded its ClusterIPs"
        for check in cluster_ip_checks:
            ips = check["values"]["cluster_ips"]
            assert [":" in ip for ip in ips] == [False, True], (check["nodeid"], ips)
        # The flow checks ran a flow per ClusterIP from every node: IPv4 keyed by the node,
        # IPv6 by "<node> IPv6".
        (flows,) = [c for c in healthy["checks"] if "udp_flow_outage_s" in c["values"]]
        for kind in ("udp", "tcp"):
            keys = set(flows["values"][f"{kind}_flow_outage_s"])
            nodes = {n.name for n in topology.nodes}
            assert keys == nodes | {f"{node} IPv6" for node in nodes}, (kind, keys)

        for fault, broken, intact in (
            ("snat-pod-traffic", "IPv4", "IPv6"),
            ("snat-pod-traffic-ipv6", "IPv6", "IPv4"),
        ):
            faults.main("add", fault, None)
            try:
                faulted = run_suites(
                    kubeconfig, tmp_path / f"{fault}.json", "keeps_the_sender", "keeps_the_client"
                )
            finally:
                faults.main("remove", fault, None)
            caught = {c for c, o in outcomes(faulted).items() if o == "FAIL"}
            assert caught >= SNAT_CATCHES, (fault, outcomes(faulted))
            for check in snat_checks(faulted):
                # The family the fault masquerades has findings, the other none.
                found = matrix_families(check)
                assert found == {broken: True, intact: False}, (fault, check["nodeid"], found)
    finally:
        cluster.down()
    after = footprint.snapshot()
    assert before.differences(after) == {}
