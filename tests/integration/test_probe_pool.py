"""The session's shared probe Pods (``Podnet.probe_pods``) on the embedded cluster: handed out
again while healthy, replaced once not, in a namespace the sweeper finds, gone (every Pod of it
at once) when the session ends."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_podnet import kube, probepool
from pytest_podnet.fixtures import Podnet

pytestmark = pytest.mark.filterwarnings("ignore::pytest_podnet.fixtures.PodnetInvariantWarning")


def test_probe_pods_are_handed_out_again_while_healthy_and_replaced_once_not(
    podnet: Podnet,
) -> None:
    nodes = [n.name for n in podnet.nodes()]

    first = podnet.probe_pods()
    again = podnet.probe_pods()
    pool = podnet.probe_pool
    assert pool is not None
    gone = first[nodes[0]]
    podnet.cluster.delete_pod(gone.namespace, gone.name, grace_period=0)
    after = podnet.probe_pods()

    assert sorted(first) == nodes
    assert all(first[n].node == n and first[n].ready for n in nodes)
    assert {n: p.uid for n, p in again.items()} == {n: p.uid for n, p in first.items()}
    assert after[nodes[0]].uid != gone.uid
    assert after[nodes[0]].node == nodes[0]
    assert all(after[n].uid == first[n].uid for n in nodes[1:])
    assert gone.ref in pool.replaced
    # A failure's diagnostics show the probe Pods' namespace too, after the check's own.
    assert podnet.diagnosed_namespaces == [podnet.namespace, pool.namespace]
    namespace = podnet.cluster.read_namespace(pool.namespace)
    assert namespace.labels[kube.RUN_LABEL] == podnet.run_id
    assert all(p.labels[kube.MANAGED_BY_LABEL] == kube.MANAGED_BY for p in after.values())


def test_a_pod_that_changed_is_not_healthy(podnet: Podnet) -> None:
    (pod,) = list(podnet.probe_pods().values())[:1]

    assert probepool.healthy(pod, podnet.cluster.read_pod(pod.namespace, pod.name))
    assert not probepool.healthy(pod, None)
    for change in ({"uid": "other"}, {"ips": ("10.0.0.1",)}, {"restarts": 1}, {"ready": False}):
        changed = kube.PodInfo(**{**pod.__dict__, **change})
        assert not probepool.healthy(pod, changed), change


CHECKS = """
def test_one(podnet):
    podnet.probe_pods()

def test_two(podnet):
    podnet.probe_pods()
"""


def test_two_checks_share_the_probe_pods_and_the_session_deletes_them(
    podnet: Podnet, podnet_args: list[str], tmp_path: Path
) -> None:
    (tmp_path / "test_checks.py").write_text(CHECKS)
    report = tmp_path / "verdict.json"
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", *podnet_args, f"--podnet-report={report}", "-q", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    checks = json.loads(report.read_text())["checks"]
    handed = [c["values"]["probe_pods"] for c in checks]
    assert len(handed) == 2
    assert handed[0] == handed[1]
    namespace = handed[0][0].split("/")[1]
    run_id = json.loads(report.read_text())["run"]["run_id"]
    assert namespace == probepool.shared_namespace(run_id)
    # Every Pod of it is on its way out, and so is the namespace.
    assert all(p.terminating for p in podnet.cluster.pods(namespace))
    with contextlib.suppress(kube.NotFound):
        assert podnet.cluster.read_namespace(namespace).phase == "Terminating"
