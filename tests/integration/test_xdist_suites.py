"""The plugin under pytest-xdist on the real cluster: one preflight, one run id, one verdict."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import verdicts

ROOT = Path(__file__).resolve().parents[2]


def test_quick_profile_passes_with_two_workers_and_one_verdict(
    podnet_args: list[str], tmp_path: Path
) -> None:
    if not any(a.startswith("--podnet-kubeconfig") for a in podnet_args):
        podnet_args = [*podnet_args, "--podnet-cluster=local"]
    report = tmp_path / "verdict.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *podnet_args,
            "-n",
            "2",
            "--podnet-quick",
            f"--podnet-report={report}",
            str(ROOT / "suites"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    document = verdicts.load(report)
    outcomes = {c["nodeid"].rsplit("::", 1)[1]: c["outcome"] for c in document["checks"]}
    assert set(outcomes.values()) == {"PASS"}, outcomes
    assert {c["guarantee"] for c in document["checks"]} == {"G1", "G2", "G3"}
    assert [g["verdict"] for g in document["guarantees"]] == ["PASS", "PASS", "PASS"]
    assert "created 2 workers" in completed.stdout or "2 workers" in completed.stdout
    assert completed.stdout.count("podnet verdict") == 1, "every worker printed a verdict"
