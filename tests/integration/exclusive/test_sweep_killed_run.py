"""A run killed outright leaves its objects; ``podnet sweep --run ID`` removes them by its label.

In tests/integration/exclusive (``./run.sh tests`` runs it with no other run beside it): the start
of any run removes a killed run's namespaces (tests/integration/exclusive/test_reap_dead_runs.py),
so an inner run of another test started between the kill and the sweep would leave the sweep
nothing to delete.
"""

from __future__ import annotations

import signal
from pathlib import Path

from inner_run import Inner, gone, podnet_sweep

from pytest_podnet import kube


def test_killed_run_leaves_objects_that_podnet_sweep_removes_by_run_label(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    inner = Inner(tmp_path, podnet_args, "blocks")
    run_id, namespace = inner.wait_marker()
    swept.append(run_id)
    inner.stop(signal.SIGKILL)
    inner.finish()
    left = podnet_cluster.list_labelled(run_id)
    assert ("Namespace", None, namespace) in left

    with_dry_run = podnet_sweep(podnet_args, "--run", run_id, "--dry-run")

    assert with_dry_run.returncode == 0, with_dry_run.stdout + with_dry_run.stderr
    assert f"would delete namespace {namespace}" in with_dry_run.stdout
    assert "(dry run, nothing deleted)" in with_dry_run.stdout
    assert podnet_cluster.read_namespace(namespace).phase == "Active"
    assert podnet_cluster.list_labelled(run_id) == left

    sweep = podnet_sweep(podnet_args, "--run", run_id)

    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert f"deleted namespace {namespace}" in sweep.stdout
    assert gone(podnet_cluster, run_id) == []
