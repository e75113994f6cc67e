"""The conformance suites on each dataplane variant of the embedded cluster: verdict per guarantee.

    sudo .venv/bin/python bench/variants.py [--variants bridge/iptables,flannel/nftables,...]
        [--update-docs]

A variant is CNI/PROXY-MODE[/IP-FAMILY]. For each: `podnet cluster down`, `up --cni CNI
--proxy-mode MODE --ip-family FAMILY`, the packaged suites with `-n 2` and a JSON verdict, the
`snat-pod-traffic` fault (and on dual-stack `snat-pod-traffic-ipv6`) on the G2 source-IP
checks, `down`. Prints one table (variant x guarantee, checks passed, wall time, how
Pod traffic crossed between nodes, SNAT caught) and with --update-docs writes it into
docs/variants.md. Asserts nothing; leaves the cluster down. Hold the cluster lock
(`flock -x /tmp/podnet-cluster.lock ...`) when others share the machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_podnet.localcluster import cluster, faults, flannel, procs
from pytest_podnet.localcluster.topology import CNIS, IP_FAMILIES, PROXY_MODES, Topology

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "variants.md"
BEGIN, END = "<!-- bench/variants.py begin -->", "<!-- bench/variants.py end -->"
#: The checks the SNAT fault breaks, selected with -k.
SNAT_SELECTION = "keeps_the_sender or keeps_the_client"


@dataclass
class Variant:
    dataplane: str
    seconds: float = 0.0
    verdicts: dict[str, str] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)
    snat_caught: str = ""
    crossing: str = ""


def suites(kubeconfig: Path, report: Path, *extra: str) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--podnet",
            f"--podnet-kubeconfig={kubeconfig}",
            f"--podnet-report={report}",
            "-p",
            "no:cacheprovider",
            "-q",
            "-n",
            "2",
            str(ROOT / "suites"),
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    return json.loads(report.read_text()), time.monotonic() - started


def vxlan_packets(topology: Topology) -> int:
    """Packets sent through the flannel VXLAN device, summed over the nodes."""
    total = 0
    for n in topology.nodes:
        link = procs.run(["ip", "-s", "-j", "link", "show", flannel.VXLAN_DEVICE], netns=n.netns)
        total += json.loads(link)[0]["stats64"]["tx"]["packets"]
    return total


def measure(cni: str, mode: str, family: str, scratch: Path) -> Variant:
    cluster.down()
    kubeconfig = cluster.up(2, proxy_mode=mode, cni=cni, ip_family=family)
    topology = Topology(2, mode, cni, family)
    try:
        before = vxlan_packets(topology) if cni == "flannel" else 0
        healthy, seconds = suites(kubeconfig, scratch / f"{cni}-{mode}-{family}.json")
        variant = Variant(topology.dataplane, seconds)
        if cni == "flannel":
            sent = vxlan_packets(topology) - before
            variant.crossing = f"VXLAN `{flannel.VXLAN_DEVICE}`, {sent} packets"
        else:
            variant.crossing = "plain routes"
        for g in healthy["guarantees"]:
            variant.verdicts[g["guarantee"]] = g["verdict"]
        for check in healthy["checks"]:
            variant.outcomes[check["outcome"]] = variant.outcomes.get(check["outcome"], 0) + 1
        caught = []
        snat = ["snat-pod-traffic", "snat-pod-traffic-ipv6"] if topology.dual_stack else []
        for fault in snat or ["snat-pod-traffic"]:
            faults.main("add", fault, None)
            try:
                faulted, _ = suites(kubeconfig, scratch / f"{fault}.json", "-k", SNAT_SELECTION)
            finally:
                faults.main("remove", fault, None)
            checks = faulted["checks"]
            failed = sum(c["outcome"] == "FAIL" for c in checks)
            caught.append(
                f"{fault}: {failed}/{len(checks)} failed"
                if snat
                else f"{failed}/{len(checks)} failed"
            )
        variant.snat_caught = "; ".join(caught)
        return variant
    finally:
        cluster.down()


def table(variants: list[Variant], command: str) -> str:
    guarantees = sorted({g for v in variants for g in v.verdicts})
    lines = [
        f"From `{command}` (suites with `-n 2`; between nodes: how Pod traffic crossed during"
        " the suites, with the packets the nodes sent through the VXLAN device; SNAT: the"
        " `snat-pod-traffic` fault, and on dual-stack also `snat-pod-traffic-ipv6`, on the four"
        " G2 source-IP checks).",
        "",
        f"| variant | {' | '.join(guarantees)} | checks | wall s | between nodes | SNAT caught |",
        f"|---|{'---|' * len(guarantees)}---|---|---|---|",
    ]
    for v in variants:
        counts = ", ".join(f"{n} {o}" for o, n in sorted(v.outcomes.items()))
        cells = " | ".join(v.verdicts.get(g, "-") for g in guarantees)
        lines.append(
            f"| {v.dataplane} | {cells} | {counts} | {v.seconds:.1f} | {v.crossing}"
            f" | {v.snat_caught} |"
        )
    return "\n".join(lines)


def update_docs(text: str) -> None:
    doc = DOCS.read_text()
    block = f"{BEGIN}\n{text}\n{END}"
    DOCS.write_text(doc[: doc.index(BEGIN)] + block + doc[doc.index(END) + len(END) :])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    every = ",".join([*(f"{c}/{m}" for c in CNIS for m in PROXY_MODES), "bridge/iptables/dual"])
    parser.add_argument(
        "--variants", default=every, help=f"CNI/PROXY-MODE[/IP-FAMILY] list (default {every})"
    )
    parser.add_argument("--update-docs", action="store_true", help="write docs/variants.md")
    options = parser.parse_args(argv)
    given = [v.split("/") for v in options.variants.split(",") if v]
    chosen = [[*v, IP_FAMILIES[0]][:3] for v in given]
    if any(len(v) not in (2, 3) for v in given) or any(
        v[0] not in CNIS or v[1] not in PROXY_MODES or v[2] not in IP_FAMILIES for v in chosen
    ):
        parser.error(
            f"a variant is CNI/PROXY-MODE[/IP-FAMILY]: {CNIS}, {PROXY_MODES}, {IP_FAMILIES}"
        )
    with tempfile.TemporaryDirectory() as scratch:
        variants = [measure(cni, mode, family, Path(scratch)) for cni, mode, family in chosen]
    command = "python bench/variants.py " + " ".join(argv or sys.argv[1:])
    text = table(variants, command.strip())
    print(text)
    if options.update_docs:
        update_docs(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
