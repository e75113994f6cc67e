"""Benchmark the embedded cluster: build time, `up` and `down` time, memory of a running cluster.

    sudo python bench/cluster.py [--cold] [--rounds N]

`--cold` rebuilds every component with an empty, temporary Go build cache (the module cache stays:
downloads are not what we measure). Figures print as one JSON object; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from pytest_podnet.localcluster import build, cluster, procs


def timed(action: object) -> float:
    started = time.monotonic()
    action()  # type: ignore[operator]
    return time.monotonic() - started


def cold_build_seconds() -> float:
    with tempfile.TemporaryDirectory(prefix="podnet-gocache-") as cache:
        os.environ["GOCACHE"] = cache
        try:
            return timed(lambda: build.build(force=True))
        finally:
            del os.environ["GOCACHE"]


def cluster_memory_mib() -> float:
    """Resident memory of every cluster daemon plus its Pods' processes (RSS, MiB)."""
    total = 0
    for daemon in procs.recorded():
        status = Path(f"/proc/{daemon.pid}/status")
        if status.exists():
            for line in status.read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true", help="also measure a cold component build")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if cluster.is_running():
        cluster.down()
    figures: dict[str, object] = {}
    if args.cold:
        figures["cold_build_s"] = round(cold_build_seconds(), 1)
    figures["warm_build_s"] = round(timed(lambda: build.build(force=True)), 1)
    figures["noop_build_s"] = round(timed(build.build), 2)
    ups, downs, memory = [], [], []
    for _ in range(args.rounds):
        ups.append(timed(lambda: cluster.up(2)))
        memory.append(cluster_memory_mib())
        downs.append(timed(cluster.down))
    figures["up_s"] = {
        "median": round(statistics.median(ups), 1),
        "all": [round(u, 1) for u in ups],
    }
    figures["down_s"] = {
        "median": round(statistics.median(downs), 1),
        "all": [round(d, 1) for d in downs],
    }
    figures["running_cluster_rss_mib"] = round(statistics.median(memory))
    figures["go_build_cache_gib"] = (
        round(
            int(
                subprocess.run(
                    ["du", "-sb", os.path.expanduser("~/.cache/go-build")],
                    capture_output=True,
                    text=True,
                ).stdout.split()[0]
            )
            / 2**30,
            2,
        )
        if shutil.which("du")
        else None
    )
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
