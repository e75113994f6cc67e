"""A run killed outright (CI job cancelled, OOM) leaves namespaces; the next run removes them.

No run id needed: the killed run's namespaces name their owner (host, boot, PID, start time),
and the next run's start removes those whose owner is provably gone, saying so in its header.
These tests run with no other run beside them (``./run.sh tests`` runs tests/integration/exclusive
apart): the start of any run removes a killed run's leftovers, so a run beside them could take
first what they expect the next run to remove.
"""

from __future__ import annotations

import signal
from pathlib import Path

from inner_run import Inner

from pytest_podnet import kube, waits
from pytest_podnet.owner import OWNER_ANNOTATION, Owner


def made(path: Path) -> Path:
    path.mkdir()
    return path


def test_the_next_run_removes_what_a_killed_run_left(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    killed = Inner(made(tmp_path / "killed"), podnet_args, "blocks")
    run_id, namespace = killed.wait_marker()
    swept.append(run_id)
    recorded = Owner.parse(podnet_cluster.read_namespace(namespace).annotations[OWNER_ANNOTATION])
    assert recorded == Owner.of_process(killed.process.pid)
    killed.stop(signal.SIGKILL)
    killed.finish()
    assert ("Namespace", None, namespace) in podnet_cluster.list_labelled(run_id)

    following = Inner(made(tmp_path / "following"), podnet_args, "passes")
    following_run, _ = following.wait_marker()
    swept.append(following_run)
    output = following.finish()

    assert following.process.returncode == 0, output
    assert (
        f"podnet: removed namespace {namespace} of run {run_id} "
        f"(pid {killed.process.pid} on {recorded.host} exited)" in output
    ), output
    waits.Waiter(podnet_cluster).namespaces_gone(f"{kube.RUN_LABEL}={run_id}")
    assert podnet_cluster.list_labelled(run_id) == []


def test_a_live_runs_namespaces_are_never_removed(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    live = Inner(made(tmp_path / "live"), podnet_args, "blocks")
    live_run, namespace = live.wait_marker()
    swept.append(live_run)
    try:
        other = Inner(made(tmp_path / "other"), podnet_args, "passes")
        other_run, _ = other.wait_marker()
        swept.append(other_run)
        output = other.finish()

        assert other.process.returncode == 0, output
        assert namespace not in output
        assert podnet_cluster.read_namespace(namespace).phase == "Active"
    finally:
        live.stop(signal.SIGINT)
        live.finish()
