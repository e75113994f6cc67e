"""A run killed outright (CI job cancelled, OOM) leaves namespaces; the next run removes them.

No run id needed: the killed run's namespaces name their owner (host, boot, PID, start time),
and the next run's start removes those whose owner is provably gone, saying so in its header;
never those a run kept on purpose (``--podnet-keep``), which only ``podnet sweep`` removes.
These tests run with no other run beside them (``./run.sh tests`` runs tests/integration/exclusive
apart): the start of any run removes a killed run's leftovers, so a run beside them could take
first what they expect the next run to remove.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from inner_run import Inner, gone, podnet_sweep

from pytest_podnet import kube, probepool
from pytest_podnet.owner import KEPT_ANNOTATION, OWNER_ANNOTATION, Owner


def made(path: Path) -> Path:
    path.mkdir()
    return path


def a_passing_run(path: Path, podnet_args: list[str], swept: list[str]) -> str:
    """A run started after the one under test (its start removes dead runs' namespaces); its
    output, once it has ended with exit 0."""
    run = Inner(made(path), podnet_args, "passes")
    run_id, _ = run.wait_marker()
    swept.append(run_id)
    output = run.finish()
    assert run.process.returncode == 0, output
    return output


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

    output = a_passing_run(tmp_path / "following", podnet_args, swept)

    assert (
        f"podnet: removed namespace {namespace} of run {run_id} "
        f"(pid {killed.process.pid} on {recorded.host} exited)" in output
    ), output
    assert gone(podnet_cluster, run_id) == []


def test_a_live_runs_namespaces_are_never_removed(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    live = Inner(made(tmp_path / "live"), podnet_args, "blocks")
    live_run, namespace = live.wait_marker()
    swept.append(live_run)
    try:
        output = a_passing_run(tmp_path / "other", podnet_args, swept)

        assert namespace not in output
        assert podnet_cluster.read_namespace(namespace).phase == "Active"
    finally:
        live.stop(signal.SIGINT)
        live.finish()


@pytest.mark.parametrize(
    ("outcome", "keep", "exit_code"),
    [("fails", "on-failure", 1), ("probes", "always", 0)],
    ids=["on-failure", "always"],
)
def test_the_next_run_leaves_the_namespaces_a_run_kept(
    outcome: str,
    keep: str,
    exit_code: int,
    tmp_path: Path,
    podnet_args: list[str],
    podnet_cluster: kube.Cluster,
    swept: list[str],
) -> None:
    """``--podnet-keep`` keeps a run's namespaces for inspection (a failed check's, or with
    ``always`` every one, the shared probe Pods' included): the run has ended, yet the next
    run's start must not remove them; ``podnet sweep --run ID`` does."""
    kept_run = Inner(made(tmp_path / "kept"), podnet_args, outcome, f"--podnet-keep={keep}")
    run_id, namespace = kept_run.wait_marker()
    swept.append(run_id)
    output = kept_run.finish()
    assert kept_run.process.returncode == exit_code, output
    expected = {namespace} | ({probepool.shared_namespace(run_id)} if keep == "always" else set())
    kept = podnet_cluster.namespaces(f"{kube.RUN_LABEL}={run_id}")
    assert {ns.name: ns.annotations.get(KEPT_ANNOTATION) for ns in kept} == dict.fromkeys(
        expected, keep
    ), output

    output = a_passing_run(tmp_path / "following", podnet_args, swept)

    assert run_id not in output
    left = podnet_cluster.namespaces(f"{kube.RUN_LABEL}={run_id}")
    assert {ns.name: ns.phase for ns in left} == dict.fromkeys(expected, "Active")

    sweep = podnet_sweep(podnet_args, "--run", run_id)

    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert all(f"deleted namespace {name}" in sweep.stdout for name in expected), sweep.stdout
    assert gone(podnet_cluster, run_id) == []
