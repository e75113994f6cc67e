"""Start, find and stop the cluster's daemons, which outlive the command that started them.

Each daemon gets a pid file (pid + executable path, so a recycled pid is never killed) and a log
file. Node daemons are entered into their node's network and mount namespaces with ``nsenter``:
``ip netns exec`` would create a fresh mount namespace and remount /sys, hiding the cgroup mounts.
Waiting for a process to exit uses a pidfd, so stopping is event-driven, not a polling loop.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from pytest_podnet.localcluster import paths

#: How long a daemon gets to exit after SIGTERM before SIGKILL (kubelet and containerd drain fast).
STOP_GRACE = 10.0
#: From spawn to the daemon's own program running: nsenter enters two namespaces and execs, in
#: milliseconds; 10 s covers a machine whose cores are busy.
DAEMON_EXEC = 10.0


@dataclass(frozen=True)
class Daemon:
    """A running (or recorded) daemon."""

    name: str
    pid: int
    executable: str
    log: Path

    @property
    def alive(self) -> bool:
        try:
            return (
                os.readlink(f"/proc/{self.pid}/exe").removesuffix(" (deleted)") == self.executable
            )
        except OSError:
            return False


def pid_dir() -> Path:
    return paths.run_dir() / "pids"


def log_dir() -> Path:
    return paths.state_dir() / "logs"


def start(
    name: str,
    argv: list[str],
    *,
    netns: str | None = None,
    mountns: Path | None = None,
    env: dict[str, str] | None = None,
) -> Daemon:
    """Start ``argv`` detached (own session), logging to ``logs/<name>.log``; reuse if running."""
    existing = find(name)
    if existing is not None and existing.alive:
        return existing
    pid_dir().mkdir(parents=True, exist_ok=True)
    log_dir().mkdir(parents=True, exist_ok=True)
    log = log_dir() / f"{name}.log"
    command = list(argv)
    if netns or mountns:
        enter = ["nsenter"]
        if netns:
            enter.append(f"--net=/run/netns/{netns}")
        if mountns:
            enter.append(f"--mount={mountns}")
        command = [*enter, "--", *argv]
    _keep_fds_from_daemons()
    # posix_spawn instead of Popen: the daemon outlives this process, and an abandoned Popen
    # object warns (ResourceWarning) when collected while its child still runs.
    pid = os.posix_spawnp(
        command[0],
        command,
        {**os.environ, **(env or {})},
        file_actions=[
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ],
        setsid=True,
    )
    executable = os.path.realpath(argv[0])
    daemon = Daemon(name, pid, executable, log)
    (pid_dir() / f"{name}.json").write_text(
        json.dumps({"pid": pid, "executable": executable, "log": str(log)})
    )
    _until_executed(daemon)
    return daemon


def _until_executed(daemon: Daemon) -> None:
    """Return once ``daemon`` runs its own program (not still ``nsenter`` on the way to it), or
    has exited: a caller that checks ``alive`` right after ``start`` (a fault that pauses the
    kube-proxy it just restarted) must not see the ``nsenter`` in between."""

    @retry(
        retry=retry_if_result(lambda settled: not settled),
        wait=wait_fixed(0.02),
        stop=stop_after_delay(DAEMON_EXEC),
        retry_error_callback=lambda state: False,
    )
    def settled() -> bool:
        return daemon.alive or not Path(f"/proc/{daemon.pid}").exists()

    settled()


def _keep_fds_from_daemons() -> None:
    """Mark every descriptor above stderr close-on-exec, so a daemon inherits none of ours.

    posix_spawn passes on every inheritable descriptor. A caller under `flock LOCKFILE podnet
    ...` holds the lock through an inherited one, and a daemon started then (``cluster up``, a
    ``fault remove`` restarting kube-proxy) kept it open, so the lock stayed taken for the
    daemon's whole life. Popen's ``close_fds`` does this for short-lived children already.
    """
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd > 2:
            # The directory listing's own descriptor is closed by now.
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def find(name: str) -> Daemon | None:
    """The recorded daemon ``name``, alive or not; None if never started."""
    record = pid_dir() / f"{name}.json"
    if not record.exists():
        return None
    data = json.loads(record.read_text())
    return Daemon(name, int(data["pid"]), data["executable"], Path(data["log"]))


def recorded() -> list[Daemon]:
    """Every daemon with a pid file, in start order."""
    if not pid_dir().exists():
        return []
    records = sorted(pid_dir().glob("*.json"), key=lambda p: p.stat().st_mtime)
    return [d for d in (find(r.stem) for r in records) if d is not None]


def wait_exit(pid: int, timeout: float) -> bool:
    """Block until ``pid`` exits or ``timeout`` passes; True if it exited."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def stop(name: str, *, grace: float = STOP_GRACE) -> None:
    """SIGTERM, then SIGKILL after ``grace``; forget the pid file."""
    daemon = find(name)
    if daemon is None:
        return
    kill_pid(daemon.pid, daemon.executable, grace=grace)
    (pid_dir() / f"{name}.json").unlink(missing_ok=True)


def kill_pid(pid: int, executable: str | None = None, *, grace: float = STOP_GRACE) -> None:
    """Stop one process, checking its executable first when known (pids get reused)."""
    if executable is not None and not Daemon("", pid, executable, Path()).alive:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        os.kill(pid, signal.SIGCONT)  # a paused daemon (the dataplane-frozen fault) must see it
        if not wait_exit(pid, grace):
            os.kill(pid, signal.SIGKILL)
            wait_exit(pid, grace)
    with contextlib.suppress(ChildProcessError):
        # Reap it if this process started it (a long pytest session does), or it stays a zombie.
        os.waitpid(pid, os.WNOHANG)


def run(argv: list[str], *, netns: str | None = None, check: bool = True) -> str:
    """Run a short command (optionally inside a node's network namespace) and return stdout."""
    command = ["nsenter", f"--net=/run/netns/{netns}", "--", *argv] if netns else argv
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, command, result.stdout, result.stderr
        )
    return result.stdout
