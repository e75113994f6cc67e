"""Benchmark the conformance suites: wall time of a full run, serial and with `-n 2`.

    sudo python bench/suites.py [--rounds N] [--pause SECONDS] [--kubeconfig PATH] [--nodes N]
                                [--upstream] [--floor] [--profiles serial,xdist-2,quick]
                                [--update-docs]

Runs against the embedded local cluster unless --kubeconfig is given (started with --nodes N,
default 2, if none is running, and stopped afterwards only if this script started it). Prints
one JSON object; asserts nothing. Each run also gives the node pairs its G2 checks covered
(``node_pairs`` per check). With --upstream, the upstream e2e specs that overlap G2/G3
(bench/upstream.py) run on the same cluster with ``ginkgo --procs=2``, and the ratio of their
wall time to ours with ``-n 2`` is printed. With --floor, first the floor under a replacement
check on the same cluster (bench/pod_floor.py: one Pod's create -> Ready and delete -> gone).

Besides each profile's wall time it reads, from each run's JSON verdict, the seconds every check
spent per phase (the façade's ``phase_seconds``: create -> Ready, actions, probes, observe,
teardown; the rest is the check's own code and its namespace), summed over the checks, and the
plugin's own overhead: the time outside any check (pytest's start, preflight, reports: wall
minus the checks' durations, serial run only) and the CPU seconds of the pytest processes
(``runner_cpu_s``: pytest, the plugin and its xdist workers) beside the CPU seconds the whole
machine was busy during the run (``machine_cpu_s``: the cluster's daemons, containers and the
runner; the rest of the machine is idle here). Before every run it times a fixed Python loop
(``reference_s``): on a shared host the machine's speed drifts, and figures of two runs compare
only beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from pytest_podnet import phases

ROOT = Path(__file__).resolve().parents[1]
PROFILES = {"serial": [], "xdist-2": ["-n", "2"], "quick": ["--podnet-quick"]}
#: The check outcomes of the JSON verdict (schema v2).
OUTCOMES = ("PASS", "FAIL", "NOT VERIFIED", "SKIPPED")
DOCS = ROOT / "docs" / "suites.md"
BEGIN, END = "<!-- bench/suites.py begin -->", "<!-- bench/suites.py end -->"
SCALE_BEGIN = "<!-- bench/suites.py --scale begin -->"
SCALE_END = "<!-- bench/suites.py --scale end -->"
#: The check whose node pairs the scale table shows (every ordered pair of distinct nodes).
CROSS_NODE = "test_pod_to_pod_traffic_keeps_the_sender_pod_ip[cross-node]"
#: Iterations of the fixed loop timed before every run (about 1.5 CPU-seconds here).
REFERENCE_LOOP = 20_000_000


def reference_seconds() -> float:
    """CPU seconds a fixed Python loop takes now: this machine's speed drifts (by half within an
    hour on a shared host), so two runs' figures compare only beside this."""
    started = time.process_time()
    total = 0
    for i in range(REFERENCE_LOOP):
        total += i
    return round(time.process_time() - started, 2)


def busy_cpu_seconds() -> float:
    """CPU seconds the machine has been busy since boot (all cores: user, nice, system, irq,
    softirq; idle and iowait left out), from /proc/stat."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq = fields[:7]
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    """CPU seconds of this process's waited-for children (the pytest run and its workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(kubeconfig: str, extra: list[str]) -> dict[str, object]:
    reference = reference_seconds()
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "verdict.json"
        busy, runner = busy_cpu_seconds(), children_cpu_seconds()
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
        runner = children_cpu_seconds() - runner
        busy = busy_cpu_seconds() - busy
        checks = json.loads(report.read_text())["checks"] if report.exists() else []
    outcomes = [c["outcome"] for c in checks]
    return {
        "seconds": round(seconds, 1),
        "reference_s": reference,
        "exit": completed.returncode,
        **{outcome: outcomes.count(outcome) for outcome in OUTCOMES},
        "runner_cpu_s": round(runner, 1),
        "machine_cpu_s": round(busy, 1),
        "checks_s": round(sum(c["duration"] for c in checks), 1),
        # What did not pass, so a slow or failed round can be told from a fast one.
        "not_passed": {
            c["nodeid"].rsplit("::", 1)[-1]: (c.get("message") or "")[:500]
            for c in checks
            if c["outcome"] not in ("PASS", "SKIPPED")
        },
        # A run that exits non-zero with every check passed failed outside the checks.
        "output_tail": (
            (completed.stdout + completed.stderr)[-2000:] if completed.returncode else ""
        ),
        "phases_s": phase_totals(checks),
        "node_pairs": {
            c["nodeid"].rsplit("::", 1)[-1]: c["values"]["node_pairs"]
            for c in checks
            if "node_pairs" in c["values"]
        },
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


def markdown(
    figures: dict[str, dict[str, object]],
    nodes: int,
    rounds: int,
    floor: dict[str, Any] | None = None,
) -> str:
    """The figures as the table docs/suites.md shows (needs the serial profile)."""
    lines = [
        f"Written by `python bench/suites.py --rounds {rounds}"
        f"{' --upstream' if 'upstream' in figures else ''}{' --floor' if floor else ''}"
        " --update-docs` on"
        f" {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (embedded {nodes}-node cluster; {rounds}"
        f" round{'s' if rounds > 1 else ''} of each profile, one after another).",
        "",
        "| profile | exit | " + " | ".join(OUTCOMES) + " | wall: median (min-max) | pytest"
        " processes' CPU | machine busy CPU | reference loop |",
        "|---|---|" + "---|" * len(OUTCOMES) + "---|---|---|---|",
    ]
    for name, figure in figures.items():
        if name == "upstream":
            continue
        runs = cast(list[dict[str, Any]], figure["runs"])
        walls = [r["seconds"] for r in runs]
        exits = ",".join(sorted({str(r["exit"]) for r in runs}))
        counts = " | ".join(str(runs[0][o]) for o in OUTCOMES)
        runner = statistics.median(r["runner_cpu_s"] for r in runs)
        machine = statistics.median(r["machine_cpu_s"] for r in runs)
        reference = statistics.median(r["reference_s"] for r in runs)
        lines.append(
            f"| {name} | {exits} | {counts} | {figure['median_s']} s ({min(walls)}-{max(walls)})"
            f" | {runner:.1f} s | {machine:.1f} s | {reference:.2f} s |"
        )
    references = [
        cast(float, one["reference_s"])
        for figure in figures.values()
        for one in cast(list[dict[str, Any]], figure["runs"])
    ]
    lines += [
        "",
        f"The reference loop took {min(references)}-{max(references)} s before these runs.",
    ]
    if "upstream" in figures:
        theirs = cast(list[dict[str, Any]], figures["upstream"]["runs"])[0]
        lines += [
            "",
            f"Upstream e2e, the {theirs['specs_focused']} specs that overlap G2/G3"
            f" (bench/upstream.py), `ginkgo --procs={theirs['procs']}` on the same cluster:"
            f" {theirs['ran']} ran, {theirs['passed']} passed, {theirs['seconds']} s wall,"
            f" {figures['upstream'].get('ratio_to_xdist_2')} x our `-n 2` median wall time"
            f" (reference loop before it: {theirs['reference_s']} s).",
        ]
    serial = cast(list[dict[str, Any]], figures["serial"]["runs"])[0]
    spent: dict[str, float] = serial["phases_s"]
    checks = serial["checks_s"]
    lines += [
        "",
        f"Where the first serial run's time went: {serial['seconds']} s wall, of which {checks} s"
        f" in the checks and {round(serial['seconds'] - checks, 1)} s outside any check (the"
        " plugin's own overhead: the interpreter, pytest and the plugin starting, preflight,"
        " collection, the verdict). Seconds per phase, summed over the checks (`rest`: the"
        " check's own code, its namespace's set-up and the fixtures):",
        "",
        "| phase | seconds | share of the checks' time |",
        "|---|---|---|",
        *(
            f"| {phase} | {seconds} | {100 * seconds / checks:.0f}% |"
            for phase, seconds in spent.items()
        ),
    ]
    if floor:
        lines += ["", floor_markdown(floor)]
    return "\n".join(lines)


def floor_markdown(floor: dict[str, Any]) -> str:
    """The floor under a replacement check (bench/pod_floor.py), as one paragraph."""

    def spread(name: str) -> str:
        figure = floor[name]
        return f"{figure['median']} s ({figure['min']}-{figure['max']})"

    return (
        "The floor under the create -> Ready and actions phases, measured on the same cluster"
        f" before the runs (bench/pod_floor.py, {floor['samples']} Pods of each kind, one at a"
        f" time on {floor['node']}; median (min-max)): one netexec Pod's create -> Ready"
        f" {spread('create_to_ready_s')}; delete -> gone {spread('delete_to_gone_at_ready_s')}"
        " when deleted as it turns Ready, as a check does, and"
        f" {spread('delete_to_gone_settled_s')} when deleted 1 s later: the kubelet begins a"
        " Pod's next sync only once a runtime relist (once a second) is newer than its last sync"
        " (`pod_workers.go`, `GetNewerThan`). Every replacement (`podnet.delete_pod`,"
        " `replace`, `scale`) waits for the old Pod to be gone and its replacement Ready, so a"
        " check that replaces its Pods once spends at least the first two."
    )


def update_docs(table: str, begin: str = BEGIN, end_marker: str = END) -> None:
    text = DOCS.read_text()
    start, end = text.index(begin) + len(begin), text.index(end_marker)
    DOCS.write_text(text[:start] + "\n" + table + "\n" + text[end:])


def scale(node_counts: list[int]) -> list[dict[str, object]]:
    """The full suites with ``-n 2`` on a fresh local cluster of each size (taken down after)."""
    from pytest_podnet.localcluster import cluster

    rows: list[dict[str, object]] = []
    try:
        for nodes in node_counts:
            cluster.down()
            kubeconfig = str(cluster.up(nodes))
            rows.append({"nodes": nodes, **run(kubeconfig, PROFILES["xdist-2"])})
    finally:
        cluster.down()
    return rows


def scale_markdown(rows: list[dict[str, object]]) -> str:
    first = cast(float, rows[0]["seconds"]) / cast(int, rows[0]["nodes"])
    lines = [
        f"Written by `python bench/suites.py --scale {','.join(str(r['nodes']) for r in rows)}"
        f" --update-docs` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC (a fresh embedded cluster"
        " of each size, the full suites with `-n 2`, one round each).",
        "",
        "| nodes | exit | PASS | FAIL | NOT VERIFIED | wall | wall / nodes, relative to the"
        f" first | node pairs of `{CROSS_NODE}` | reference loop |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        per_node = cast(float, row["seconds"]) / cast(int, row["nodes"])
        pairs = cast(dict[str, int], row["node_pairs"]).get(CROSS_NODE, "-")
        lines.append(
            f"| {row['nodes']} | {row['exit']} | {row['PASS']} | {row['FAIL']} |"
            f" {row['NOT VERIFIED']} | {row['seconds']} s | {per_node / first:.2f} | {pairs} |"
            f" {row['reference_s']} s |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--pause",
        type=float,
        default=30.0,
        help="seconds of rest before each run, so none starts while the last one's namespaces"
        " are still being deleted (default 30)",
    )
    parser.add_argument("--kubeconfig")
    parser.add_argument("--nodes", type=int, default=2, help="nodes of a local cluster we start")
    parser.add_argument("--profiles", default=",".join(PROFILES), help="comma-separated")
    parser.add_argument("--upstream", action="store_true", help="also the upstream e2e specs")
    parser.add_argument(
        "--floor", action="store_true", help="also the floor under a replacement check, first"
    )
    parser.add_argument(
        "--scale", help="instead: `-n 2` on a fresh local cluster of each size, e.g. 2,4,6"
    )
    parser.add_argument(
        "--update-docs", action="store_true", help="also write the table into docs/suites.md"
    )
    args = parser.parse_args()
    if args.scale:
        rows = scale([int(n) for n in args.scale.split(",")])
        print(json.dumps(rows, indent=2))
        if args.update_docs:
            update_docs(scale_markdown(rows), SCALE_BEGIN, SCALE_END)
        return
    started_here = False
    kubeconfig = args.kubeconfig
    if kubeconfig is None:
        from pytest_podnet.localcluster import cluster

        path, started_here = cluster.ensure_up(args.nodes)
        topology = cluster.current_topology()
        if topology is not None and topology.node_count != args.nodes:
            sys.exit(f"the running local cluster has {topology.node_count} nodes, not {args.nodes}")
        kubeconfig = str(path)
    figures: dict[str, dict[str, object]] = {}
    floor: dict[str, Any] | None = None
    try:
        if args.floor:
            import pod_floor

            floor = pod_floor.measure(kubeconfig)
        for name in args.profiles.split(","):
            extra = PROFILES[name]
            runs = []
            for _ in range(args.rounds):
                # Every run starts from a settled cluster: the last one's namespaces gone.
                time.sleep(args.pause)
                runs.append(run(kubeconfig, extra))
            figures[name] = {
                "median_s": statistics.median(cast(float, r["seconds"]) for r in runs),
                "runs": runs,
            }
        if args.upstream:
            import upstream

            reference = reference_seconds()
            upstream_run = {**upstream.run(kubeconfig, procs=2), "reference_s": reference}
            figures["upstream"] = {"runs": [upstream_run]}
            ours = figures.get("xdist-2", {}).get("median_s")
            theirs = cast(float, upstream_run["seconds"])
            if ours:
                figures["upstream"]["ratio_to_xdist_2"] = round(theirs / cast(float, ours), 2)
    finally:
        if started_here:
            cluster.down()
    print(json.dumps({**figures, "floor": floor} if floor else figures, indent=2))
    if args.update_docs:
        update_docs(markdown(figures, args.nodes, args.rounds, floor))


if __name__ == "__main__":
    main()
