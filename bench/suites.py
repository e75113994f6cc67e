"""Benchmark the conformance suites: wall time of a full run, serial and with `-n 2`.

    sudo python bench/suites.py [--rounds N] [--kubeconfig PATH]

Runs against the embedded local cluster unless --kubeconfig is given (started if needed and
stopped afterwards only if this script started it). Prints one JSON object; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {"serial": [], "xdist-2": ["-n", "2"], "quick": ["--podnet-quick"]}


def run(kubeconfig: str, extra: list[str]) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "verdict.json"
        started = time.monotonic()
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--podnet",
                f"--podnet-kubeconfig={kubeconfig}",
                f"--podnet-report={report}",
                "-q",
                "-p",
                "no:cacheprovider",
                "suites/",
                *extra,
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        seconds = time.monotonic() - started
        checks = json.loads(report.read_text())["checks"] if report.exists() else []
    outcomes = [c["outcome"] for c in checks]
    return {
        "seconds": round(seconds, 1),
        "exit": completed.returncode,
        "passed": outcomes.count("passed"),
        "failed": outcomes.count("failed") + outcomes.count("error"),
        "skipped": outcomes.count("skipped"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kubeconfig")
    args = parser.parse_args()
    started_here = False
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        from pytest_podnet.localcluster import cluster

        path, started_here = cluster.ensure_up(2)
        kubeconfig = str(path)
    figures: dict[str, object] = {}
    try:
        for name, extra in PROFILES.items():
            runs = [run(kubeconfig, extra) for _ in range(args.rounds)]
            figures[name] = {
                "median_s": statistics.median(r["seconds"] for r in runs),  # type: ignore[misc]
                "runs": runs,
            }
    finally:
        if started_here:
            cluster.down()
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
