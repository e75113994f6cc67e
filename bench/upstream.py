"""The upstream e2e specs that overlap our G2/G3 checks, built from the pinned release and run
on the same cluster: what bench/suites.py --upstream sets beside our own wall time.

    sudo .venv/bin/python bench/upstream.py [--kubeconfig PATH] [--procs 2]

``e2e.test`` (``go test -c k8s.io/kubernetes/test/e2e``) and the ginkgo CLI come from the Go
module in bench/upstream-gomod/ (the embedded cluster's pinned Kubernetes release) through the
module proxy, and are cached under ~/.cache/pytest-podnet/<version>/e2e/ like the cluster's
binaries (a first build took 10 min 23 s on 2 cores with warm module caches). The specs use
agnhost 2.63.0 and pause 3.10.2, the very images the embedded cluster imports, so nothing is
pulled. Prints one JSON object; asserts nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from pytest_podnet.localcluster import paths

ROOT = Path(__file__).resolve().parents[1]
MODULE = ROOT / "bench" / "upstream-gomod"
STAMP = "stamp.json"

#: The upstream specs whose guarantees G2 and G3 check too (full ginkgo texts, one regex each).
SPECS = (
    r"\[sig-network\] NoSNAT Should be able to send traffic between Pods without SNAT",
    r"\[sig-network\] Services should preserve source pod IP for traffic thru service cluster IP",
    r"\[sig-network\] Networking Granular Checks: Pods should function for intra-pod"
    r" communication: (http|udp)",
    r"\[sig-network\] Networking Granular Checks: Pods should function for node-pod"
    r" communication: (http|udp)",
    r"\[sig-network\] Networking Granular Checks: Services should update endpoints: (http|udp)",
    r"\[sig-network\] EndpointSlice should create and delete EndpointSlices for a Service with a"
    r" selector that matches no pods",
    r"\[sig-network\] EndpointSlice should create Endpoints and EndpointSlices for Pods matching"
    r" a Service",
    r"\[sig-network\] EndpointSlice should support a Service with multiple ports specified in"
    r" multiple EndpointSlices",
    r"\[sig-network\] EndpointSlice should support a Service with multiple endpoint IPs specified"
    r" in multiple EndpointSlices",
    r"\[sig-network\] EndpointSliceMirroring should mirror a custom Endpoints resource through"
    r" create update and delete",
)
#: Any of SPECS, to tell their JUnit cases from the suite's own set-up and tear-down nodes.
FOCUSED = re.compile("|".join(SPECS))
#: How many specs SPECS names (a regex with (http|udp) names two).
SPEC_COUNT = 13


def cache_dir() -> Path:
    return paths.bin_dir().parent / "e2e"


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "tools.go"):
        digest.update((MODULE / name).read_bytes())
    return digest.hexdigest()


def build() -> Path:
    """``e2e.test`` and ``ginkgo`` in the cache, built unless the module is unchanged."""
    target = cache_dir()
    stamp = target / STAMP
    if (
        stamp.exists()
        and json.loads(stamp.read_text()).get("inputs") == _inputs_digest()
        and (target / "e2e.test").exists()
        and (target / "ginkgo").exists()
    ):
        return target
    target.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CGO_ENABLED": "0"}
    started = time.monotonic()
    e2e, ginkgo = "k8s.io/kubernetes/test/e2e", "github.com/onsi/ginkgo/v2/ginkgo"
    for command in (
        ["go", "test", "-c", "-trimpath", "-o", str(target / "e2e.test"), e2e],
        ["go", "build", "-trimpath", "-o", str(target / "ginkgo"), ginkgo],
    ):
        print(f"upstream: {' '.join(command)}", file=sys.stderr)
        subprocess.run(command, cwd=MODULE, env=env, check=True)
    stamp.write_text(
        json.dumps({"inputs": _inputs_digest(), "seconds": round(time.monotonic() - started, 1)})
    )
    return target


def schedulable_nodes(kubeconfig: str) -> int:
    """The Ready, schedulable nodes of the cluster (what the e2e framework counts)."""
    from pytest_podnet import kube
    from pytest_podnet.nodes import testable

    cluster = kube.Cluster.connect(kubeconfig, None, connect_timeout=10)
    return len(testable(cluster.nodes()))


def run(kubeconfig: str, procs: int = 2) -> dict[str, object]:
    """The SPECS with ``ginkgo --procs``: wall time and the spec counts of its JUnit report."""
    binaries = build()
    nodes = schedulable_nodes(kubeconfig)
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            str(binaries / "ginkgo"),
            f"--procs={procs}",
            f"--focus={FOCUSED.pattern}",
            "--no-color",
            "--timeout=30m",
            str(binaries / "e2e.test"),
            "--",
            f"--kubeconfig={kubeconfig}",
            "--provider=skeleton",
            # Without it only ginkgo's first process learns the node count (in its suite set-up):
            # on the others specs that need two nodes skip themselves ("Requires at least 2
            # nodes (not -1)"), so which specs ran changed with where ginkgo put them (11 or 12
            # of the 13 seen, in 63 s or 141 s).
            f"--num-nodes={nodes}",
            f"--kubectl-path={paths.bin_dir() / 'kubectl'}",
            f"--report-dir={scratch}",
        ]
        started = time.monotonic()
        completed = subprocess.run(command, cwd=scratch, capture_output=True, text=True)
        seconds = time.monotonic() - started
        counts = _junit_counts(Path(scratch))
    return {
        "seconds": round(seconds, 1),
        "exit": completed.returncode,
        "procs": procs,
        "num_nodes": nodes,
        "specs_focused": SPEC_COUNT,
        **counts,
        "tail": completed.stdout[-1500:] if completed.returncode else "",
    }


def _junit_counts(report_dir: Path) -> dict[str, object]:
    """Specs that ran, passed, failed and were skipped, from ginkgo's JUnit report(s)."""
    ran, failed, names = 0, 0, []
    for junit in sorted(report_dir.glob("junit*.xml")):
        for case in ET.parse(junit).getroot().iter("testcase"):
            status = case.get("status", "")
            if status in ("skipped", "pending") or case.find("skipped") is not None:
                continue
            name = case.get("name", "")
            if not FOCUSED.search(name):
                continue
            ran += 1
            names.append(name)
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
    return {"ran": ran, "passed": ran - failed, "failed": failed, "specs": sorted(names)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig")
    parser.add_argument("--procs", type=int, default=2)
    args = parser.parse_args()
    kubeconfig = args.kubeconfig or str(paths.admin_kubeconfig())
    print(json.dumps(run(kubeconfig, args.procs), indent=2))


if __name__ == "__main__":
    main()
