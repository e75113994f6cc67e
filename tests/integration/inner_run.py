"""An inner pytest session against the same cluster, in its own process group, as a user runs it;
``podnet sweep`` as a user runs it; and what a run left on the cluster."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytest_podnet import kube, waits
from pytest_podnet.waits import NAMESPACE_DELETION

#: Seconds an inner session may take to create its workloads and print its marker: interpreter
#: start, preflight, and a namespace with one echo Pod, a Service and a client Pod.
INNER_READY = 180
#: Seconds an inner session may take to finish after it was told to stop (teardown included).
INNER_EXIT = 120
#: Seconds the "blocks" body waits for a signal before it fails: longer than the outer test ever
#: waits for the inner run to end (``INNER_EXIT``), so it cannot finish before the signal the outer
#: test sends, yet bounded, so an inner run whose outer test died does not outlive it by much.
INNER_BLOCK = INNER_EXIT + 60
MARKER = "PODNET-INNER-READY"

INNER_TEST = f'''
import time

import pytest

from pytest_podnet.fixtures import podnet, podnet_cluster, podnet_probe_pool  # noqa: F401


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
    # Passes after taking the run's shared probe Pods (their namespace is the run's own).
    "probes": "podnet.probe_pods()",
    # Interruptible (SIGINT raises KeyboardInterrupt out of the sleep) and never a pass: without
    # a signal it fails after INNER_BLOCK seconds, after the outer test has already given up.
    # (It used to read stdin, which returned as soon as `communicate()` closed it, racing SIGINT.)
    "blocks": f"time.sleep({INNER_BLOCK}); pytest.fail('no signal within {INNER_BLOCK}s')",
}


class Inner:
    """One inner pytest session, started in its own process group."""

    def __init__(
        self, tmp_path: Path, args: list[str], outcome: str, *extra: str, source: str = ""
    ) -> None:
        test = tmp_path / "test_inner.py"
        test.write_text(source or INNER_TEST.format(outcome=outcome, body=BODIES[outcome]))
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
            stdin=subprocess.DEVNULL,
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
        """Wait for the inner session to end; its whole output.

        Past ``INNER_EXIT`` the inner run is killed and the test fails: an inner run that did not
        react to its signal must not keep running (or pass) after its outer test.
        """
        try:
            out, _ = self.process.communicate(timeout=INNER_EXIT)
        except subprocess.TimeoutExpired:
            self.stop(signal.SIGKILL)
            out, _ = self.process.communicate()
            self.output.append(out)
            pytest.fail(
                f"inner run did not end within {INNER_EXIT}s (killed):\n{''.join(self.output)}"
            )
        self.output.append(out)
        return "".join(self.output)

    def stop(self, sig: signal.Signals) -> None:
        os.killpg(self.process.pid, sig)


def podnet_sweep(podnet_args: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """``podnet sweep ARGS`` against this session's cluster, as a user runs it."""
    kubeconfig = [a for a in podnet_args if a.startswith("--podnet-kubeconfig=")]
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from pytest_podnet.cli import main; sys.exit(main())",
            "sweep",
            *args,
            *(f"--kubeconfig={a.split('=', 1)[1]}" for a in kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=NAMESPACE_DELETION.seconds + INNER_EXIT,
        check=False,
    )


def gone(cluster: kube.Cluster, run_id: str) -> list[tuple[str, str | None, str]]:
    """Wait for the run's namespaces to be gone; what still carries its label."""
    waits.Waiter(cluster).namespaces_gone(f"{kube.RUN_LABEL}={run_id}")
    return cluster.list_labelled(run_id)
