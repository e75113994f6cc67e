"""Helpers the conformance suites share: node-pair matrices and probe convergence.

Everything here is built on the ``podnet`` façade only; it knows no client and no cluster.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import pytest

from pytest_podnet import probes
from pytest_podnet.kube import PodInfo, ServiceInfo
from pytest_podnet.probes import ProbeResult

#: Marks of a node-pair matrix cell.
OK = "."
NATED = "N"
UNREACHABLE = "X"
NOT_COVERED = "-"
LEGEND = (
    f"({OK} source IP kept, {NATED} source IP rewritten (NAT), {UNREACHABLE} unreachable, "
    f"{NOT_COVERED} pair not covered by this check)"
)

Receiver = PodInfo | ServiceInfo
Pairs = Sequence[tuple[str, str]]


def ip_family(ip: str) -> str:
    """``IPv4`` or ``IPv6``."""
    return f"IPv{ipaddress.ip_address(ip).version}"


def address(obj: Receiver, family: str) -> str | None:
    """The Pod IP or ClusterIP of ``obj`` in ``family``, or None."""
    candidates = obj.ips if isinstance(obj, PodInfo) else obj.cluster_ips
    return next((ip for ip in candidates if ip_family(ip) == family), None)


#: Which ordered (source node, destination node) pairs a check covers.
SCOPES: Mapping[str, Callable[[Sequence[str]], list[tuple[str, str]]]] = {
    # Sender and receiver on one node: traffic crosses the node's bridge, never a wire.
    "same-node": lambda nodes: [(n, n) for n in nodes],
    # Every ordered pair of two different nodes: traffic crosses the node network.
    "cross-node": lambda nodes: [(s, d) for s in nodes for d in nodes if s != d],
    "every-pair": lambda nodes: [(s, d) for s in nodes for d in nodes],
}


@dataclass
class PairMatrix:
    """One outcome per ordered (source node, destination node) pair of one kind of traffic.

    A pairwise guarantee checks every pair first and then fails once, with this matrix, instead of
    stopping at the first broken pair.
    """

    what: str
    nodes: Sequence[str]
    expect_source: bool = True
    marks: dict[tuple[str, str], str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def add(self, src: str, dst: str, mark: str, finding: str | None = None) -> None:
        self.marks[(src, dst)] = mark
        if finding:
            self.findings.append(f"{src} -> {dst}: {finding}")

    def judge(
        self, src: str, dst: str, sender: PodInfo, expected: str | None, result: ProbeResult
    ) -> None:
        """Mark one pair from the probe that crossed it (``expected``: the sender's IP)."""
        if result.outcome != probes.REACHABLE:
            self.add(src, dst, UNREACHABLE, f"{result} (sender {sender.ref} {expected})")
        elif self.expect_source and result.seen_ip != expected:
            self.add(
                src,
                dst,
                NATED,
                f"{result.target_ref} ({result.target}) saw source {result.seen_ip}, expected "
                f"the sender {sender.ref} Pod IP {expected}",
            )
        else:
            self.add(src, dst, OK)

    @property
    def nated(self) -> int:
        return sum(mark == NATED for mark in self.marks.values())

    @property
    def unreachable(self) -> int:
        return sum(mark == UNREACHABLE for mark in self.marks.values())

    @property
    def broken(self) -> bool:
        return bool(self.nated or self.unreachable)

    def rows(self) -> list[str]:
        """The matrix as text lines, ``src node \\ dst node`` in the corner."""
        corner = "src node \\ dst node"
        first = max(len(corner), *(len(n) for n in self.nodes))
        width = max(len(n) for n in self.nodes)
        lines = ["  ".join([corner.ljust(first), *(n.ljust(width) for n in self.nodes)]).rstrip()]
        for src in self.nodes:
            cells = [self.marks.get((src, dst), NOT_COVERED).ljust(width) for dst in self.nodes]
            lines.append("  ".join([src.ljust(first), *cells]).rstrip())
        return lines

    def headline(self) -> str:
        total = len(self.marks)
        parts = []
        if self.nated:
            parts.append(f"{self.nated} of {total} node pairs rewrote the source IP")
        if self.unreachable:
            parts.append(f"{self.unreachable} of {total} node pairs unreachable")
        return f"G2: {', '.join(parts) or f'all {total} node pairs ok'} [{self.what}]"

    def __str__(self) -> str:
        return "\n".join(
            [self.headline(), *self.rows(), LEGEND, *(f"  {f}" for f in self.findings)]
        )


@dataclass(frozen=True)
class PairMatrices:
    """The matrices of one check: one per protocol and IP family."""

    matrices: tuple[PairMatrix, ...]

    @property
    def broken(self) -> list[PairMatrix]:
        return [m for m in self.matrices if m.broken]

    @property
    def pairs(self) -> int:
        """Distinct (source node, destination node) pairs covered."""
        return len({pair for m in self.matrices for pair in m.marks})

    def __str__(self) -> str:
        return "\n\n".join(str(m) for m in (self.broken or self.matrices))


@pytest.fixture
def placement(podnet) -> str:
    """Where a check's echo replicas go: one per node (``spread``) on a cluster with two
    schedulable nodes or more, all on the one node (``same-node``) otherwise, so the G1 and G3
    checks also run on a one-node cluster."""
    return "spread" if len(podnet.nodes()) > 1 else "same-node"


@pytest.fixture
def make_pair_matrices(podnet):
    """Probe ``/clientip`` across node pairs; return ``PairMatrices``, one per protocol and family.

    ``senders`` and ``receivers`` map a node name to the Pod (or, for receivers, the Service
    whose one backend runs there) on that node; ``scope`` names the pairs to cover (``SCOPES``).
    Every pair is probed before anything is judged; one exec per sender, protocol and family
    carries all of that sender's probes. Pods are probed in every IP family of the cluster (a Pod
    without an address in one counts as unreachable in it), Services in the families they have.
    With ``converge`` (a deadline name, for a Service the dataplane may still be programming), a
    sender's batch is repeated while any pair is unreachable, up to that deadline; an answer,
    right or wrong, is never retried.
    """

    def make(
        senders: Mapping[str, PodInfo],
        receivers: Mapping[str, Receiver],
        scope: str,
        *,
        what: str,
        protocols: Sequence[str] = (probes.HTTP, probes.UDP),
        expect_source: bool = True,
        converge: str | None = None,
    ) -> PairMatrices:
        nodes = sorted(set(senders) | set(receivers))
        pairs = SCOPES[scope](nodes)
        # The nodes' Pod CIDRs name the families, unless the CNI ignores them: then the
        # senders' own addresses do.
        seen = {ip_family(ip) for pod in senders.values() for ip in pod.ips}
        families = sorted(set(podnet.ip_families()) | seen)
        if any(isinstance(r, ServiceInfo) for r in receivers.values()):
            families = [f for f in families if all(address(r, f) for r in receivers.values())]
        assert pairs, f"G2: no {scope} node pair among schedulable nodes {nodes}"
        assert families, f"G2: no IP family to probe {what} in: {dict(receivers)}"
        matrices = []
        for protocol in protocols:
            for family in families:
                title = f"{what}, {scope}, {protocol} /clientip, {family}"
                matrix = PairMatrix(title, nodes, expect_source)
                for src, sender in senders.items():
                    row = _row(matrix, src, sender, receivers, pairs, protocol, family)
                    _probe_row(podnet, matrix, src, sender, row, family, converge)
                podnet.record(f"matrix {title}", matrix.rows())
                matrices.append(matrix)
        return PairMatrices(tuple(matrices))

    return make


def _row(
    matrix: PairMatrix,
    src: str,
    sender: PodInfo,
    receivers: Mapping[str, Receiver],
    pairs: Pairs,
    protocol: str,
    family: str,
) -> list[tuple[str, probes.Probe]]:
    """The probes from ``sender`` on ``src`` to every receiver it pairs with in ``family``."""
    expected = address(sender, family)
    targets: list[tuple[str, probes.Probe]] = []
    for dst in (d for s, d in pairs if s == src):
        ip = address(receivers[dst], family)
        if ip is None or expected is None:
            missing = receivers[dst].ref if ip is None else sender.ref
            matrix.add(src, dst, UNREACHABLE, f"{missing} has no {family} address")
            continue
        base = probes.probe_for(receivers[dst], protocol, probes.CLIENTIP)
        targets.append((dst, replace(base, ip=ip)))
    return targets


def _probe_row(
    podnet,
    matrix: PairMatrix,
    src: str,
    sender: PodInfo,
    targets: list[tuple[str, probes.Probe]],
    family: str,
    converge: str | None,
) -> None:
    if not targets:
        return
    results = podnet.probe(from_=sender, to=[probe for _, probe in targets], converge=converge)
    for (dst, _), result in zip(targets, results, strict=True):
        matrix.judge(src, dst, sender, address(sender, family), result)
