"""Per-guarantee verdicts: the terminal table, the JSON verdict file and the header lines.

Pure logic over pytest's ``TestReport`` objects, so it works the same on the xdist controller (which
sees the workers' reports) and in a serial run. The guarantee of a check travels in its
``user_properties`` as ``("podnet_guarantee", "G1")`` (it also shows as a JUnit property), measured
values as ``("podnet:<name>", value)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest

#: What each guarantee family promises, by the id its suite module puts in ``podnet_guarantee``.
GUARANTEES: Final[Mapping[str, str]] = {
    "G1": "Pod IPs are ephemeral",
    "G2": "flat network, no NAT",
    "G3": "Services are the stable address",
}
#: ``user_properties`` name carrying the guarantee id of a check.
GUARANTEE_PROPERTY: Final = "podnet_guarantee"
#: Prefix of the ``user_properties`` names that are measured values.
VALUE_PREFIX: Final = "podnet:"
#: Version of the JSON layout, bumped on incompatible changes.
JSON_SCHEMA: Final = "pytest-podnet/verdict/v1"

PASSED: Final = "passed"
FAILED: Final = "failed"
ERROR: Final = "error"
SKIPPED: Final = "skipped"
XFAILED: Final = "xfailed"

#: A guarantee with a failed check is broken; one whose checks all passed holds; some skipped
#: leaves it only partly shown; nothing run shows nothing.
VERDICT_FAIL: Final = "FAIL"
VERDICT_PASS: Final = "PASS"
VERDICT_PARTIAL: Final = "PARTIAL"
VERDICT_SKIPPED: Final = "SKIPPED"
VERDICT_NOT_RUN: Final = "NOT RUN"

#: Enough of a failure message to tell one failure from another in a JSON consumer.
MESSAGE_HEAD_LINES: Final = 5
MESSAGE_HEAD_CHARS: Final = 800


@dataclass
class CheckResult:
    """Everything known about one test after its phases reported."""

    nodeid: str
    guarantee: str | None = None
    outcome: str = PASSED
    duration: float = 0.0
    message: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "guarantee": self.guarantee,
            "outcome": self.outcome,
            "duration": round(self.duration, 3),
            "message": self.message,
            "values": self.values,
        }


@dataclass(frozen=True)
class Verdict:
    """The counts and verdict of one guarantee."""

    guarantee: str
    title: str
    passed: int
    failed: int
    skipped: int

    @property
    def verdict(self) -> str:
        if self.failed:
            return VERDICT_FAIL
        if self.passed and self.skipped:
            return VERDICT_PARTIAL
        if self.passed:
            return VERDICT_PASS
        if self.skipped:
            return VERDICT_SKIPPED
        return VERDICT_NOT_RUN

    def to_json(self) -> dict[str, Any]:
        return {
            "guarantee": self.guarantee,
            "title": self.title,
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "verdict": self.verdict,
        }


class Ledger:
    """Accumulates the phase reports of a session into one ``CheckResult`` per test."""

    def __init__(self) -> None:
        self._results: dict[str, CheckResult] = {}

    def add(self, report: pytest.TestReport) -> None:
        result = self._results.setdefault(report.nodeid, CheckResult(report.nodeid))
        result.duration += report.duration
        for name, value in report.user_properties:
            if name == GUARANTEE_PROPERTY:
                result.guarantee = str(value)
            elif name.startswith(VALUE_PREFIX):
                result.values[name[len(VALUE_PREFIX) :]] = value
        outcome = _outcome_of(report)
        if _SEVERITY[outcome] > _SEVERITY[result.outcome]:
            result.outcome = outcome
            result.message = message_head(report)

    @property
    def results(self) -> list[CheckResult]:
        return list(self._results.values())

    def verdicts(self) -> list[Verdict]:
        """One verdict per known guarantee, then any other id a suite used, in id order."""
        ids = sorted(set(GUARANTEES) | {r.guarantee for r in self.results if r.guarantee})
        verdicts = []
        for gid in ids:
            checks = [r for r in self.results if r.guarantee == gid]
            verdicts.append(
                Verdict(
                    guarantee=gid,
                    title=GUARANTEES.get(gid, ""),
                    passed=sum(r.outcome == PASSED for r in checks),
                    failed=sum(r.outcome in (FAILED, ERROR) for r in checks),
                    skipped=sum(r.outcome in (SKIPPED, XFAILED) for r in checks),
                )
            )
        return verdicts


_SEVERITY: Final = {PASSED: 0, XFAILED: 1, SKIPPED: 2, ERROR: 3, FAILED: 4}


def _outcome_of(report: pytest.TestReport) -> str:
    if hasattr(report, "wasxfail") and report.skipped:
        return XFAILED
    if report.failed:
        return FAILED if report.when == "call" else ERROR
    if report.skipped:
        return SKIPPED
    return PASSED


def message_head(report: pytest.TestReport) -> str | None:
    """The first lines of why a test failed or was skipped (``None`` when it passed)."""
    if report.passed:
        return None
    longrepr = report.longrepr
    text: str
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        text = str(longrepr[2])
        text = text.removeprefix("Skipped: ")
    else:
        crash = getattr(longrepr, "reprcrash", None)
        text = str(getattr(crash, "message", None) or longrepr or "")
    lines = text.strip().splitlines()[:MESSAGE_HEAD_LINES]
    head = "\n".join(lines)
    if len(head) > MESSAGE_HEAD_CHARS:
        head = head[: MESSAGE_HEAD_CHARS - 1] + "…"
    return head or None


def attach_diagnostics(
    rep: pytest.TestReport, collect: Callable[[], Sequence[tuple[str, str]]]
) -> None:
    """Add what ``collect`` gathers to ``rep`` and to allure, never hiding the original failure."""
    try:
        sections = list(collect())
    except Exception as err:  # diagnostics must never replace the error they explain
        sections = [("diagnostics failed", f"{type(err).__name__}: {err}")]
    for title, text in sections:
        rep.sections.append((f"podnet diagnostics: {title}", text))
    try:
        import allure

        for title, text in sections:
            allure.attach(text, name=f"podnet {title}", attachment_type=allure.attachment_type.TEXT)
    except Exception as err:  # allure is an extra; the report sections above already hold it all
        rep.sections.append(("podnet diagnostics: allure", f"{type(err).__name__}: {err}"))


def verdict_table(verdicts: Sequence[Verdict]) -> list[str]:
    """The per-guarantee table printed at the end of a run."""
    rows = [("guarantee", "", "passed", "failed", "skipped", "verdict")]
    rows += [
        (v.guarantee, v.title, str(v.passed), str(v.failed), str(v.skipped), v.verdict)
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if 2 <= i <= 4 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def header_lines(
    facts: Mapping[str, Any], images: Iterable[str], run_id: str, timeout_scale: float
) -> list[str]:
    """The report header: enough to reproduce the run against the same cluster."""
    tail = [
        f"podnet: images {' '.join(images)}",
        f"podnet: run id {run_id}, timeout scale {timeout_scale:g}",
    ]
    if not facts:
        return ["podnet: cluster not contacted (no preflight in this run)", *tail]
    nodes = facts.get("nodes", [])
    node_text = ", ".join(
        f"{n['name']} ({n.get('internal_ip') or '?'}, pods {','.join(n.get('pod_cidrs', []))})"
        for n in nodes
    )
    return [
        f"podnet: context {facts.get('context') or '?'}, server {facts.get('server_url') or '?'}, "
        f"version {facts.get('server_version') or '?'}",
        f"podnet: {len(nodes)} schedulable node(s): {node_text or 'none'}; "
        f"ip families {'/'.join(facts.get('ip_families', [])) or '?'}",
        *tail,
    ]


def verdict_document(
    results: Sequence[CheckResult],
    verdicts: Sequence[Verdict],
    *,
    run: Mapping[str, Any],
) -> dict[str, Any]:
    """The JSON verdict: the run's facts, one verdict per guarantee, every check."""
    return {
        "schema": JSON_SCHEMA,
        "run": dict(run),
        "guarantees": [v.to_json() for v in verdicts],
        "checks": [r.to_json() for r in results],
    }


def write_json(path: str | Path, document: Mapping[str, Any]) -> Path:
    """Write ``document`` (write, then rename: a reader never sees half a file); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = target.with_name(f".{target.name}.tmp")
    text = json.dumps(_jsonable(document), indent=2, allow_nan=False)
    scratch.write_text(text + "\n", encoding="utf-8")
    scratch.replace(target)
    return target


def _jsonable(value: object) -> object:
    """``value`` with what strict JSON cannot hold turned into what it can."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_jsonable(v) for v in items]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
