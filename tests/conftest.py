"""The project's own test run: wall time per test directory, printed at the end (CI reads it).

The directories run one after another, so a directory's wall time is from the start of its first
test to the end of its last one (module fixtures included: they run inside those phases).
"""

from __future__ import annotations

import time

import pytest

_spans: dict[str, list[float]] = {}


def _directory(nodeid: str) -> str:
    """``unit/test_cli.py::test_x`` -> ``unit`` (node ids are relative to tests/, the rootdir)."""
    head, sep, _ = nodeid.partition("/")
    return head if sep else "."


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    span = _spans.setdefault(_directory(nodeid), [time.monotonic(), 0.0])
    span[1] = time.monotonic()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _spans.setdefault(_directory(nodeid), [time.monotonic(), 0.0])[1] = time.monotonic()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _spans:
        return
    terminalreporter.section("wall time per test directory")
    for directory, (start, end) in _spans.items():
        terminalreporter.write_line(f"tests/{directory:<14} {end - start:8.1f} s")
