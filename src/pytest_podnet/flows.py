"""Flows: a client that keeps calling one target, kept going inside its Pod, followed as it goes.

A probe batch makes every call a new flow (a fresh source port, a fresh conntrack entry), which is
what a check of "the dataplane balances new connections" needs. A real UDP client (a DNS resolver,
a syslog or statsd agent) instead keeps one socket, so the dataplane keeps ONE conntrack entry for
it, and a stale entry keeps it on a backend that is gone. A flow reproduces that client: the
script ``scripts/flow.sh`` calls the target every ``INTERVAL`` seconds from one fixed source port,
in the background of the source Pod, until it stops by itself (or ``stop``); one exec starts
it, and one exec follows it through a wait or an observation window, its calls read as they are
written (``follow``; ``read`` takes all of them at once), so a minute of calls costs a handful of
execs, not one per call.

A TCP flow (``probes.HTTP``) is the other client a replacement must not strand: one that opens a
new connection for every request (a kernel-chosen source port each time), as HTTP clients without
keep-alive and every retrying client do. Its calls show how long the Service's new connections
were cut while a backend was replaced, in the same terms as the UDP flow's.

A kept flow (``start(..., kept=True)``) is the third: HTTP requests on ONE established TCP
connection, as a connection pool keeps it. A call with no reply leaves its request pending on the
connection (TCP retransmits it), so an outage the connection survives shows as timed-out calls
and the same connection answering again; a connection that is closed, reset or silent for
``flow.sh``'s patience is *cut* (``FlowCall.cut``) and the next call opens a new one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection, Generator, Sequence
from dataclasses import dataclass
from typing import Final

from pytest_podnet import kube, probes, waits, workloads
from pytest_podnet.kube import PodInfo
from pytest_podnet.probes import REACHABLE, Outcome, Probe

#: Seconds between two calls of a flow: five a second resolves an outage to a fifth of a second
#: and keeps the flow's conntrack entry busy, as a chatty client does.
INTERVAL: Final = 0.2
#: Seconds one call waits for its reply; a reply ends the call at once.
CALL_TIMEOUT: Final = 1
#: The flow's fixed source port: below Linux's ephemeral range (32768-60999), so no probe batch
#: in the same Pod is handed it by the kernel.
SOURCE_PORT: Final = 30081
#: Source ports a set of flows takes (one per IP family of a dual-stack Service).
PORTS_PER_SET: Final = 2


def source_port_for(worker: str | None) -> int:
    """The first UDP source port of the flows of xdist worker ``worker`` (``gw3``; None: the
    one process of a run without xdist), so that workers' flows in one shared Pod differ."""
    digits = "".join(c for c in worker or "" if c.isdigit())
    return SOURCE_PORT + PORTS_PER_SET * int(digits or 0)


#: The script a flow runs (package data); its header documents its arguments and output.
SCRIPT_RESOURCE: Final = "scripts/flow.sh"
#: The script that follows a flow's log as it is written (``follow``).
FOLLOW_RESOURCE: Final = "scripts/follow.sh"
_MARK: Final = "@@flow"
_END: Final = "@@flow-end"
#: ``flow.sh``'s exit code for a call whose established connection was cut (curl's "failure in
#: receiving network data").
_CUT_EXIT: Final = 56


def flow_script() -> str:
    return probes.pod_script(SCRIPT_RESOURCE)


@dataclass(frozen=True)
class Flow:
    """A flow running in ``source``: ``request`` calls to ``target``, over UDP from the fixed
    ``source_port``, or over TCP with a new connection each (``source_port`` 0: any port), or
    (``kept``) over one TCP connection kept open."""

    source: PodInfo
    target: Probe
    source_port: int
    log: str
    kept: bool = False
    #: The flow's process in its Pod (``stop`` ends it).
    pid: int | None = None

    def __str__(self) -> str:
        if self.target.protocol == probes.UDP:
            kind, port = "UDP flow", f", source port {self.source_port}"
        elif self.kept:
            kind, port = "TCP client that keeps one connection open", ""
        else:
            kind, port = "TCP client that reconnects for every call", ""
        return (
            f"the {kind} from {self.source.ref} ({self.source.ip} on {self.source.node}{port}) "
            f"to {self.target.ref} ({self.target.address})"
        )


@dataclass(frozen=True)
class FlowCall:
    """One call of a flow: its number, when it started (seconds after the flow started), what
    it found, and who answered (the Pod name, for ``hostname`` requests; for ``clientip``
    requests the source IP the answering Pod saw). A kept flow's call also names its
    ``connection`` (numbered from 1) and whether that established connection was ``cut``."""

    seq: int
    at: float
    outcome: Outcome
    answered_by: str | None
    detail: str
    elapsed: float
    connection: int | None = None
    cut: bool = False


def start(
    cluster: kube.Cluster,
    source: PodInfo,
    target: Probe,
    *,
    lifetime: float,
    scale: float = 1.0,
    source_port: int = SOURCE_PORT,
    kept: bool = False,
    tag: str = "",
) -> Flow:
    """Start a flow of ``target.request`` calls from ``source`` to ``target`` (a UDP or HTTP
    ``Probe``) that stops by itself after ``lifetime`` seconds (or with its Pod, or ``stop``);
    return at once. A UDP flow sends from ``source_port``; an HTTP flow from a new port every
    call, or with ``kept`` every call on one connection kept open. ``tag`` goes into the name of
    the flow's log (a Pod shared by checks runs flows of several)."""
    if target.protocol not in (probes.UDP, probes.HTTP):
        raise ValueError(f"a flow is UDP or HTTP; {target.ref} is probed over {target.protocol}")
    if kept and target.protocol != probes.HTTP:
        raise ValueError(f"a kept flow is HTTP; {target.ref} is probed over {target.protocol}")
    if target.protocol == probes.HTTP:
        source_port = 0
    mode = "kept" if kept else target.protocol
    # One log per flow: a Pod may run several (one per path, for the disruption monitor; of
    # several checks, in a shared probe Pod).
    name = "-".join(p for p in (tag, mode, str(source_port), target.ip, str(target.port)) if p)
    log = f"/tmp/podnet/flow-{name}.log"
    args = [
        log,
        mode,
        target.ip,
        str(target.port),
        str(source_port),
        target.request,
        f"{INTERVAL:g}",
        str(CALL_TIMEOUT),
        str(max(1, round(lifetime))),
    ]
    # The flow outlives this exec: its stdio goes to /dev/null, so the exec stream closes as
    # soon as the outer shell has put it in the background and said its process id.
    launcher = 'bash -c "$0" podnet-flow "$@" </dev/null >/dev/null 2>&1 & echo "$!"'
    result = cluster.exec(
        source.namespace,
        source.name,
        ["bash", "-c", launcher, flow_script(), *args],
        timeout=waits.EXEC_OVERHEAD.scaled(scale),
        container=workloads.CONTAINER,
    )
    if result.exit_code != 0:
        raise kube.KubeError(
            f"could not start a flow in {source.ref}: exit {result.exit_code}: "
            f"{(result.stderr or result.stdout).strip()[-300:]}"
        )
    pid = result.stdout.strip()
    return Flow(source, target, source_port, log, kept, int(pid) if pid.isdigit() else None)


def stop(cluster: kube.Cluster, running: Sequence[Flow], *, scale: float = 1.0) -> None:
    """End the flows of ``running`` (all in one Pod) at once: one exec. A flow that already
    stopped is no error."""
    pids = [str(f.pid) for f in running if f.pid is not None]
    if not pids:
        return
    source = running[0].source
    cluster.exec(
        source.namespace,
        source.name,
        ["bash", "-c", 'kill "$@" 2>/dev/null; :', "podnet-stop", *pids],
        timeout=waits.EXEC_OVERHEAD.scaled(scale),
        container=workloads.CONTAINER,
    )


def read(
    cluster: kube.Cluster, flow: Flow, *, after: int = 0, pause: float = 0.0, scale: float = 1.0
) -> tuple[list[FlowCall], bool]:
    """The calls of ``flow`` numbered above ``after`` (one exec, ``pause`` seconds spent in the
    Pod first), and whether the flow has stopped."""
    script = 'read -rt "$0" _ <> <(:); tail -n "+$(($1 + 1))" "$2" 2>/dev/null; :'
    result = cluster.exec(
        flow.source.namespace,
        flow.source.name,
        ["bash", "-c", script, f"{pause:g}", str(after), flow.log],
        timeout=pause + waits.EXEC_OVERHEAD.scaled(scale),
        container=workloads.CONTAINER,
    )
    return parse(result.stdout, flow.target.protocol, flow.target.request)


def follow(
    cluster: kube.Cluster,
    flow: Flow,
    *,
    seconds: float,
    after: int | None = None,
    scale: float = 1.0,
) -> Generator[FlowCall | None, None, None]:
    """Every call of ``flow`` as it ends, for up to ``seconds``, from ONE exec: the calls
    numbered above ``after``, or (None) only those that end from now on. Yields None, last,
    when the flow has stopped. Close the generator to stop early."""
    command = [
        "bash",
        "-c",
        probes.pod_script(FOLLOW_RESOURCE),
        "podnet-follow",
        flow.log,
        str(-1 if after is None else after),
        str(max(1, round(seconds * 1000))),
    ]
    with contextlib.closing(
        cluster.exec_lines(
            flow.source.namespace,
            flow.source.name,
            command,
            timeout=seconds + waits.EXEC_OVERHEAD.scaled(scale),
            container=workloads.CONTAINER,
        )
    ) as lines:
        for line in lines:
            calls, ended = parse(line, flow.target.protocol, flow.target.request)
            yield from calls
            if ended:
                yield None
                return


def parse(
    text: str, protocol: probes.Protocol = probes.UDP, request: probes.Request = probes.HOSTNAME
) -> tuple[list[FlowCall], bool]:
    """The calls in ``text`` (lines of ``flow.sh`` for a ``protocol`` flow of ``request``
    calls), and whether it saw the end line. An answered call's ``answered_by`` is the answering
    Pod's name (``hostname``) or the source IP it saw (``clientip``, without the port)."""
    calls: list[FlowCall] = []
    ended = False
    for line in text.splitlines():
        if line.startswith(_END):
            ended = True
            continue
        fields = line.split(" ", 5)
        if fields[0] != _MARK or len(fields) < 5:
            continue
        seq, at_us, rc, elapsed_us = (int(f) for f in fields[1:5])
        output = fields[5].strip() if len(fields) == 6 else ""
        connection, output = _connection(output)
        cut = connection is not None and rc == _CUT_EXIT
        outcome: Outcome = probes.ERROR
        if cut:
            detail = f"connection #{connection} {output}"
        else:
            outcome, detail = probes.classify(protocol, rc, output)
        calls.append(
            FlowCall(
                seq,
                at_us / 1e6,
                outcome,
                _answer(request, output) if outcome == REACHABLE else None,
                detail,
                elapsed_us / 1e6,
                connection,
                cut,
            )
        )
    return calls, ended


def _connection(output: str) -> tuple[int | None, str]:
    """A kept flow's ``conn=N rest`` split into ``(N, rest)``; other output as ``(None, it)``."""
    head, _, rest = output.partition(" ")
    if head.startswith("conn=") and head[5:].isdigit():
        return int(head[5:]), rest
    return None, output


def _answer(request: probes.Request, output: str) -> str:
    seen_ip, hostname = probes.parse_seen(request, output)
    return seen_ip or hostname or output


def first_run_answered_by(
    calls: Sequence[FlowCall], names: Collection[str], length: int
) -> FlowCall | None:
    """The first call of the first ``length`` calls in a row answered by one of ``names``."""
    run: list[FlowCall] = []
    for call in calls:
        run = [*run, call] if call.answered_by in names else []
        if len(run) >= length:
            return run[0]
    return None


def outage(calls: Sequence[FlowCall], before: Collection[str], after: Collection[str]) -> float:
    """Seconds from the end of the last call answered by one of ``before`` to the start of the
    first later call answered by one of ``after``: how long the flow went unanswered."""
    last_before = max(
        (c for c in calls if c.answered_by in before), key=lambda c: c.seq, default=None
    )
    start = last_before.at + last_before.elapsed if last_before else 0.0
    first_after = next((c for c in calls if c.answered_by in after and c.at >= start), None)
    return round(first_after.at - start, 3) if first_after else float("inf")


def summary(calls: Sequence[FlowCall], limit: int = 12) -> str:
    """The calls as runs of one kind, newest last: ``#31-#44 timed-out (no UDP reply ...)``."""
    runs: list[tuple[int, int, str]] = []
    for call in calls:
        kind = (
            f"answered by {call.answered_by}"
            if call.outcome == REACHABLE
            else f"{call.outcome}" + (f" ({call.detail})" if call.detail else "")
        )
        if runs and runs[-1][2] == kind:
            runs[-1] = (runs[-1][0], call.seq, kind)
        else:
            runs.append((call.seq, call.seq, kind))
    shown = runs[-limit:]
    lines = [f"  #{a}" + (f"-#{b}" if b != a else "") + f" {kind}" for a, b, kind in shown]
    if len(runs) > limit:
        lines.insert(0, f"  ({len(runs) - limit} earlier runs of calls not shown)")
    return "\n".join(lines) or "  (no call recorded yet)"
