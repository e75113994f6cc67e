"""Nothing is left behind: teardown, keep policies, Ctrl-C and SIGTERM.

Each case runs an inner pytest session in a subprocess against the same cluster, as a user would,
and then looks at the cluster by the inner run's label.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from inner_run import Inner, gone

from pytest_podnet import kube


def test_teardown_deletes_everything_a_passing_test_created(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    inner = Inner(tmp_path, podnet_args, "passes")
    run_id, _namespace = inner.wait_marker()
    swept.append(run_id)
    output = inner.finish()

    assert inner.process.returncode == 0, output
    assert gone(podnet_cluster, run_id) == []


def test_keep_on_failure_keeps_the_namespace_until_swept(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    inner = Inner(tmp_path, podnet_args, "fails", "--podnet-keep=on-failure")
    run_id, namespace = inner.wait_marker()
    swept.append(run_id)
    output = inner.finish()

    assert inner.process.returncode == 1, output
    assert podnet_cluster.read_namespace(namespace).phase == "Active"
    kinds = {kind for kind, _, _ in podnet_cluster.list_labelled(run_id)}
    assert {"Namespace", "Deployment", "Pod", "Service"} <= kinds
    assert f"podnet sweep --run {run_id}" in output


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_during_a_test_still_cleans_up(
    signum: signal.Signals,
    tmp_path: Path,
    podnet_args: list[str],
    podnet_cluster: kube.Cluster,
    swept: list[str],
) -> None:
    """Ctrl-C, and SIGTERM (a cancelled CI job) alike: the run ends as interrupted (exit 2)
    after its teardown deleted everything it created."""
    inner = Inner(tmp_path, podnet_args, "blocks")
    run_id, _ = inner.wait_marker()
    swept.append(run_id)

    inner.stop(signum)
    output = inner.finish()

    assert inner.process.returncode == 2, output
    assert gone(podnet_cluster, run_id) == []


# A killed run swept by its label: tests/integration/exclusive/test_sweep_killed_run.py (any
# other run's start would remove the killed run's namespace before the sweep could).
