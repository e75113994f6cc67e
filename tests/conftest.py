"""The project's own test run: wall time per test directory, printed at the end (CI reads it),
and every JSON verdict a test leaves in its temporary directories checked against the schema.

A directory's wall time is the sum of its tests' times from setup to teardown (module fixtures
included: they run inside those phases), so it is right also when pytest runs a directory's
tests apart (the cluster-restarting tests of tests/localcluster run last).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import verdicts


def pytest_configure(config: pytest.Config) -> None:
    """Tests of Ctrl-C send SIGINT to inner runs, which inherit an ignored SIGINT as ignored
    (a shell starts a background job so: `cmd &` without job control, `nohup`): such a run
    would never see its Ctrl-C. A handled SIGINT here resets to the default in every child."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: When each running test started, and the seconds of every finished test per directory.
_started: dict[str, float] = {}
_seconds: dict[str, float] = {}


def _directory(nodeid: str) -> str:
    """``unit/test_cli.py::test_x`` -> ``unit`` (node ids are relative to tests/, the rootdir)."""
    head, sep, _ = nodeid.partition("/")
    return head if sep else "."


@pytest.fixture(autouse=True)
def _verdicts_match_the_shipped_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test: every verdict file in its ``tmp_path`` / ``pytester`` directory matches
    ``pytest_podnet/schema/verdict-v2.schema.json`` (teardown error naming the file otherwise)."""
    yield
    # pytest empties funcargs (None) when an interrupted session tears fixtures down.
    funcargs = getattr(request.node, "funcargs", None) or {}
    directories = [funcargs.get("tmp_path"), getattr(funcargs.get("pytester"), "path", None)]
    bad: dict[str, list[str]] = {}
    for directory in directories:
        if isinstance(directory, Path) and directory.is_dir():
            bad.update(verdicts.invalid_reports(directory))
    assert not bad, f"JSON verdicts that do not match the shipped schema: {bad}"


def pytest_runtest_logstart(nodeid: str, location: tuple[str, int | None, str]) -> None:
    _started[nodeid] = time.monotonic()


def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    started = _started.pop(nodeid, None)
    if started is not None:
        directory = _directory(nodeid)
        _seconds[directory] = _seconds.get(directory, 0.0) + time.monotonic() - started


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _seconds:
        return
    terminalreporter.section("time per test directory (the sum of its tests; over xdist workers)")
    for directory, seconds in _seconds.items():
        terminalreporter.write_line(f"tests/{directory:<14} {seconds:8.1f} s")
