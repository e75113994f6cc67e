"""The embedded cluster's recorded topology: node count, kube-proxy mode, CNI (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_podnet.localcluster import cli, cluster, paths
from pytest_podnet.localcluster.topology import CNIS, PROXY_MODES, Topology


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
