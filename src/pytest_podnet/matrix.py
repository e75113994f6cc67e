"""Node-pair matrices: one outcome per ordered (source node, destination node) pair.

A pairwise guarantee (G2: "every Pod reaches every Pod, on every node, without NAT") probes every
pair first and then fails once, with a matrix, instead of stopping at the first broken pair::

    2 of 4 node pairs rewrote the source IP [pod -> pod, cross-node, http /clientip, IPv4]
    src node \\ dst node  podnet-node-1  podnet-node-2
    podnet-node-1        -              N
    podnet-node-2        N              -

What a reachable pair must show beyond an answer is the check's ``expect``: a named predicate on
one ``Crossing`` (``source_is_sender_pod_ip`` for "no NAT", ``any_source`` for reachability
only). ``probe_pairs`` needs only a function that runs one sender's probes, so this module is
pure and unit-tested offline; the façade's ``podnet.probe_pairs`` hands it real probes.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Final, Literal

from pytest_podnet import probes
from pytest_podnet.kube import PodInfo, ServiceInfo
from pytest_podnet.outcomes import NotVerified
from pytest_podnet.probes import Probe, ProbeResult

#: Marks of a node-pair matrix cell.
OK: Final = "."
NATED: Final = "N"
UNREACHABLE: Final = "X"
NOT_COVERED: Final = "-"
LEGEND: Final = (
    f"({OK} source IP kept, {NATED} source IP rewritten (NAT), {UNREACHABLE} unreachable, "
    f"{NOT_COVERED} pair not covered by this check)"
)

Mark = Literal[".", "N", "X", "-"]
Family = Literal["IPv4", "IPv6"]
#: Which ordered (source node, destination node) pairs a check covers.
Scope = Literal["same-node", "cross-node", "every-pair"]
#: What receives a pair's probe: a Pod, or a Service whose one backend runs on that node.
Receiver = PodInfo | ServiceInfo
#: Runs one sender's probes in one exec; results in probe order. Called from several threads
#: at once (one per sender).
ProbeRunner = Callable[[PodInfo, Sequence[Probe]], Sequence[ProbeResult]]


def pairs_in(scope: Scope, nodes: Sequence[str]) -> list[tuple[str, str]]:
    """The ordered node pairs ``scope`` covers among ``nodes``.

    ``same-node``: sender and receiver on one node (traffic crosses the node's bridge, never a
    wire); ``cross-node``: every ordered pair of two different nodes (traffic crosses the node
    network); ``every-pair``: both.
    """
    if scope == "same-node":
        return [(n, n) for n in nodes]
    if scope == "cross-node":
        return [(s, d) for s in nodes for d in nodes if s != d]
    if scope == "every-pair":
        return [(s, d) for s in nodes for d in nodes]
    raise ValueError(f"scope {scope!r}: use 'same-node', 'cross-node' or 'every-pair'")


def ip_family(ip: str) -> Family:
    """``IPv4`` or ``IPv6``."""
    return "IPv4" if ipaddress.ip_address(ip).version == 4 else "IPv6"


def address(obj: Receiver, family: str) -> str | None:
    """The Pod IP or ClusterIP of ``obj`` in ``family``, or None."""
    candidates = obj.ips if isinstance(obj, PodInfo) else obj.cluster_ips
    return next((ip for ip in candidates if ip_family(ip) == family), None)


@dataclass(frozen=True)
class Crossing:
    """One probe that crossed one node pair: who sent it from which address, what came back."""

    src: str
    dst: str
    sender: PodInfo
    sender_ip: str
    result: ProbeResult


#: What a reachable pair must show: True when ``crossing`` keeps the guarantee.
Expectation = Callable[[Crossing], bool]


def source_is_sender_pod_ip(crossing: Crossing) -> bool:
    """The receiver saw the sender's own Pod IP as the source: nothing NATed it on the way."""
    return crossing.result.seen_ip == crossing.sender_ip


def any_source(crossing: Crossing) -> bool:
    """Reachability only: any source address will do (a node picks its own, which is not NAT)."""
    return True


@dataclass
class PairMatrix:
    """One outcome per ordered (source node, destination node) pair of one kind of traffic."""

    what: str
    nodes: Sequence[str]
    marks: dict[tuple[str, str], Mark] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def add(self, src: str, dst: str, mark: Mark, finding: str | None = None) -> None:
        self.marks[(src, dst)] = mark
        if finding:
            self.findings.append(f"{src} -> {dst}: {finding}")

    def judge(self, crossing: Crossing, expect: Expectation) -> None:
        """Mark one pair: unreachable, reachable but failing ``expect`` (NATed), or ok."""
        c, result = crossing, crossing.result
        if result.outcome != probes.REACHABLE:
            self.add(c.src, c.dst, UNREACHABLE, f"{result} (sender {c.sender.ref} {c.sender_ip})")
        elif not expect(crossing):
            self.add(
                c.src,
                c.dst,
                NATED,
                f"{result.target_ref} ({result.target}) saw source {result.seen_ip}, expected "
                f"the sender {c.sender.ref} Pod IP {c.sender_ip}",
            )
        else:
            self.add(c.src, c.dst, OK)

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

    def to_json(self) -> dict[str, object]:
        """The matrix as data (the JSON verdict's ``checks[].matrices[]``): ``marks[i][j]`` is
        the mark of the pair (``nodes[i]``, ``nodes[j]``), ``-`` where not covered."""
        return {
            "what": self.what,
            "nodes": list(self.nodes),
            "marks": [
                [self.marks.get((src, dst), NOT_COVERED) for dst in self.nodes]
                for src in self.nodes
            ],
            "findings": list(self.findings),
        }

    def headline(self) -> str:
        total = len(self.marks)
        parts = []
        if self.nated:
            parts.append(f"{self.nated} of {total} node pairs rewrote the source IP")
        if self.unreachable:
            parts.append(f"{self.unreachable} of {total} node pairs unreachable")
        return f"{', '.join(parts) or f'all {total} node pairs ok'} [{self.what}]"

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


def families_to_probe(
    cluster_families: Sequence[str],
    senders: Mapping[str, PodInfo],
    receivers: Mapping[str, Receiver],
) -> list[str]:
    """The IP families a matrix covers: the cluster's (from the nodes' Pod CIDRs) and the
    senders' own (a CNI may ignore the CIDRs); for Services only those every Service has."""
    seen = {ip_family(ip) for pod in senders.values() for ip in pod.ips}
    families = sorted(set(cluster_families) | seen)
    if any(isinstance(r, ServiceInfo) for r in receivers.values()):
        families = [f for f in families if all(address(r, f) for r in receivers.values())]
    return families


def probe_pairs(
    senders: Mapping[str, PodInfo],
    receivers: Mapping[str, Receiver],
    scope: Scope,
    *,
    what: str,
    expect: Expectation,
    families: Sequence[str],
    run: ProbeRunner,
    protocols: Sequence[probes.Protocol] = (probes.HTTP, probes.UDP),
) -> PairMatrices:
    """Probe ``/clientip`` across the ``scope`` pairs; one matrix per protocol and family.

    ``senders`` and ``receivers`` map a node name to the Pod (or Service) on that node. Every
    pair is probed before anything is judged; ``run`` makes one call per sender with all of that
    sender's probes (every protocol and family), the senders' calls side by side. A pair whose
    sender or receiver has no address in a family counts as unreachable in it. Nothing to probe
    (no pair, no family) is ``NotVerified``: the check could not observe, which says nothing
    about the guarantee.
    """
    nodes = sorted(set(senders) | set(receivers))
    pairs = pairs_in(scope, nodes)
    if not pairs:
        raise NotVerified(
            f"no {scope} node pair among the nodes {nodes}",
            "run on a cluster with enough schedulable nodes (see --podnet-node-selector)",
        )
    if not families:
        raise NotVerified(
            f"no IP family to probe {what} in: {dict(receivers)}",
            "give the Pods and Services an address in a common IP family",
        )
    matrices: list[PairMatrix] = []
    #: Per sender node, every probe it makes, with the matrix, family and receiver it is for.
    batches: dict[str, list[tuple[PairMatrix, str, str, Probe]]] = {}
    for protocol in protocols:
        for family in families:
            matrix = PairMatrix(f"{what}, {scope}, {protocol} /clientip, {family}", nodes)
            matrices.append(matrix)
            for src, sender in senders.items():
                for dst, probe in _row(matrix, src, sender, receivers, pairs, protocol, family):
                    batches.setdefault(src, []).append((matrix, family, dst, probe))

    def call(src: str) -> Sequence[ProbeResult]:
        return run(senders[src], [probe for *_, probe in batches[src]])

    # The senders' execs run side by side: a row that waits out a convergence deadline (a node
    # whose dataplane is down) costs that deadline once, not once per sender and protocol.
    with ThreadPoolExecutor(max_workers=max(1, len(batches))) as pool:
        results = dict(zip(batches, pool.map(call, batches), strict=True))
    for src, items in batches.items():
        sender = senders[src]
        for (matrix, family, dst, _), result in zip(items, results[src], strict=True):
            crossing = Crossing(src, dst, sender, address(sender, family) or "", result)
            matrix.judge(crossing, expect)
    return PairMatrices(tuple(matrices))


def _row(
    matrix: PairMatrix,
    src: str,
    sender: PodInfo,
    receivers: Mapping[str, Receiver],
    pairs: Sequence[tuple[str, str]],
    protocol: probes.Protocol,
    family: str,
) -> list[tuple[str, Probe]]:
    """The probes from ``sender`` on ``src`` to every receiver it pairs with in ``family``."""
    sender_ip = address(sender, family)
    targets: list[tuple[str, Probe]] = []
    for dst in (d for s, d in pairs if s == src):
        ip = address(receivers[dst], family)
        if ip is None or sender_ip is None:
            missing = receivers[dst].ref if ip is None else sender.ref
            matrix.add(src, dst, UNREACHABLE, f"{missing} has no {family} address")
            continue
        base = probes.probe_for(receivers[dst], protocol, probes.CLIENTIP)
        targets.append((dst, replace(base, ip=ip)))
    return targets
