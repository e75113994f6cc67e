"""The embedded cluster's recorded topology: node count and kube-proxy mode (pure logic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_podnet.localcluster import cli, cluster, paths
from pytest_podnet.localcluster.topology import PROXY_MODES, Topology


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
