"""Per-guarantee verdicts: the terminal table, the JSON verdict file and the header lines.

Pure logic over pytest's ``TestReport`` objects, so it works the same on the xdist controller (which
sees the workers' reports) and in a serial run. The guarantee of a check travels in its
``user_properties`` as ``("podnet_guarantee", "G1")`` (it also shows as a JUnit property), measured
values as ``("podnet:<name>", value)``.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

import pytest

#: What each guarantee family promises, by the id its suite module puts in ``podnet_guarantee``.
GUARANTEES: Final[Mapping[str, str]] = {
    "G1": "Pod IPs are ephemeral",
    "G2": "flat network, no NAT",
    "G3": "Services are the stable address",
}
#: Titles of guarantees a run checks only when asked: the upgrade gate's middle phase.
_OTHER_TITLES: Final[Mapping[str, str]] = {"UPGRADE": "network held through the upgrade"}
#: ``user_properties`` name carrying the guarantee id of a check.
GUARANTEE_PROPERTY: Final = "podnet_guarantee"
#: ``user_properties`` name carrying a failed phase's outcome (FAIL or NOT VERIFIED), set by the
#: plugin where the exception is known, and the check's final outcome for JUnit.
OUTCOME_PROPERTY: Final = "podnet_outcome"
#: ``user_properties`` name carrying why a check is skipped (a ``settings.SkipReason``).
SKIP_PROPERTY: Final = "podnet_skip"
#: ``user_properties`` name carrying one node-pair matrix of a check (``PairMatrix.to_json``).
MATRIX_PROPERTY: Final = "podnet_matrix"
#: Prefix of the ``user_properties`` names that are measured values.
VALUE_PREFIX: Final = "podnet:"
#: Version of the JSON layout, bumped on incompatible changes (v2: three outcomes per check);
#: additive fields keep it (``checks[].matrices``). Documented by the JSON Schema shipped as
#: ``pytest_podnet/schema/verdict-v2.schema.json``, whose ``$id`` ends in this id.
JSON_SCHEMA: Final = "pytest-podnet/verdict/v2"

#: The outcome of a check and the verdict of a guarantee.
Outcome = Literal["PASS", "FAIL", "NOT VERIFIED", "SKIPPED"]
PASS: Final[Outcome] = "PASS"
FAIL: Final[Outcome] = "FAIL"
NOT_VERIFIED: Final[Outcome] = "NOT VERIFIED"
SKIPPED: Final[Outcome] = "SKIPPED"
_SEVERITY: Final[dict[Outcome, int]] = {PASS: 0, SKIPPED: 1, NOT_VERIFIED: 2, FAIL: 3}

#: Exit codes of a run that collected guarantee checks (pytest's own codes otherwise).
EXIT_PASS: Final = 0
EXIT_FAIL: Final = 1
EXIT_NOT_VERIFIED: Final = 6

#: Enough of a failure message to tell one failure from another in a JSON consumer.
MESSAGE_HEAD_LINES: Final = 5
MESSAGE_HEAD_CHARS: Final = 800


@dataclass(frozen=True)
class Policy:
    """What the gate demands: the required guarantees and the skips the user allowed."""

    require: tuple[str, ...] = ("G1", "G2", "G3")
    allow_skip: frozenset[str] = frozenset()
    #: Opt-in kinds of checks the user did not ask for (``privileged`` without
    #: --podnet-privileged): skipped as asked, never required.
    not_requested: frozenset[str] = frozenset()
    #: Guarantees the verdict lists even when no check of theirs ran.
    known: tuple[str, ...] = tuple(GUARANTEES)

    def skip_allowed(self, reason: str | None) -> bool:
        return reason is not None and (reason in self.allow_skip or reason in self.not_requested)


@dataclass
class CheckResult:
    """Everything known about one test after its phases reported."""

    nodeid: str
    guarantee: str | None = None
    outcome: Outcome = PASS
    duration: float = 0.0
    message: str | None = None
    skip_reason: str | None = None
    values: dict[str, Any] = field(default_factory=dict)
    matrices: list[Any] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid,
            "guarantee": self.guarantee,
            "outcome": self.outcome,
            "duration": round(self.duration, 3),
            "message": self.message,
            "skip_reason": self.skip_reason,
            "values": self.values,
            "matrices": self.matrices,
        }


@dataclass(frozen=True)
class Verdict:
    """The counts, verdict and reasons of one guarantee."""

    guarantee: str
    title: str
    required: bool
    passed: int
    failed: int
    not_verified: int
    skipped: int
    #: For FAIL the checks that failed, for NOT VERIFIED why it could not be verified.
    reasons: tuple[str, ...] = ()

    @property
    def verdict(self) -> Outcome:
        if self.failed:
            return FAIL
        if self.not_verified or not self.passed:
            return NOT_VERIFIED
        return PASS

    def to_json(self) -> dict[str, Any]:
        return {
            "guarantee": self.guarantee,
            "title": self.title,
            "required": self.required,
            "passed": self.passed,
            "failed": self.failed,
            "not_verified": self.not_verified,
            "skipped": self.skipped,
            "verdict": self.verdict,
            "reasons": list(self.reasons),
        }


#: Why a check whose xdist worker died is NOT VERIFIED, and the fix.
CRASHED_CAUSE: Final = (
    "the test process died before the check finished observing (killed by a signal or the OOM "
    "killer); fix: rerun, and check what killed it (job cancellation, the runner's memory)"
)


def worker_crashed(report: pytest.TestReport) -> bool:
    """Whether ``report`` is pytest-xdist's stand-in for a test whose worker process died."""
    # xdist (dsession.handle_crashitem) reports it as phase "???" with this message only.
    return str(report.when) == "???" and "crashed while running" in str(report.longrepr)


class Ledger:
    """Accumulates the phase reports of a session into one ``CheckResult`` per test."""

    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self._results: dict[str, CheckResult] = {}

    def add(self, report: pytest.TestReport) -> None:
        result = self._results.setdefault(report.nodeid, CheckResult(report.nodeid))
        result.duration += report.duration
        phase_outcome: Outcome | None = None
        for name, value in report.user_properties:
            if name == GUARANTEE_PROPERTY:
                result.guarantee = str(value)
            elif name == SKIP_PROPERTY:
                result.skip_reason = str(value)
            elif name == OUTCOME_PROPERTY and report.failed and value in _SEVERITY:
                phase_outcome = value
            elif name == MATRIX_PROPERTY:
                # Every phase's report carries the item's properties so far: one per matrix.
                if value not in result.matrices:
                    result.matrices.append(value)
            elif name.startswith(VALUE_PREFIX):
                result.values[name[len(VALUE_PREFIX) :]] = value
        outcome = self._outcome_of(report, phase_outcome, result.skip_reason)
        if _SEVERITY[outcome] > _SEVERITY[result.outcome]:
            result.outcome = outcome
            result.message = message_head(report)
            if outcome == NOT_VERIFIED and worker_crashed(report):
                result.message = f"{result.message}: {CRASHED_CAUSE}"
            if outcome == NOT_VERIFIED and report.skipped and result.guarantee:
                result.message = _skip_message(result.message, result.skip_reason)

    def _outcome_of(
        self, report: pytest.TestReport, classified: Outcome | None, skip_reason: str | None
    ) -> Outcome:
        if report.failed:
            if classified is None and worker_crashed(report):
                # The check's process died under it (a signal, the OOM killer): nothing it
                # observed contradicts the guarantee, it could not finish observing.
                return NOT_VERIFIED
            # A failed phase the plugin could not classify (e.g. a strict xpass) is a FAIL:
            # anything unknown must keep the gate closed.
            return classified or FAIL
        if report.skipped:
            if hasattr(report, "wasxfail") or self.policy.skip_allowed(skip_reason):
                return SKIPPED
            return NOT_VERIFIED
        return PASS

    def guarantee_of(self, nodeid: str) -> str | None:
        """The guarantee a check's reports so far named, if any."""
        result = self._results.get(nodeid)
        return result.guarantee if result is not None else None

    @property
    def results(self) -> list[CheckResult]:
        return list(self._results.values())

    @property
    def has_checks(self) -> bool:
        """Whether the session ran any guarantee check at all (else the gate does not apply)."""
        return any(r.guarantee for r in self.results)

    def verdicts(self) -> list[Verdict]:
        """One verdict per known or required guarantee, then any other id a suite used."""
        used = {r.guarantee for r in self.results if r.guarantee}
        ids = sorted(set(self.policy.known) | set(self.policy.require) | used)
        return [self._verdict(gid) for gid in ids]

    def _verdict(self, gid: str) -> Verdict:
        checks = [r for r in self.results if r.guarantee == gid]
        by_outcome = {o: [r for r in checks if r.outcome == o] for o in _SEVERITY}
        reasons: list[str] = []
        if by_outcome[FAIL] or by_outcome[NOT_VERIFIED]:
            reasons = list(
                dict.fromkeys(
                    f"{_short(r.nodeid)}: {_reason(r.message, gid)}"
                    for r in by_outcome[FAIL] or by_outcome[NOT_VERIFIED]
                )
            )
        elif not by_outcome[PASS]:
            reasons = [
                f"no check of {gid} ran in this session (deselected by -m/-k, or skipped by "
                f"choice); fix: run its checks, or leave it out of --podnet-require"
            ]
        return Verdict(
            guarantee=gid,
            title=GUARANTEES.get(gid) or _OTHER_TITLES.get(gid, ""),
            required=gid in self.policy.require,
            passed=len(by_outcome[PASS]),
            failed=len(by_outcome[FAIL]),
            not_verified=len(by_outcome[NOT_VERIFIED]),
            skipped=len(by_outcome[SKIPPED]),
            reasons=tuple(reasons),
        )

    def gate(self, *, other_failures: bool = False) -> int:
        """The exit code: 1 if a required guarantee FAILs (or a test outside the guarantees
        failed), else 6 if one is NOT VERIFIED, else 0."""
        required = [v for v in self.verdicts() if v.required]
        if other_failures or any(v.verdict == FAIL for v in required):
            return EXIT_FAIL
        if any(v.verdict == NOT_VERIFIED for v in required):
            return EXIT_NOT_VERIFIED
        return EXIT_PASS


def check_outcome(phase_outcomes: Iterable[Outcome]) -> Outcome:
    """The worst of a check's phase outcomes (PASS when it has none)."""
    return max(phase_outcomes, key=_SEVERITY.__getitem__, default=PASS)


def _skip_message(message: str | None, reason: str | None) -> str:
    """Why a required check that was skipped leaves its guarantee NOT VERIFIED, and the fix."""
    fix = (
        f"fix: make the check runnable, or pass --podnet-allow-skip={reason} to gate without it"
        if reason
        else "fix: make the check runnable (a required check must run to PASS)"
    )
    return f"skipped: {message or 'no reason given'}; {fix}"


def _short(nodeid: str) -> str:
    return nodeid.rsplit("::", 1)[-1]


def _reason(message: str | None, gid: str) -> str:
    """The first line of a check's message without what the table already says: the exception
    type and ``Gx (title) broken:`` / ``not verified:``."""
    text = (message or "").strip()
    if not text:
        return "(no message)"
    line = re.sub(r"^[\w.]*?(Error|Exception|Failed|Timeout|Unrecoverable): ", "", text)
    line = line.splitlines()[0]
    head = rf"^{re.escape(gid)}( \([^)]*\))? (broken|not verified)( \(in \w+\))?: "
    return re.sub(head, "", line)


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
    """The per-guarantee table printed at the end of a run, then why each is not a PASS."""
    rows = [("guarantee", "", "required", "pass", "fail", "not verified", "skipped", "verdict")]
    rows += [
        (
            v.guarantee,
            v.title,
            "yes" if v.required else "no",
            str(v.passed),
            str(v.failed),
            str(v.not_verified),
            str(v.skipped),
            v.verdict,
        )
        for v in verdicts
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if 3 <= i <= 6 else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    for v in verdicts:
        word = "broken" if v.verdict == FAIL else "not verified"
        lines += [f"{v.guarantee} {word}: {reason}" for reason in v.reasons]
    return lines


def gate_line(code: int, policy: Policy) -> str:
    """What the exit code means, and what the gate demanded."""
    meaning = {
        EXIT_PASS: "every required guarantee PASSED",
        EXIT_FAIL: "a required guarantee is broken (FAIL)",
        EXIT_NOT_VERIFIED: "a required guarantee could not be verified (NOT VERIFIED)",
    }[code]
    required = ", ".join(policy.require) or "none"
    allowed = ", ".join(sorted(policy.allow_skip)) or "none"
    return f"podnet gate: exit {code}: {meaning} [required: {required}; allowed skips: {allowed}]"


def header_lines(
    facts: Mapping[str, Any],
    images: Iterable[str],
    run_id: str,
    timeout_scale: float,
    policy: Policy | None = None,
) -> list[str]:
    """The report header: enough to reproduce the run against the same cluster."""
    policy = policy or Policy()
    tail = [
        f"podnet: images {' '.join(images)}",
        f"podnet: run id {run_id}, timeout scale {timeout_scale:g}",
        f"podnet: required {', '.join(policy.require) or 'none'}; allowed skips "
        f"{', '.join(sorted(policy.allow_skip)) or 'none'}; not requested "
        f"{', '.join(sorted(policy.not_requested)) or 'none'}",
    ]
    if not facts:
        return ["podnet: cluster not contacted (no preflight in this run)", *tail]
    nodes = facts.get("nodes", [])
    node_text = ", ".join(
        f"{n['name']} ({n.get('internal_ip') or '?'}, pods {','.join(n.get('pod_cidrs', []))})"
        for n in nodes
    )
    left_out = facts.get("excluded_nodes", [])
    excluded = "; ".join(f"{n['name']}: {n['why']}" for n in left_out)
    return [
        f"podnet: context {facts.get('context') or '?'}, server {facts.get('server_url') or '?'}, "
        f"version {facts.get('server_version') or '?'}",
        *([f"podnet: dataplane {facts['dataplane']}"] if facts.get("dataplane") else []),
        f"podnet: testing {len(nodes)} node(s) (selector {facts.get('node_selector') or '-'}): "
        f"{node_text or 'none'}; ip families {'/'.join(facts.get('ip_families', [])) or '?'}",
        *([f"podnet: left out {len(left_out)} node(s): {excluded}"] if left_out else []),
        *(f"podnet: {line}" for line in facts.get("reaped", [])),
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
    text = json.dumps(_jsonable(document), indent=2, allow_nan=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, scratch = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text + "\n")
        os.replace(scratch, target)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
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
