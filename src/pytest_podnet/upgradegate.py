"""The upgrade gate: the checks, the Pod network watched through the user's command, the checks.

``pytest --podnet --podnet-upgrade-command "CMD"`` runs three pytest sessions one after another,
each a child process with the user's own arguments (so ``-n 2``, ``-m``, ``--podnet-quick`` and
the rest apply as they would to a plain run):

1. ``before``: the checks, on the cluster as it is; if they do not pass, the command is not run
   (a gate on a cluster already broken would blame the upgrade for it);
2. ``during``: one check (``pytest_podnet/upgrade``) that runs CMD under the disruption monitor
   and judges every path against ``--podnet-outage-budget``;
3. ``after``: the checks again, on the upgraded cluster.

The parent prints one verdict: each phase's guarantees, the versions before and after, and the
disruption table (longest outage, windows, cut connections, NAT per path), and exits with the
usual codes (``report.EXIT_*``): FAIL if any phase FAILed, else NOT VERIFIED if any phase was.
With ``--podnet-report PATH`` each phase writes ``PATH`` with ``.before``/``.during``/``.after``
before its suffix and the gate writes its own summary to ``PATH``.

Why child processes: a session cannot run its items in three ordered groups under xdist (no
barrier between workers), and pytest-xdist's own ``--looponfail`` mode runs its sessions the same
way.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from pytest_podnet import disruption, report
from pytest_podnet.settings import (
    UPGRADE_GUARANTEE,
    UPGRADE_PHASE_ENV,
    UPGRADE_PHASES,
    Settings,
    UpgradePhase,
)

#: Seconds the monitor's flows outlive the command's deadline (set-up, read-back).
MONITOR_MARGIN: Final = 120.0
#: Lines of the command's output kept for the record and a failure message.
TAIL_LINES: Final = 40
#: Seconds a command gets to stop after SIGTERM before it is killed.
STOP_GRACE: Final = 10.0
PREFIX: Final = "podnet upgrade gate"
_TITLES: Final[Mapping[UpgradePhase, str]] = {
    "before": "the checks before the upgrade command",
    "during": "the Pod network while the upgrade command runs",
    "after": "the checks after the upgrade command",
}


@dataclass(frozen=True)
class Ran:
    """How the upgrade command ended: exit code, wall seconds, whether its deadline stopped it,
    and the last lines of its output."""

    exit_code: int
    seconds: float
    timed_out: bool
    tail: str


def run_command(command: str, *, timeout: float) -> Ran:
    """Run ``command`` in ``/bin/sh`` in a session of its own, its output passed through to ours
    and its tail kept; after ``timeout`` seconds its whole process group is stopped (SIGTERM,
    then SIGKILL after ``STOP_GRACE``)."""
    started = time.monotonic()
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with subprocess.Popen(
        ["/bin/sh", "-c", command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        text=True,
        errors="replace",
    ) as proc:
        assert proc.stdout is not None
        timed_out = False
        os.set_blocking(proc.stdout.fileno(), True)
        deadline = started + timeout
        reader = _LineReader(proc.stdout, tail)
        while proc.poll() is None:
            if time.monotonic() >= deadline:
                timed_out = True
                _stop_group(proc)
                break
            reader.pump(min(1.0, max(0.0, deadline - time.monotonic())))
        reader.drain()
    return Ran(proc.returncode, time.monotonic() - started, timed_out, "\n".join(tail))


class _LineReader:
    """Copies a pipe's lines to our stdout as they come, keeping the last ones."""

    def __init__(self, stream: Any, tail: deque[str]) -> None:
        self._stream = stream
        self._tail = tail

    def pump(self, seconds: float) -> None:
        import selectors

        with selectors.DefaultSelector() as selector:
            selector.register(self._stream, selectors.EVENT_READ)
            if selector.select(seconds):
                self._line(self._stream.readline())

    def drain(self) -> None:
        for line in self._stream:
            self._line(line)

    def _line(self, line: str) -> None:
        if line:
            sys.stdout.write(line)
            sys.stdout.flush()
            self._tail.append(line.rstrip("\n"))


def _stop_group(proc: subprocess.Popen[str]) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def windows_json(monitor: disruption.Monitor) -> dict[str, Any]:
    """Every path's outage windows, cut connections and NAT, for the JSON report."""
    return {
        r.path: {
            "calls": r.calls,
            "longest_outage_s": r.longest if r.longest != float("inf") else None,
            "windows": [
                {
                    "start_s": w.start,
                    "end_s": w.end,
                    "seconds": None if w.end is None else w.seconds,
                    "unanswered": w.unanswered,
                    "outcomes": dict(w.outcomes),
                }
                for w in r.windows
            ],
            "cuts": [disruption.cut_text(c) for c in r.cuts],
            "nat": [{"at_s": c.at, "source": c.answered_by} for c in r.nated],
        }
        for r in monitor.reports
    }


# ............................................................................ the parent


@dataclass(frozen=True)
class PhaseResult:
    phase: UpgradePhase
    exit_code: int
    seconds: float
    document: dict[str, Any] | None


def run_gate(config: pytest.Config, settings: Settings) -> int:
    """Run the three phases as child sessions and print the one verdict; return the exit code."""
    assert settings.upgrade_command is not None
    args = list(config.invocation_params.args)
    with tempfile.TemporaryDirectory(prefix="podnet-upgrade-gate-") as scratch:
        results: list[PhaseResult] = []
        for number, phase in enumerate(UPGRADE_PHASES, start=1):
            _banner(config, f"phase {number}/3, {phase}: {_TITLES[phase]}")
            path = _phase_report(settings.report_path, phase, Path(scratch))
            # One check: no xdist workers; no capture, so the command's output shows as it runs;
            # a failure shows its message, not the check's source.
            extra = ["-s", "--tb=short"] if phase == "during" else []
            if phase == "during" and config.pluginmanager.hasplugin("xdist"):
                extra += ["-n", "0"]
            result = _run_phase(config, phase, [*args, *extra, f"--podnet-report={path}"], path)
            results.append(result)
            if result.exit_code == pytest.ExitCode.INTERRUPTED:
                break
            if phase == "before" and result.exit_code != report.EXIT_PASS:
                break
        code = combined_exit(results)
        lines = summary_lines(results, settings, code)
        _banner(config, PREFIX)
        for line in lines:
            print(line, flush=True)
        if settings.report_path:
            report.write_json(
                settings.report_path, gate_document(results, settings, code, settings.report_path)
            )
    return code


def _banner(config: pytest.Config, title: str) -> None:
    width = 100
    print(f"\n{(' ' + title + ' ').center(width, '=')}", flush=True)


def _phase_report(report_path: str | None, phase: UpgradePhase, scratch: Path) -> Path:
    if report_path is None:
        return scratch / f"{phase}.json"
    path = Path(report_path)
    return path.with_name(f"{path.stem}.{phase}{path.suffix or '.json'}")


def _run_phase(
    config: pytest.Config, phase: UpgradePhase, args: Sequence[str], report_path: Path
) -> PhaseResult:
    started = time.monotonic()
    env = {**os.environ, UPGRADE_PHASE_ENV: phase}
    with subprocess.Popen(
        [sys.executable, "-m", "pytest", *args], env=env, cwd=config.invocation_params.dir
    ) as child:
        try:
            code = child.wait()
        except KeyboardInterrupt:
            # The child got the same Ctrl-C (one process group): let it clean up and end.
            code = child.wait()
            code = pytest.ExitCode.INTERRUPTED if code == 0 else code
    document = None
    if report_path.exists():
        try:
            document = json.loads(report_path.read_text("utf-8"))
        except (OSError, ValueError):
            document = None
    return PhaseResult(phase, code, time.monotonic() - started, document)


def combined_exit(results: Sequence[PhaseResult]) -> int:
    """FAIL if any phase FAILed, else the first other non-zero code (NOT VERIFIED, interrupted,
    usage error, ...), else PASS; a gate whose phases did not all run never passes."""
    codes = [r.exit_code for r in results]
    if report.EXIT_FAIL in codes:
        return report.EXIT_FAIL
    failing = [c for c in codes if c != report.EXIT_PASS]
    if failing:
        return failing[0]
    return report.EXIT_PASS if len(results) == 3 else report.EXIT_NOT_VERIFIED


def _verdicts(document: Mapping[str, Any] | None) -> list[Mapping[str, Any]]:
    if document is None:
        return []
    return [v for v in document.get("guarantees", []) if v.get("required")]


def _versions(document: Mapping[str, Any] | None) -> str:
    run = (document or {}).get("run", {})
    nodes = ", ".join(
        f"{n.get('name')} {n.get('kubelet_version') or '?'}" for n in run.get("nodes", [])
    )
    return f"server {run.get('server_version') or '?'}; kubelets {nodes or '?'}"


def _upgrade_check(document: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    checks = (document or {}).get("checks", [])
    return next((c for c in checks if c.get("guarantee") == UPGRADE_GUARANTEE), None)


def disruption_table(values: Mapping[str, Any], budget: float) -> list[str]:
    """The per-path table and the timeline of every outage, cut and NAT, from the check's
    recorded ``disruption_windows``."""
    paths: Mapping[str, Any] = values.get("disruption_windows") or {}
    if not paths:
        return ["  (no path was read back: the monitor did not get that far)"]
    width = max(len(p) for p in paths)
    lines = [f"  {'path':<{width}}  longest  outages  cuts  NAT"]
    timeline: list[str] = []
    for path, seen in paths.items():
        longest = seen.get("longest_outage_s")
        shown = "open" if longest is None else f"{longest:.1f}s"
        flag = " > budget" if longest is None or longest > budget else ""
        lines.append(
            f"  {path:<{width}}  {shown:>7}  {len(seen['windows']):>7}  {len(seen['cuts']):>4}"
            f"  {len(seen['nat']):>3}{flag}"
        )
        for w in seen["windows"]:
            end = "still out" if w["end_s"] is None else f"{w['end_s']:.1f}s"
            length = "open" if w["seconds"] is None else f"{w['seconds']:.1f}s"
            found = ", ".join(f"{n} {o}" for o, n in sorted(w["outcomes"].items()))
            timeline.append(
                f"  {path}: out {w['start_s']:.1f}s-{end} ({length}; {w['unanswered']} calls: "
                f"{found})"
            )
        timeline += [f"  {path}: {cut}" for cut in seen["cuts"]]
        timeline += [
            f"  {path}: NAT at {n['at_s']:.1f}s, the receiver saw {n['source']}"
            for n in seen["nat"]
        ]
    if timeline:
        lines += ["  timeline (seconds after the monitor began):", *timeline]
    return lines


def summary_lines(results: Sequence[PhaseResult], settings: Settings, code: int) -> list[str]:
    """The gate's verdict as the terminal shows it."""
    lines: list[str] = []
    by_phase = {r.phase: r for r in results}
    for phase in UPGRADE_PHASES:
        result = by_phase.get(phase)
        if result is None:
            lines.append(f"{phase:<7} not run (an earlier phase did not pass)")
            continue
        head = f"{phase:<7} exit {result.exit_code} in {result.seconds:.0f}s"
        if phase == "during":
            check = _upgrade_check(result.document)
            values: Mapping[str, Any] = (check or {}).get("values", {})
            ran = (
                f"exit {values['upgrade_command_exit']} after {values['upgrade_command_seconds']}s"
                if "upgrade_command_exit" in values
                else "did not run to the end"
            )
            outcome = (check or {}).get("outcome", "not run")
            lines.append(f"{head}: {outcome}; `{settings.upgrade_command}` {ran}")
            lines.append(f"  outage budget {settings.outage_budget:g}s per path")
            lines += disruption_table(values, settings.outage_budget)
            if check and check.get("message") and outcome != report.PASS:
                lines.append(f"  {check['message']}")
            continue
        verdicts = ", ".join(f"{v['guarantee']} {v['verdict']}" for v in _verdicts(result.document))
        lines.append(f"{head}: {verdicts or 'no verdict'}; {_versions(result.document)}")
    meaning = {
        report.EXIT_PASS: "the Pod network held through the command and every required "
        "guarantee PASSED before and after",
        report.EXIT_FAIL: "a guarantee FAILED before, during or after the command",
        report.EXIT_NOT_VERIFIED: "the gate could not verify every phase (NOT VERIFIED)",
    }.get(code, "a phase did not complete")
    lines.append(f"{PREFIX}: exit {code}: {meaning}")
    return lines


def gate_document(
    results: Sequence[PhaseResult], settings: Settings, code: int, report_path: str
) -> dict[str, Any]:
    """The gate's own JSON summary (``--podnet-report``); each phase's full verdict is in its
    own file, named here."""
    phases: dict[str, Any] = {}
    for r in results:
        run = (r.document or {}).get("run", {})
        entry: dict[str, Any] = {
            "exit_status": r.exit_code,
            "seconds": round(r.seconds, 1),
            "report": str(_phase_report(report_path, r.phase, Path("."))),
            "server_version": run.get("server_version"),
            "kubelet_versions": {n["name"]: n.get("kubelet_version") for n in run.get("nodes", [])},
            "verdicts": {v["guarantee"]: v["verdict"] for v in _verdicts(r.document)},
        }
        check = _upgrade_check(r.document)
        if check is not None:
            entry["disruption"] = check.get("values", {}).get("disruption_windows")
            entry["command_exit"] = check.get("values", {}).get("upgrade_command_exit")
        phases[r.phase] = entry
    return {
        "upgrade_gate": {
            "command": settings.upgrade_command,
            "outage_budget_s": settings.outage_budget,
            "exit_status": code,
            "phases": phases,
        }
    }
