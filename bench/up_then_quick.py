"""Fresh clusters get a full verdict: `cluster down && cluster up`, then at once the quick profile.

    python bench/up_then_quick.py [--cycles 10]

Each cycle takes the embedded cluster down, brings it up with two nodes, and runs
`pytest --podnet --podnet-quick` right after `up` returns. A node that `up` handed over while it
still carried the not-ready taint would show here as "testing 1 node(s)" and a skipped cross-node
check. Prints one table row per cycle and a summary line; asserts nothing (not a timed test).
Needs root, like the cluster; leaves the cluster up at the end.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CROSS_NODE = "test_pod_to_pod_traffic_keeps_the_sender_pod_ip[cross-node]"
PODNET = [sys.executable, "-c", "import sys; from pytest_podnet.cli import main; sys.exit(main())"]


def podnet(*args: str) -> None:
    subprocess.run([*PODNET, *args], check=True, cwd=ROOT, capture_output=True)


def cycle(kubeconfig: str) -> dict[str, object]:
    started = time.monotonic()
    podnet("cluster", "down")
    podnet("cluster", "up", "--nodes", "2")
    up_s = time.monotonic() - started
    with tempfile.TemporaryDirectory() as scratch:
        report = Path(scratch) / "verdict.json"
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "--podnet",
                f"--podnet-kubeconfig={kubeconfig}",
                "--podnet-quick",
                f"--podnet-report={report}",
                "-p",
                "no:cacheprovider",
                str(ROOT / "suites"),
            ],
            capture_output=True,
            text=True,
            cwd=scratch,
            check=False,
        )
        document = json.loads(report.read_text())
    tested = re.search(r"podnet: testing (\d+) node", run.stdout)
    outcomes = {c["nodeid"].rsplit("::", 1)[-1]: c["outcome"] for c in document["checks"]}
    return {
        "up_s": round(up_s, 1),
        "nodes_tested": int(tested.group(1)) if tested else None,
        "cross_node": outcomes.get(CROSS_NODE, "absent"),
        "verdicts": "/".join(g["verdict"] for g in document["guarantees"]),
        "exit": run.returncode,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=10)
    args = parser.parse_args()
    kubeconfig = subprocess.run(
        [*PODNET, "cluster", "kubeconfig"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    rows = []
    print("cycle  up_s  nodes_tested  cross_node  verdicts (G1/G2/G3)      exit")
    for i in range(1, args.cycles + 1):
        row = cycle(kubeconfig)
        rows.append(row)
        print(
            f"{i:5}  {row['up_s']:4}  {row['nodes_tested']!s:12}  {row['cross_node']!s:10}  "
            f"{row['verdicts']!s:23}  {row['exit']}",
            flush=True,
        )
    full = sum(r["nodes_tested"] == 2 and r["cross_node"] == "PASS" for r in rows)
    print(f"{full} of {len(rows)} cycles tested 2 nodes and ran the cross-node check")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
