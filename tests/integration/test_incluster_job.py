"""``podnet incluster`` on the embedded cluster: the suites run in a Job, the verdict comes back.

The runner image is built and imported into the nodes by the command itself (cached after the
first time), the Pod reaches the API server through the ``kubernetes`` Service with its
ServiceAccount, and afterwards nothing the command created is left.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from admin import ADMIN_KUBECONFIG, kubectl, needs_local_cluster

from pytest_podnet import kube, runner

pytestmark = [
    needs_local_cluster,
    pytest.mark.skipif(os.geteuid() != 0, reason="importing the runner image needs root"),
]

#: Bounds one whole command: image check or import, the quick suites in the Pod (~50 s), cleanup.
COMMAND_BOUND = 600
#: Every kind the command creates, namespaced or not.
KINDS = "namespaces,clusterroles,clusterrolebindings,serviceaccounts,jobs,pods"


def command(report_dir: Path, *args: str) -> list[str]:
    """``podnet incluster`` against the embedded cluster; ``args`` may hold ``--`` and pytest's."""
    return [
        sys.executable,
        "-c",
        "from pytest_podnet.cli import main; raise SystemExit(main())",
        "incluster",
        f"--kubeconfig={ADMIN_KUBECONFIG}",
        f"--report-dir={report_dir}",
        *args,
    ]


def incluster(report_dir: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run ``podnet incluster`` to its end; the result and its run id."""
    result = subprocess.run(
        command(report_dir, *args),
        capture_output=True,
        text=True,
        timeout=COMMAND_BOUND,
        check=False,
    )
    found = re.search(r"\(run (\S+)\)", result.stderr)
    assert found, f"no run id in the output:\n{result.stdout}\n{result.stderr}"
    return result, found.group(1)


def left_behind(run_id: str) -> str:
    return kubectl("get", KINDS, "-A", "-l", f"{kube.RUN_LABEL}={run_id}", "-o", "name").strip()


def test_quick_suites_in_a_job_bring_back_a_passing_verdict_and_leave_nothing(
    tmp_path: Path,
) -> None:
    result, run_id = incluster(tmp_path, "--", "--podnet-quick")

    verdict = json.loads((tmp_path / runner.JSON_REPORT).read_text())
    assert result.returncode == verdict["run"]["exit_status"] == 0, result.stdout + result.stderr
    assert verdict["schema"] == "pytest-podnet/verdict/v2"
    assert verdict["run"]["context"] == "in-cluster", "the run did not use in-cluster config"
    assert [g["verdict"] for g in verdict["guarantees"]] == ["PASS", "PASS", "PASS"]
    assert {c["outcome"] for c in verdict["checks"]} == {"PASS"}
    junit = ET.parse(tmp_path / runner.JUNIT_REPORT).getroot()
    cases = junit.findall(".//testcase")
    assert len(cases) == len(verdict["checks"]) == 3
    assert not junit.findall(".//failure")
    assert not junit.findall(".//error")
    # The runner's progress was streamed, its report block was not.
    assert "podnet verdict" in result.stdout
    assert "pytest-podnet reports" not in result.stdout
    assert left_behind(run_id) == ""


def test_a_run_that_keeps_its_namespaces_may_mark_them_kept(
    tmp_path: Path, swept: list[str]
) -> None:
    # The runner's role gets the namespace patch only when the pytest arguments keep namespaces.
    result, run_id = incluster(tmp_path, "--", "--podnet-quick", "--podnet-keep=always")

    verdict = json.loads((tmp_path / runner.JSON_REPORT).read_text())
    swept.append(verdict["run"]["run_id"])  # what the run inside kept, on purpose
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not marked kept" not in result.stdout, result.stdout
    assert "may not patch namespaces" not in result.stdout, result.stdout
    selector = f"{kube.RUN_LABEL}={verdict['run']['run_id']}"
    path = "{range .items[*]}{.metadata.annotations.podnet\\.io/kept}{' '}{end}"
    kept = kubectl("get", "namespaces", "-l", selector, "-o", f"jsonpath={path}").split()
    assert kept, "the run inside kept no namespace"
    assert set(kept) == {"always"}, kept
    assert left_behind(run_id) == ""


def test_a_run_that_cannot_select_any_node_carries_back_exit_4_and_its_verdict(
    tmp_path: Path,
) -> None:
    result, run_id = incluster(
        tmp_path, "--", "--podnet-quick", "--podnet-node-selector=podnet.io/none=1"
    )

    assert result.returncode == 4, result.stdout + result.stderr
    assert "runner exited 4" in result.stderr
    verdict = json.loads((tmp_path / runner.JSON_REPORT).read_text())
    assert verdict["run"]["exit_status"] == 4
    assert verdict["run"]["preflight_error"], verdict["run"]
    assert left_behind(run_id) == ""


def test_an_image_the_cluster_cannot_pull_ends_at_once_with_exit_4_and_the_fix(
    tmp_path: Path,
) -> None:
    # A localhost/ name: the node's pull attempt goes to its own loopback and is refused.
    missing = "localhost/pytest-podnet-runner:no-such-tag"
    result, run_id = incluster(tmp_path, f"--image={missing}", "--", "--podnet-quick")

    assert result.returncode == 4, result.stdout + result.stderr
    assert f"the cluster cannot run {missing}" in result.stderr
    assert "fix: push the runner image to a registry" in result.stderr
    assert not (tmp_path / runner.JSON_REPORT).exists()
    assert left_behind(run_id) == ""


def test_ctrl_c_deletes_everything_the_command_created(tmp_path: Path) -> None:
    process = subprocess.Popen(
        command(tmp_path, "--", "--podnet-quick"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        started = process.stderr.readline()
        found = re.search(r"\(run (\S+)\)", started)
        assert found, started
        assert left_behind(found.group(1)) != "", "nothing was created before the interrupt"
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=COMMAND_BOUND)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 2, rest
    assert "interrupted" in rest
    assert "deleted namespace podnet-incluster-" in rest
    assert left_behind(found.group(1)) == ""
