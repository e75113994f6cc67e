"""The embedded cluster's recorded topology: node count, kube-proxy mode, CNI (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_podnet.localcluster import build, cli, cluster, paths
from pytest_podnet.localcluster.topology import (
    CNIS,
    GUARDED_RANGES,
    IP_FAMILIES,
    PROXY_MODES,
    Topology,
)
from pytest_podnet.localcluster.versions import KUBERNETES_VERSION, RELEASES


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "state_dir", lambda: tmp_path)
    return tmp_path


def test_a_topology_file_without_a_proxy_mode_means_iptables(state: Path) -> None:
    (state / "topology.json").write_text(json.dumps({"nodes": 3}))
    assert cluster.current_topology() == Topology(3, "iptables")


def test_the_recorded_proxy_mode_is_read_back(state: Path) -> None:
    (state / "topology.json").write_text(json.dumps({"nodes": 2, "proxy_mode": "nftables"}))
    topology = cluster.current_topology()
    assert topology == Topology(2, "nftables")
    assert topology is not None
    assert "kube-proxy nftables" in topology.dataplane


def test_up_takes_a_proxy_mode_and_defaults_to_iptables() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["up"]).proxy_mode == PROXY_MODES[0] == "iptables"
    assert parser.parse_args(["up", "--proxy-mode", "nftables"]).proxy_mode == "nftables"


def test_an_unknown_proxy_mode_is_one_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.build_parser().parse_args(["up", "--proxy-mode", "ipvs"])
    assert stopped.value.code == 2
    assert "invalid choice: 'ipvs'" in capsys.readouterr().err


def test_only_the_embedded_api_server_is_served_by_the_recorded_topology(state: Path) -> None:
    (state / "topology.json").write_text(json.dumps({"nodes": 2}))
    recorded = cluster.current_topology()
    assert recorded is not None
    assert cluster.topology_serving(recorded.server + "/") == recorded
    assert cluster.topology_serving("https://10.96.0.1:443") is None
    assert cluster.topology_serving(None) is None


def test_a_topology_file_without_a_cni_means_the_bridge(state: Path) -> None:
    (state / "topology.json").write_text(json.dumps({"nodes": 2, "proxy_mode": "nftables"}))
    assert cluster.current_topology() == Topology(2, "nftables", "bridge")


def test_the_recorded_cni_is_read_back_and_named_in_the_dataplane(state: Path) -> None:
    recorded = {"nodes": 2, "proxy_mode": "nftables", "cni": "flannel"}
    (state / "topology.json").write_text(json.dumps(recorded))
    topology = cluster.current_topology()
    assert topology == Topology(2, "nftables", "flannel")
    assert topology is not None
    assert topology.dataplane == (
        "CNI flannel (VXLAN) -> bridge + host-local, kube-proxy nftables, IPv4"
    )


def test_up_takes_a_cni_and_defaults_to_the_bridge(capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["up"]).cni == CNIS[0] == "bridge"
    assert parser.parse_args(["up", "--cni", "flannel"]).cni == "flannel"
    with pytest.raises(SystemExit) as stopped:
        parser.parse_args(["up", "--cni", "calico"])
    assert stopped.value.code == 2
    assert "invalid choice: 'calico'" in capsys.readouterr().err


def test_a_dual_stack_topology_has_both_families_ipv4_first(state: Path) -> None:
    recorded = {"nodes": 2, "proxy_mode": "iptables", "cni": "bridge", "ip_family": "dual"}
    (state / "topology.json").write_text(json.dumps(recorded))
    topology = cluster.current_topology()
    assert topology == Topology(2, "iptables", "bridge", "dual")
    assert topology is not None
    assert topology.dataplane.endswith("kube-proxy iptables, dual-stack IPv4/IPv6")
    assert topology.pod_cidrs == ("10.244.0.0/16", "fd00:10:244::/56")
    assert topology.service_cidrs == ("10.96.0.0/16", "fd00:10:96::/112")
    first = topology.nodes[0]
    assert topology.node_ips(first) == ("172.30.0.11", "fd00:172:30::b")
    assert Topology(2).node_ips(first) == ("172.30.0.11",)
    assert Topology(2).pod_cidrs == ("10.244.0.0/16",)


def test_every_pod_and_service_range_of_both_families_is_guarded() -> None:
    # The host gets `unreachable` routes for these before anything starts, IPv6 too.
    assert set(GUARDED_RANGES) == {*Topology(2, ip_family="dual").pod_cidrs} | {
        *Topology(2, ip_family="dual").service_cidrs
    }


def test_up_takes_an_ip_family_and_refuses_flannel_dual_stack() -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["up"]).ip_family == IP_FAMILIES[0] == "ipv4"
    assert parser.parse_args(["up", "--ip-family", "dual"]).ip_family == "dual"
    with pytest.raises(cluster.ClusterError, match="--cni bridge with --ip-family dual"):
        cluster.preflight("iptables", "flannel", "dual")


def test_a_topology_part_way_through_an_upgrade_names_each_nodes_release() -> None:
    fresh = Topology(2)
    assert fresh.version == KUBERNETES_VERSION
    assert [fresh.node_version(n) for n in fresh.nodes] == [KUBERNETES_VERSION] * 2
    assert fresh.versions == f"Kubernetes {KUBERNETES_VERSION}"

    midway = Topology(2, version="v1.37.2", node_versions=("v1.37.2", "v1.36.3"))
    assert [midway.node_version(n) for n in midway.nodes] == ["v1.37.2", "v1.36.3"]
    assert midway.versions == (
        "Kubernetes v1.37.2 (control plane); nodes podnet-node-1 v1.37.2, podnet-node-2 v1.36.3"
    )


def test_every_release_is_pinned_by_its_own_go_module() -> None:
    for version, release in RELEASES.items():
        go_mod = (build.gomod_dir(version) / "go.mod").read_text()
        assert f"require k8s.io/kubernetes {version}\n" in go_mod
        assert (build.gomod_dir(version) / "go.sum").exists()
        assert release.version == version


def test_the_recorded_releases_are_read_back(state: Path) -> None:
    midway = Topology(2, version="v1.37.2", node_versions=("v1.37.2", "v1.36.3"))
    cluster.write_topology(midway)
    assert cluster.current_topology() == midway
    (state / "topology.json").write_text(json.dumps({"nodes": 2}))  # written before releases
    assert cluster.current_topology() == Topology(2, version=KUBERNETES_VERSION)
