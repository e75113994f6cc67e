"""An exec into a Pod right after its node's kubelet restarts, as a node upgrade restarts it.

For about a second the API server cannot reach the kubelet (500 "error dialing backend"), then
the kubelet, not yet synced, answers 404 "pod does not exist" for a Pod that runs on. The
upgrade gate reads its monitor's flows back by exec right after the upgrade command: an exec
that took those answers as final made the gate NOT VERIFIED on a good upgrade.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

from pytest_podnet import kube
from pytest_podnet.kube.calls import TRANSIENT_API_RETRY
from pytest_podnet.localcluster import cluster, node, procs

from .conftest import Kubectl
from .test_cluster import PODS_READY, netexec_pod


def test_an_exec_right_after_the_nodes_kubelet_restarts_reaches_the_pod(
    local_cluster: Path, kubectl: Kubectl
) -> None:
    topology = cluster.current_topology()
    assert topology is not None
    restarted = topology.nodes[-1]
    namespace = f"kubelet-restart-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", namespace)
    try:
        pod = netexec_pod("echo", restarted.name)
        pod["metadata"]["namespace"] = namespace
        kubectl.apply(pod)
        kubectl(
            "wait", "-n", namespace, "--for=condition=Ready", "pod/echo", f"--timeout={PODS_READY}"
        )
        api = kube.Cluster.connect(str(local_cluster), None, connect_timeout=10)
        before = procs.find(f"{restarted.name}-kubelet")

        procs.stop(f"{restarted.name}-kubelet")
        node.start_kubelet(restarted, topology)
        started = time.monotonic()
        result = api.exec(namespace, "echo", ["cat", "/etc/hostname"], timeout=10)
        took = time.monotonic() - started
    finally:
        kubectl("delete", "namespace", namespace, "--wait=false", "--ignore-not-found")

    after = procs.find(f"{restarted.name}-kubelet")
    assert before is not None
    assert after is not None
    assert after.alive
    assert after.pid != before.pid, "the kubelet was not restarted"
    assert (result.exit_code, result.stdout.strip()) == (0, "echo")
    assert took < TRANSIENT_API_RETRY
