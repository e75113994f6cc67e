"""The embedded cluster on kube-proxy's nftables backend: the suites pass, SNAT is caught, and
`down` leaves the host as it found it (issue 10's first variant).

Lifecycle test: it takes the default cluster down, runs its own, and brings the default back.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import verdicts

from pytest_podnet.localcluster import cluster, faults, footprint, procs

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


def outcomes(document: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"].split("::")[-1]: c["outcome"] for c in document["checks"]}


@pytest.mark.cluster_lifecycle
def test_nftables_mode_passes_the_suites_catches_snat_and_leaves_no_residue(
    local_cluster: Path, tmp_path: Path
) -> None:
    was_running = cluster.is_running()
    cluster.down()
    before = footprint.snapshot()
    try:
        kubeconfig = cluster.up(2, proxy_mode="nftables")
        topology = cluster.current_topology()
        assert topology is not None
        assert topology.proxy_mode == "nftables"
        for n in topology.nodes:
            # kube-proxy programs its own nftables table, and no iptables Service chains.
            assert "table ip kube-proxy" in procs.run(["nft", "list", "tables"], netns=n.netns)
            assert "KUBE-SERVICES" not in procs.run(["iptables-save", "-t", "nat"], netns=n.netns)
        assert "kube-proxy nftables" in cluster.status().dataplane

        healthy = run_suites(kubeconfig, tmp_path / "healthy.json")
        assert "nftables" in (healthy["run"]["dataplane"] or "")
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
    if was_running:
        cluster.up(2)
