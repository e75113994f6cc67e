"""Disruption: the outage windows of a path that is called without pause, and the budget verdict.

The upgrade gate (issue 11) runs flows (``flows``: a loop inside a probe Pod, read back in
batches) on every path while the user's upgrade command runs: Pod -> Pod on the same node and
across nodes, Pod -> ClusterIP with a new connection for every call, over one established
connection kept open, and UDP. This module turns each path's calls into what a pipeline gates
on:

- every outage window (start, end, length, how many calls went unanswered), measured as
  ``flows.outage`` measures a replacement: from the end of the last answered call to the start
  of the next answered one;
- every answer whose source IP is not the caller's own Pod IP (NAT that appeared mid-upgrade);
- every established connection that was cut (closed, reset, or silent past the flow's patience),
  apart from the outages: a pool's connection that breaks is a failure its clients see even
  when new connections work at once;
- the longest window per path, judged against a budget.

Nothing here talks to the cluster; the facade starts and reads the flows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from pytest_podnet.flows import Flow, FlowCall
from pytest_podnet.probes import REACHABLE


@dataclass(frozen=True)
class Window:
    """One outage of a path: ``start`` and ``end`` in seconds after its flow started; ``end`` is
    None while the path was still out when the calls were read."""

    start: float
    end: float | None
    unanswered: int
    #: What the unanswered calls found, e.g. ``{"timed-out": 12, "refused": 3}``.
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        """The window's length; infinite while it is still open."""
        return float("inf") if self.end is None else round(self.end - self.start, 3)

    def __str__(self) -> str:
        found = ", ".join(f"{n} {o}" for o, n in sorted(self.outcomes.items()))
        end = "still out" if self.end is None else f"{self.end:.1f}s"
        length = "open" if self.end is None else f"{self.seconds:.1f}s"
        return f"{self.start:.1f}s-{end} ({length}, {self.unanswered} calls unanswered: {found})"


def windows(calls: Sequence[FlowCall]) -> list[Window]:
    """The outage windows in ``calls`` (oldest first). A window starts where the last answered
    call before it ended (at the first unanswered call if none was answered before) and ends
    where the next answered call started."""
    found: list[Window] = []
    last_answer_end: float | None = None
    start: float | None = None
    outcomes: dict[str, int] = {}
    unanswered = 0
    for call in calls:
        if call.outcome == REACHABLE:
            if start is not None:
                found.append(Window(start, call.at, unanswered, outcomes))
                start, outcomes, unanswered = None, {}, 0
            last_answer_end = call.at + call.elapsed
            continue
        if start is None:
            start = last_answer_end if last_answer_end is not None else call.at
        unanswered += 1
        outcomes[call.outcome] = outcomes.get(call.outcome, 0) + 1
    if start is not None:
        found.append(Window(start, None, unanswered, outcomes))
    return found


def foreign_sources(calls: Sequence[FlowCall], own_ip: str) -> list[FlowCall]:
    """Answered ``clientip`` calls whose receiver saw another source than ``own_ip``: the path
    was NATed while they were made."""
    return [c for c in calls if c.outcome == REACHABLE and c.answered_by not in (None, own_ip)]


@dataclass(frozen=True)
class PathReport:
    """What one monitored path saw: ``path`` names it (kind, source node, target)."""

    path: str
    calls: int
    windows: tuple[Window, ...]
    #: Answers that saw another source IP than the caller's Pod IP (first few kept).
    nated: tuple[FlowCall, ...] = ()
    #: The calls on which an established connection was cut (kept flows only).
    cuts: tuple[FlowCall, ...] = ()

    @classmethod
    def of(cls, path: str, calls: Sequence[FlowCall], own_ip: str | None = None) -> PathReport:
        nated = foreign_sources(calls, own_ip) if own_ip else []
        cuts = tuple(c for c in calls if c.cut)
        return cls(path, len(calls), tuple(windows(calls)), tuple(nated[:5]), cuts)

    @property
    def longest(self) -> float:
        """The longest outage in seconds; 0 when the path was never out."""
        return max((w.seconds for w in self.windows), default=0.0)

    def over(self, budget: float) -> list[Window]:
        """The windows longer than ``budget`` seconds (an open one always is)."""
        return [w for w in self.windows if w.seconds > budget]

    def __str__(self) -> str:
        head = f"{self.path}: {self.calls} calls, longest outage {self.longest:g}s"
        lines = [head, *(f"  outage {w}" for w in self.windows)]
        lines += [f"  cut: {cut_text(c)}" for c in self.cuts]
        lines += [
            f"  NAT: call #{c.seq} at {c.at:.1f}s saw source {c.answered_by}" for c in self.nated
        ]
        return "\n".join(lines)


def cut_text(call: FlowCall) -> str:
    """``established connection #2 cut at 14.2s: closed or reset`` for a cut call."""
    reason = call.detail.split(" cut: ", 1)[-1]
    return f"established connection #{call.connection} cut at {call.at:.1f}s: {reason}"


def verdict(reports: Sequence[PathReport], budget: float) -> list[str]:
    """One line per path whose outage exceeded ``budget``, whose established connection was cut,
    or that saw NAT; empty: within budget."""
    problems: list[str] = []
    for report in reports:
        for window in report.over(budget):
            problems.append(f"{report.path}: outage {window} exceeds the budget of {budget:g}s")
        for call in report.cuts:
            problems.append(f"{report.path}: {cut_text(call)}")
        if report.nated:
            first = report.nated[0]
            problems.append(
                f"{report.path}: source IP rewritten (NAT) from {first.at:.1f}s: the receiver saw "
                f"{first.answered_by}"
            )
    return problems


@dataclass(frozen=True)
class MonitoredPath:
    """One path the monitor calls: its name, its flow, and where the monitor's time began in the
    flow's own clock (``begins_at``: calls before it were the set-up's, not the monitor's)."""

    name: str
    flow: Flow
    begins_at: float

    def report(self, calls: Sequence[FlowCall]) -> PathReport:
        """The path's report from its calls, in seconds after the monitor began."""
        ours = [
            replace(c, at=round(c.at - self.begins_at, 3)) for c in calls if c.at >= self.begins_at
        ]
        return PathReport.of(self.name, ours, own_ip=self.flow.source.ip)


@dataclass
class Monitor:
    """The paths of a running disruption monitor; ``reports`` is filled when it stops."""

    paths: list[MonitoredPath]
    reports: list[PathReport] = field(default_factory=list)

    def longest(self) -> dict[str, float]:
        """The longest outage of every path, in seconds."""
        return {r.path: r.longest for r in self.reports}

    def verdict(self, budget: float) -> list[str]:
        return verdict(self.reports, budget)

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.reports)
