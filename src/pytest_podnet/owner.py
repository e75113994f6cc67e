"""Who owns a run's namespaces, and whether that owner is provably gone.

A run records its owner on every namespace it creates (annotation ``podnet.io/owner``): the
host, the boot, the PID of the session's controller and that process's start time. At the start
of the next run on any host, a namespace whose owner is provably gone is removed:

- same host and boot: the PID no longer runs, or runs a different process (its start time
  differs, so the PID was reused);
- same host, another boot: the machine restarted since;
- any owner, older than ``DEAD_RUN_FLOOR``: no run of ours lives that long.

A namespace of a live run, or of another host's run younger than the floor, is never touched;
nor is one a run kept on purpose (``--podnet-keep``, annotation ``podnet.io/kept``): only
``podnet sweep`` removes that.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

#: Annotation on every namespace a run creates: ``host/boot-id/pid/start-ticks``.
OWNER_ANNOTATION: Final = "podnet.io/owner"
#: Annotation on a namespace a run kept on purpose (``--podnet-keep``): the policy that kept it.
#: Later runs leave it alone whatever its owner; ``podnet sweep`` removes it.
KEPT_ANNOTATION: Final = "podnet.io/kept"
#: A run older than this is presumed dead even when its owner cannot be checked (another host):
#: a full run takes minutes and an upgrade gate about an hour, so six hours is far beyond
#: any live run.
DEAD_RUN_FLOOR: Final = timedelta(hours=6)


@dataclass(frozen=True)
class Owner:
    """The process that owns a run: where it ran and which process it was."""

    host: str
    boot: str
    pid: int
    start: str

    @property
    def annotation(self) -> str:
        return f"{self.host}/{self.boot}/{self.pid}/{self.start}"

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        parts = text.split("/")
        if len(parts) != 4 or not parts[2].isdigit():
            return None
        return cls(parts[0], parts[1], int(parts[2]), parts[3])

    @classmethod
    def of_process(cls, pid: int | None = None) -> Owner:
        """The owner record of ``pid`` (default: this process) on this machine."""
        pid = os.getpid() if pid is None else pid
        return cls(socket.gethostname(), _boot_id(), pid, _start_ticks(pid) or "?")


def gone_because(owner: Owner | None, created: datetime | None, here: Owner) -> str | None:
    """Why the run of ``owner`` is provably gone, or None while it may still be running."""
    if created is not None and datetime.now(UTC) - created > DEAD_RUN_FLOOR:
        return f"older than {DEAD_RUN_FLOOR.total_seconds() / 3600:g}h"
    if owner is None or owner.host != here.host:
        return None
    if owner.boot != here.boot:
        return f"host {owner.host} restarted since"
    ticks = _start_ticks(owner.pid)
    if ticks is None:
        return f"pid {owner.pid} on {owner.host} exited"
    if ticks != owner.start:
        return f"pid {owner.pid} on {owner.host} exited (the pid now runs another process)"
    return None


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "?"


def _start_ticks(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else None
