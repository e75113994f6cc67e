"""Benchmark the conformance suites: wall time of a full run, serial and with `-n 2`.

    sudo python bench/suites.py [--rounds N] [--kubeconfig PATH] [--update-docs]

Runs against the embedded local cluster unless --kubeconfig is given (started if needed and
stopped afterwards only if this script started it). Prints one JSON object; asserts nothing.

Besides each profile's wall time it reads, from each run's JSON verdict, the seconds every check
spent per phase (the façade's ``phase_seconds``: create -> Ready, actions, probes, observe,
teardown; the rest is the check's own code and its namespace), summed over the checks, and the
time outside any check (pytest's start, preflight, reports: wall minus the checks' durations,
serial run only).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from pytest_podnet import phases

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {"serial": [], "xdist-2": ["-n", "2"], "quick": ["--podnet-quick"]}
#: The check outcomes of the JSON verdict (schema v2).
OUTCOMES = ("PASS", "FAIL", "NOT VERIFIED", "SKIPPED")
DOCS = ROOT / "docs" / "suites.md"
BEGIN, END = "<!-- bench/suites.py begin -->", "<!-- bench/suites.py end -->"


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
        **{outcome: outcomes.count(outcome) for outcome in OUTCOMES},
        "checks_s": round(sum(c["duration"] for c in checks), 1),
        "phases_s": phase_totals(checks),
    }


def phase_totals(checks: list[dict[str, object]]) -> dict[str, float]:
    """Seconds per phase summed over the checks, and the ``rest`` of their durations."""
    totals = dict.fromkeys([*phases.PHASES, "rest"], 0.0)
    for check in checks:
        spent: dict[str, float] = check["values"].get(phases.VALUE_NAME, {})  # type: ignore[attr-defined]
        for phase, seconds in spent.items():
            totals[phase] += seconds
        totals["rest"] += check["duration"] - sum(spent.values())  # type: ignore[operator]
    return {phase: round(seconds, 1) for phase, seconds in totals.items()}


def markdown(figures: dict[str, dict[str, object]]) -> str:
    """The figures as the table docs/suites.md shows."""
    lines = [
        f"Written by `python bench/suites.py --update-docs` on {datetime.now(UTC):%Y-%m-%d %H:%M} "
        "UTC (embedded 2-node cluster; one round each).",
        "",
        "| profile | exit | " + " | ".join(OUTCOMES) + " | wall (median) |",
        "|---|---|" + "---|" * len(OUTCOMES) + "---|",
    ]
    for name, figure in figures.items():
        first = figure["runs"][0]  # type: ignore[index]
        counts = " | ".join(str(first[o]) for o in OUTCOMES)
        lines.append(f"| {name} | {first['exit']} | {counts} | {figure['median_s']} s |")
    serial = figures["serial"]["runs"][0]  # type: ignore[index]
    spent: dict[str, float] = serial["phases_s"]
    checks = serial["checks_s"]
    lines += [
        "",
        f"Where the serial run's time went: {serial['seconds']} s wall, of which {checks} s in"
        f" the checks and {round(serial['seconds'] - checks, 1)} s outside any check (pytest's"
        " start, preflight, reports). Seconds per phase, summed over the checks:",
        "",
        "| phase | seconds | share of the checks' time |",
        "|---|---|---|",
        *(
            f"| {phase} | {seconds} | {100 * seconds / checks:.0f}% |"
            for phase, seconds in spent.items()
        ),
    ]
    return "\n".join(lines)


def update_docs(table: str) -> None:
    text = DOCS.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOCS.write_text(text[:start] + "\n" + table + "\n" + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--kubeconfig")
    parser.add_argument(
        "--update-docs", action="store_true", help="also write the table into docs/suites.md"
    )
    args = parser.parse_args()
    started_here = False
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        from pytest_podnet.localcluster import cluster

        path, started_here = cluster.ensure_up(2)
        kubeconfig = str(path)
    figures: dict[str, dict[str, object]] = {}
    try:
        for name, extra in PROFILES.items():
            runs = [run(kubeconfig, extra) for _ in range(args.rounds)]
            figures[name] = {
                "median_s": statistics.median(cast(float, r["seconds"]) for r in runs),
                "runs": runs,
            }
    finally:
        if started_here:
            cluster.down()
    print(json.dumps(figures, indent=2))
    if args.update_docs:
        update_docs(markdown(figures))


if __name__ == "__main__":
    main()
