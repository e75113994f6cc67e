"""The upgrade gate on the embedded cluster: it passes a command that keeps the Pod network up, and
fails one that breaks it, naming the path, node and window.

Each test runs ``pytest --podnet --podnet-upgrade-command ...`` as a pipeline would (a subprocess;
before and after the command, the quick profile's G3 check alone, to keep the module short: the
gate passes the user's selection to those phases as it is). The breaking command, on the last
node, in turn:

1. stops its dataplane (``dataplane-stopped``) for ``STOPPED_HOLD`` seconds: the new-connection
   and UDP paths through the ClusterIP are out for longer than the budget;
2. SNATs its Pod traffic (``snat-pod-traffic``) for ``SNAT_HOLD`` seconds: NAT mid-upgrade. Its
   new connections keep answering (from the node's address), while its established connection
   through the ClusterIP is *cut*: its packets now leave with another source, which the backend
   answers with a reset. The gate reports that cut apart from any outage.

The gate must FAIL with each of these on that node's paths, with no problem on the first node's
paths, and the checks after the command must pass (the command removed its faults).
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
from pytest_podnet.localcluster import cluster, faults

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="faults need root on the local cluster")

BUDGET = 5.0
STOPPED_HOLD = 10
SNAT_HOLD = 3
#: Faults the breaking command applies, removed after the test whatever happened.
FAULTS = ("dataplane-stopped", "snat-pod-traffic")
PODNET = Path(sys.executable).with_name("podnet")


@pytest.fixture(scope="module")
def kubeconfig() -> Path:
    path, _ = cluster.ensure_up(2)
    return path


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


def test_the_gate_passes_a_command_that_keeps_the_network_up(
    kubeconfig: Path, tmp_path: Path
) -> None:
    output, gate = run_gate(kubeconfig, tmp_path, "echo rolling; sleep 5; echo rolled")

    assert gate["exit_status"] == report.EXIT_PASS, output
    assert [gate["phases"][p]["exit_status"] for p in ("before", "during", "after")] == [0, 0, 0]
    paths = gate["phases"]["during"]["disruption"]
    # 2 nodes: pod -> pod to each node's echo Pod, and three ways through the ClusterIP.
    assert len(paths) == 2 * (2 + 3), output
    assert all(p["longest_outage_s"] <= BUDGET and not p["cuts"] for p in paths.values()), output
    assert "rolled\n" in output  # the command's own output, as it ran
    assert gate["phases"]["before"]["server_version"] == gate["phases"]["after"]["server_version"]


@pytest.mark.usefixtures("no_fault_left")
def test_the_gate_fails_naming_the_cut_the_outage_and_the_nat_of_the_broken_node(
    kubeconfig: Path, tmp_path: Path
) -> None:
    topology = cluster.current_topology()
    assert topology is not None
    first, last = topology.nodes[0], topology.nodes[-1]
    podnet = shlex.quote(str(PODNET))
    steps = [
        f"{podnet} cluster fault add dataplane-stopped --node {last.name}",
        f"sleep {STOPPED_HOLD}",
        f"{podnet} cluster fault remove dataplane-stopped",
        "sleep 4",
        f"{podnet} cluster fault add snat-pod-traffic --node {last.name}",
        f"sleep {SNAT_HOLD}",
        f"{podnet} cluster fault remove snat-pod-traffic",
    ]
    output, gate = run_gate(kubeconfig, tmp_path, " && ".join(steps))

    assert gate["exit_status"] == report.EXIT_FAIL, output
    during, after = gate["phases"]["during"], gate["phases"]["after"]
    assert during["command_exit"] == 0, output
    assert after["exit_status"] == report.EXIT_PASS, output
    paths = during["disruption"]
    broken = {name: p for name, p in paths.items() if f"from {last.name}" in name}
    broken |= {name: p for name, p in paths.items() if f"{last.name} -> " in name}
    healthy = {name: p for name, p in paths.items() if name not in broken}
    assert healthy, output
    assert len(broken) == 5, output
    # The established connection was cut once NAT appeared; new connections were not cut, and
    # their outage is the dataplane's alone.
    kept = broken[f"pod -> ClusterIP (established TCP connection) from {last.name}"]
    assert kept["cuts"], output
    assert f"(established TCP connection) from {last.name}: established connection #" in output
    new = broken[f"pod -> ClusterIP (new TCP connections) from {last.name}"]
    assert not new["cuts"], output
    assert len(new["windows"]) == 1, output
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
