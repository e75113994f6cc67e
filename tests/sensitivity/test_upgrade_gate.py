"""The upgrade gate on the embedded cluster, around ``podnet cluster upgrade --to v1.37.2`` from a
fresh v1.36.3 cluster: it passes the real rolling upgrade, and fails the same upgrade made to
break the network on one node, naming the path, node and window.

Each test runs ``pytest --podnet --podnet-upgrade-command ...`` as a pipeline would (a subprocess;
before and after the command, the quick profile's G3 check alone, to keep the module short: the
gate passes the user's selection to those phases as it is). The broken upgrade runs a node hook
in the last node's turn (its kubelet and kube-proxy stopped, as in a real turn), which in turn:

1. resets the established TCP connections of that node's prober (``ss -K`` in its network
   namespace, as a dataplane that drops its connection state on restart does): the kept
   connection through the ClusterIP is *cut*, while new connections keep working;
2. stops its dataplane (``dataplane-stopped``: rules flushed) for ``STOPPED_HOLD`` seconds: the
   new-connection and UDP paths through the ClusterIP are out for longer than the budget;
3. SNATs its Pod traffic (``snat-pod-traffic``) for ``SNAT_HOLD`` seconds: NAT mid-upgrade.

The gate must FAIL with each of these on that node's paths, the cut reported apart from the
outages, with no problem on the first node's paths, and the checks after the upgrade must pass
on v1.37.2. The module leaves the default cluster running again.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_podnet import report
from pytest_podnet.localcluster import cluster, faults, node
from pytest_podnet.localcluster.versions import KUBERNETES_VERSION, RELEASES

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="faults need root on the local cluster")

BUDGET = 5.0
STOPPED_HOLD = 10
SNAT_HOLD = 3
#: Faults the breaking command applies, removed after the test whatever happened.
FAULTS = ("dataplane-stopped", "snat-pod-traffic")
PODNET = Path(sys.executable).with_name("podnet")
FROM, TO = list(RELEASES)[-2:]


def on_default_release() -> bool:
    topology = cluster.current_topology()
    return (
        topology is not None
        and topology.version == KUBERNETES_VERSION
        and topology.node_versions == ()
        and cluster.is_running()
    )


@pytest.fixture(scope="module", autouse=True)
def default_cluster_after() -> Iterator[None]:
    """Whatever the tests did, the next module finds the default cluster running."""
    yield
    if not on_default_release():
        cluster.down()
        cluster.up(2)


@pytest.fixture
def kubeconfig() -> Path:
    """A cluster on ``FROM`` with nothing upgraded yet (a fresh one if the last test upgraded)."""
    assert FROM == KUBERNETES_VERSION, "the module starts from the default release"
    if not on_default_release():
        cluster.down()
    path, _ = cluster.ensure_up(2)
    return path


def upgrade_command(node_hook: str | None = None) -> str:
    command = f"{shlex.quote(str(PODNET))} cluster upgrade --to {TO}"
    return command + (f" --node-hook {shlex.quote(node_hook)}" if node_hook else "")


@pytest.fixture
def no_fault_left() -> Iterator[None]:
    yield
    for name in FAULTS:
        faults.remove(name)


def run_gate(kubeconfig: Path, workdir: Path, command: str) -> tuple[str, dict[str, Any]]:
    """Run the gate around ``command`` as a pipeline would; its output and its JSON summary."""
    gate_json = workdir / "gate.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--podnet",
            f"--podnet-kubeconfig={kubeconfig}",
            "--podnet-quick",
            "-m",
            "podnet_g3",
            "--podnet-require=G3",
            "-p",
            "no:cacheprovider",
            f"--podnet-upgrade-command={command}",
            f"--podnet-outage-budget={BUDGET:g}",
            f"--podnet-report={gate_json}",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    output = completed.stdout + completed.stderr
    assert gate_json.exists(), f"the gate wrote no summary:\n{output}"
    document = json.loads(gate_json.read_text())
    assert document["upgrade_gate"]["exit_status"] == completed.returncode, output
    return output, document["upgrade_gate"]


def test_the_gate_passes_the_rolling_upgrade_and_shows_the_versions_before_and_after(
    kubeconfig: Path, tmp_path: Path
) -> None:
    output, gate = run_gate(kubeconfig, tmp_path, upgrade_command())

    assert gate["exit_status"] == report.EXIT_PASS, output
    assert [gate["phases"][p]["exit_status"] for p in ("before", "during", "after")] == [0, 0, 0]
    assert gate["phases"]["during"]["command_exit"] == 0, output
    paths = gate["phases"]["during"]["disruption"]
    # 2 nodes: pod -> pod to each node's echo Pod, and three ways through the ClusterIP.
    assert len(paths) == 2 * (2 + 3), output
    assert all(p["longest_outage_s"] <= BUDGET for p in paths.values()), output
    assert not [p for p in paths.values() if p["cuts"] or p["nat"]], output
    assert f"upgraded to {TO}" in output  # the command's own output, as it ran
    before, after = gate["phases"]["before"], gate["phases"]["after"]
    assert before["server_version"] == FROM, output
    assert set(before["kubelet_versions"].values()) == {FROM}, output
    assert after["server_version"] == TO, output
    assert set(after["kubelet_versions"].values()) == {TO}, output


@pytest.mark.usefixtures("no_fault_left")
def test_the_gate_fails_an_upgrade_that_breaks_one_node_naming_its_outage_cut_and_nat(
    kubeconfig: Path, tmp_path: Path
) -> None:
    topology = cluster.current_topology()
    assert topology is not None
    first, last = topology.nodes[0], topology.nodes[-1]
    podnet = shlex.quote(str(PODNET))
    # The prober's kept connection is its `nc -v CLUSTER-IP 80` (flow.sh); the node's Pods run
    # in the node's cgroup (node.cgroup_name).
    reset = (
        "for pid in $(pgrep -x nc); do"
        f" grep -q /{node.cgroup_name(last)}/ /proc/$pid/cgroup &&"
        " tr '\\0' ' ' </proc/$pid/cmdline | grep -q '^nc -v ' &&"
        " nsenter -t $pid -n ss -K state established '( dport = :80 )' >/dev/null; done; true"
    )
    steps = [
        f'[ "$PODNET_NODE" = {last.name} ] || exit 0',
        reset,
        "sleep 3",
        f"{podnet} cluster fault add dataplane-stopped --node {last.name}",
        f"sleep {STOPPED_HOLD}",
        f"{podnet} cluster fault remove dataplane-stopped",
        "sleep 4",
        f"{podnet} cluster fault add snat-pod-traffic --node {last.name}",
        f"sleep {SNAT_HOLD}",
        f"{podnet} cluster fault remove snat-pod-traffic",
    ]
    output, gate = run_gate(kubeconfig, tmp_path, upgrade_command(" && ".join(steps)))

    assert gate["exit_status"] == report.EXIT_FAIL, output
    during, after = gate["phases"]["during"], gate["phases"]["after"]
    assert during["command_exit"] == 0, output
    assert after["exit_status"] == report.EXIT_PASS, output
    assert after["server_version"] == TO, output
    paths = during["disruption"]
    broken = {name: p for name, p in paths.items() if f"from {last.name}" in name}
    broken |= {name: p for name, p in paths.items() if f"{last.name} -> " in name}
    healthy = {name: p for name, p in paths.items() if name not in broken}
    assert healthy, output
    assert len(broken) == 5, output
    # The established connection was cut before the dataplane stopped; new connections were not
    # cut, and their one outage is the dataplane's.
    kept = broken[f"pod -> ClusterIP (established TCP connection) from {last.name}"]
    assert kept["cuts"], output
    assert f"(established TCP connection) from {last.name}: established connection #1 cut" in output
    new = broken[f"pod -> ClusterIP (new TCP connections) from {last.name}"]
    assert not new["cuts"], output
    assert len(new["windows"]) == 1, output
    cut_at = float(kept["cuts"][0].split(" cut at ")[1].split("s:")[0])
    assert cut_at < new["windows"][0]["start_s"], output
    assert STOPPED_HOLD * 0.7 <= new["longest_outage_s"] <= STOPPED_HOLD + 30, output
    assert f"pod -> ClusterIP (new TCP connections) from {last.name}: outage" in output
    assert "exceeds the budget of 5s" in output
    assert all(p["nat"] for name, p in broken.items() if name.startswith("pod -> pod")), output
    assert "source IP rewritten (NAT)" in output
    # Nothing on the healthy node's paths: the verdict points at the broken node only.
    assert all(
        p["longest_outage_s"] <= BUDGET and not p["cuts"] and not p["nat"] for p in healthy.values()
    ), output
    assert f"from {first.name}: outage" not in output
