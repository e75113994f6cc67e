"""An inner pytest session against the same cluster, in its own process group, as a user runs it."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
