"""Daemons of the local cluster keep only stdin, stdout and stderr of whoever started them."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from pytest_podnet.localcluster import paths, procs


def test_a_daemon_does_not_inherit_the_callers_descriptors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `flock LOCK podnet cluster fault remove ...` hands an inheritable lock descriptor down; a
    # restarted kube-proxy kept it (and the lock) for as long as it ran.
    monkeypatch.setattr(paths, "run_dir", lambda: tmp_path / "run")
    monkeypatch.setattr(paths, "state_dir", lambda: tmp_path / "state")
    held = os.open(tmp_path / "lock", os.O_CREAT | os.O_RDWR)
    os.set_inheritable(held, True)
    try:
        daemon = procs.start("fd-probe", ["/bin/sleep", "60"])
        try:
            # start() returns once the child runs its program: a caller may check at once.
            assert daemon.alive
            # ... but the program's own start-up may still hold a file open for a moment
            # (coreutils' setlocale reads /etc/locale.alias): look once it sleeps.
            _wait_until_asleep(daemon.pid)
            fds = {int(fd.name) for fd in Path(f"/proc/{daemon.pid}/fd").iterdir()}
            targets = {os.readlink(f"/proc/{daemon.pid}/fd/{fd}") for fd in fds}
        finally:
            procs.stop("fd-probe", grace=2)
    finally:
        os.close(held)

    assert fds == {0, 1, 2}, targets
    assert str(tmp_path / "lock") not in targets


#: How long /bin/sleep may take to reach its nanosleep once exec'd (it takes microseconds).
ASLEEP_DEADLINE = 5.0


def _wait_until_asleep(pid: int) -> None:
    """Poll (bounded) until ``pid`` blocks in nanosleep; /proc offers no event for it."""
    wchan = Path(f"/proc/{pid}/wchan")
    deadline = time.monotonic() + ASLEEP_DEADLINE
    while "nanosleep" not in wchan.read_text():
        assert time.monotonic() < deadline, f"pid {pid} not asleep after {ASLEEP_DEADLINE}s"
        time.sleep(0.005)
