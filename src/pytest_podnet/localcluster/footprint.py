"""What the cluster can leave on the host, read in one snapshot.

`podnet cluster down` must return the host to the snapshot taken before `up`; the lifecycle test
compares the two, and `down` reports any difference it finds after cleaning up.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, fields
from pathlib import Path

from pytest_podnet.localcluster import network, paths
from pytest_podnet.localcluster.node import hierarchies

#: Marks in a process's command line or cgroup that tie it to the cluster.
PROCESS_MARKS = ("/pytest-podnet/", "podnet-podnet-node-")


@dataclass(frozen=True)
class Footprint:
    netns: frozenset[str]
    links: frozenset[str]
    routes: frozenset[str]
    mounts: frozenset[str]
    iptables: tuple[str, ...]
    nft_tables: frozenset[str]
    processes: frozenset[str]
    cgroups: frozenset[str]
    sysctls: tuple[str, ...]
    directories: frozenset[str]

    def differences(self, other: Footprint) -> dict[str, tuple[list[str], list[str]]]:
        """Per aspect: (present only in self, present only in other)."""
        diff: dict[str, tuple[list[str], list[str]]] = {}
        for field in fields(self):
            mine, theirs = set(getattr(self, field.name)), set(getattr(other, field.name))
            if mine != theirs:
                diff[field.name] = (sorted(mine - theirs), sorted(theirs - mine))
        return diff


def _lines(*command: str) -> list[str]:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def _iptables() -> tuple[str, ...]:
    """Both families' rules, counters left out (IPv6 lines marked ``ip6:``)."""
    rules = []
    for tool, mark in (("iptables-save", ""), ("ip6tables-save", "ip6: ")):
        for line in _lines(tool):
            if line.startswith("#"):
                continue
            rules.append(mark + re.sub(r"\[\d+:\d+\]", "", line).strip())
    return tuple(rules)


def _processes() -> frozenset[str]:
    """Processes tied to the cluster by command line or cgroup.

    A process that has already exited (a zombie, or one whose memory is gone: an empty command
    line) and waits for another parent to reap it (e.g. a killed shim's child handed to init)
    holds nothing any more and goes by itself: it is not residue. A zombie of this process is,
    since nothing else will ever reap it."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cgroup = (proc / "cgroup").read_text()
            state, ppid = (proc / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except (OSError, ValueError):
            continue
        # An empty command line: its memory is already released, it is exiting.
        exited = state in ("Z", "X") or not cmdline.strip()
        if exited and int(ppid) != os.getpid():
            continue
        if any(mark in cmdline or mark in cgroup for mark in PROCESS_MARKS):
            found.add(f"{proc.name} {cmdline.strip()[:120]}")
    return frozenset(found)


def snapshot() -> Footprint:
    """Read every host aspect the cluster touches."""
    return Footprint(
        netns=frozenset(_lines("ip", "netns", "list")),
        links=frozenset(
            line.split(":")[1].split("@")[0].strip() for line in _lines("ip", "-o", "link")
        ),
        routes=frozenset(
            _lines("ip", "-4", "route", "show", "table", "all")
            + _lines("ip", "-6", "route", "show", "table", "all")
        ),
        mounts=frozenset(
            line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
        ),
        iptables=_iptables(),
        nft_tables=frozenset(_lines("nft", "list", "tables")),
        processes=_processes(),
        cgroups=frozenset(str(group) for h in hierarchies() for group in h.glob("podnet-*")),
        sysctls=tuple(
            f"{k}={v}" for k in network.KUBELET_SYSCTLS for v in _lines("sysctl", "-n", k)
        ),
        directories=frozenset(
            str(p) for p in (paths.state_dir(), paths.run_dir(), Path("/run/netns")) if p.exists()
        ),
    )
