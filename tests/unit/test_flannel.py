"""How the embedded cluster configures its CNI (bridge, one or two IP families; Flannel) and
builds Flannel (pure logic: files, no cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pytest_podnet.localcluster import flannel, node, paths
from pytest_podnet.localcluster.network import node_root
from pytest_podnet.localcluster.topology import Node

MAIN_GO = """package main

import (
\t"github.com/flannel-io/flannel/pkg/backend"
\t_ "github.com/flannel-io/flannel/pkg/backend/ipip"
\t_ "github.com/flannel-io/flannel/pkg/backend/tencentvpc"
\t_ "github.com/flannel-io/flannel/pkg/backend/udp"
\t_ "github.com/flannel-io/flannel/pkg/backend/vxlan"
)
"""


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(paths, "state_dir", lambda: tmp_path)
    return tmp_path


def test_the_build_leaves_out_exactly_the_backends_that_cannot_build_here(tmp_path: Path) -> None:
    (tmp_path / "main.go").write_text(MAIN_GO)
    main = flannel.upstream_main(tmp_path)
    assert "tencentvpc" not in main
    assert "backend/udp" not in main
    assert main.splitlines() == [
        line for line in MAIN_GO.splitlines() if "tencentvpc" not in line and "/udp" not in line
    ]
    assert '_ "github.com/flannel-io/flannel/pkg/backend/vxlan"' in main


def test_a_release_whose_main_go_changed_is_one_clear_build_error(tmp_path: Path) -> None:
    (tmp_path / "main.go").write_text(MAIN_GO.replace("tencentvpc", "alloc"))
    with pytest.raises(flannel.FlannelBuildError, match="LEFT_OUT_BACKENDS"):
        flannel.upstream_main(tmp_path)


def test_flannel_hands_off_to_bridge_and_host_local_with_per_node_state(state: Path) -> None:
    first, second = Node(1), Node(2)
    configs = [
        json.loads(node.write_cni_config(n, ["10.244.0.0/24"], "flannel").read_text())
        for n in (first, second)
    ]
    plugins = [c["plugins"][0] for c in configs]
    assert [p["type"] for p in plugins] == ["flannel", "flannel"]
    assert plugins[0]["delegate"] == {"hairpinMode": True, "isDefaultGateway": True}
    # Per node: its own subnet file and CNI data; host-local keeps state where the bridge
    # variant does, so the IPAM faults find it.
    assert plugins[0]["subnetFile"] != plugins[1]["subnetFile"]
    assert plugins[0]["subnetFile"] == str(flannel.subnet_file(first))
    assert plugins[0]["ipam"]["dataDir"] == str(node_root(first) / "ipam")
    bridge = json.loads(node.write_cni_config(first, ["10.244.0.0/24"]).read_text())["plugins"][0]
    assert bridge["type"] == "bridge"
    assert bridge["ipam"]["dataDir"] == plugins[0]["ipam"]["dataDir"]


def test_the_net_conf_is_vxlan_over_the_pod_range_and_nftables_beside_nftables(
    state: Path,
) -> None:
    for mode, nftables in (("iptables", False), ("nftables", True)):
        conf = json.loads(flannel.write_net_conf(Node(1), mode).read_text())
        assert conf == {
            "Network": "10.244.0.0/16",
            "EnableNFTables": nftables,
            "Backend": {"Type": "vxlan"},
        }


def test_flanneld_is_a_node_daemon_only_on_flannel() -> None:
    assert "podnet-node-1-flanneld" not in node.daemon_names(Node(1))
    assert node.daemon_names(Node(1), "flannel")[-1] == "podnet-node-1-flanneld"


def test_a_dual_stack_node_gets_one_range_set_and_default_route_per_family(state: Path) -> None:
    cidrs = ["10.244.0.0/24", "fd00:10:244::/64"]
    bridge = json.loads(node.write_cni_config(Node(1), cidrs).read_text())["plugins"][0]
    assert bridge["ipam"]["ranges"] == [[{"subnet": "10.244.0.0/24"}], [{"subnet": cidrs[1]}]]
    assert bridge["ipam"]["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
