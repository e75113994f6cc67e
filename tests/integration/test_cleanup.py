"""Nothing is left behind: teardown, keep policies, Ctrl-C, and a killed run swept by its label.

Each case runs an inner pytest session in a subprocess against the same cluster, as a user would,
and then looks at the cluster by the inner run's label.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_podnet import cleanup, kube, waits

#: Seconds an inner session may take to create its workloads and print its marker: interpreter
#: start, preflight, and a namespace with one echo Pod, a Service and a client Pod.
INNER_READY = 180
#: Seconds an inner session may take to finish after it was told to stop (teardown included).
INNER_EXIT = 120
MARKER = "PODNET-INNER-READY"

INNER_TEST = f'''
import sys

from pytest_podnet.fixtures import podnet, podnet_cluster  # noqa: F401


def test_creates_then_{{outcome}}(podnet):
    echo = podnet.echo_deployment(replicas=1)
    podnet.service_for(echo)
    podnet.client_pod()
    print("{MARKER}", podnet.run_id, podnet.namespace, flush=True)
    {{body}}
'''
BODIES = {
    "passes": "pass",
    "fails": "assert False, 'failing on purpose'",
    "blocks": "sys.stdin.readline()",
}


class Inner:
    """One inner pytest session, started in its own process group."""

    def __init__(self, tmp_path: Path, args: list[str], outcome: str, *extra: str) -> None:
        test = tmp_path / "test_inner.py"
        test.write_text(INNER_TEST.format(outcome=outcome, body=BODIES[outcome]))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pytest",
                "-s",
                "-q",
                "-p",
                "no:randomly",
                *args,
                *extra,
                str(test),
            ],
            cwd=tmp_path,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.output: list[str] = []

    def wait_marker(self) -> tuple[str, str]:
        """Read output until the inner test has created its objects: (run id, namespace)."""
        stdout = self.process.stdout
        assert stdout is not None
        until = time.monotonic() + INNER_READY
        while (remaining := until - time.monotonic()) > 0:
            ready, _, _ = select.select([stdout], [], [], remaining)
            if not ready:
                break
            line = stdout.readline()
            if not line:
                break
            self.output.append(line)
            if line.startswith(MARKER):
                _, run_id, namespace = line.split()
                return run_id, namespace
        self.stop(signal.SIGKILL)
        pytest.fail(f"inner run printed no {MARKER} line:\n{''.join(self.output)}")

    def finish(self) -> str:
        """Wait for the inner session to end; its whole output."""
        out, _ = self.process.communicate(timeout=INNER_EXIT)
        self.output.append(out)
        return "".join(self.output)

    def stop(self, sig: signal.Signals) -> None:
        os.killpg(self.process.pid, sig)


@pytest.fixture
def swept(podnet_cluster: kube.Cluster) -> Iterator[list[str]]:
    """Run ids whose leftovers are swept after the test, whatever it asserted."""
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        cleanup.sweep(podnet_cluster, run_id)


def gone(cluster: kube.Cluster, run_id: str) -> list[tuple[str, str | None, str]]:
    """Wait for the run's namespaces to be gone; what still carries its label."""
    waits.Waiter(cluster).namespaces_gone(f"{kube.RUN_LABEL}={run_id}")
    return cluster.list_labelled(run_id)


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


def test_ctrl_c_during_a_test_still_cleans_up(
    tmp_path: Path, podnet_args: list[str], podnet_cluster: kube.Cluster, swept: list[str]
) -> None:
    inner = Inner(tmp_path, podnet_args, "blocks")
    run_id, _ = inner.wait_marker()
    swept.append(run_id)

    inner.stop(signal.SIGINT)
    output = inner.finish()

    assert inner.process.returncode == 2, output
    assert gone(podnet_cluster, run_id) == []


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

    kubeconfig = [a for a in podnet_args if a.startswith("--podnet-kubeconfig=")]
    sweep = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pytest_podnet.cli import main; sys.exit(main())",
            "sweep",
            "--run",
            run_id,
            *(f"--kubeconfig={a.split('=', 1)[1]}" for a in kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=waits.NAMESPACE_DELETION + INNER_EXIT,
        check=False,
    )

    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    assert gone(podnet_cluster, run_id) == []
