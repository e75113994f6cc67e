"""Probes: "from Pod A, call B" with typed outcomes, batched into one exec per source Pod.

A batch is one ``bash`` script run by one exec in the source Pod. It calls every target (in
parallel, at most ``PARALLEL`` at a time): ``curl`` for HTTP ``/clientip`` or ``/hostname`` on
netexec's port, OpenBSD ``nc -u`` for the UDP ``clientip`` / ``hostname`` commands, and prints one
parseable line per probe. An N x N matrix thus costs N execs, not N².

A probe is retried only while its answer is inconclusive (a reset or empty HTTP reply, no UDP
datagram back): a wrong answer is an answer, and retrying it until it turns right would hide the
very fault a check exists to catch. The one exception is asked for explicitly: ``converge_within``
keeps calling until the target is reachable or that many seconds pass, and reports how long it took
(for "Service programmed in the dataplane" waits and convergence timings).

Outcomes:

- ``REACHABLE``: the target answered (``seen_ip`` / ``seen_hostname`` say what it saw or is).
- ``REFUSED``: the network said no at once: TCP RST or ICMP port unreachable (nothing listens), or
  ICMP host/network unreachable (no host has that address).
- ``TIMED_OUT``: no answer within the per-attempt timeout (for UDP: after every attempt).
- ``ERROR``: anything else (e.g. an empty reply every time); ``detail`` has the tool's message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable, Generator, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Final, Literal

from pytest_podnet import kube, waits, workloads
from pytest_podnet.kube import PodInfo, ServiceInfo

Outcome = Literal["reachable", "refused", "timed-out", "error"]
#: The transport a probe uses: curl over TCP, or ``nc -u``.
Protocol = Literal["http", "udp"]
#: What a probe asks netexec: the source address it saw, or its hostname (the Pod's name).
Request = Literal["clientip", "hostname"]

REACHABLE: Final = "reachable"
REFUSED: Final = "refused"
TIMED_OUT: Final = "timed-out"
ERROR: Final = "error"
OUTCOMES: Final[tuple[Outcome, ...]] = (REACHABLE, REFUSED, TIMED_OUT, ERROR)

HTTP: Final = "http"
UDP: Final = "udp"
CLIENTIP: Final = "clientip"
HOSTNAME: Final = "hostname"

#: Attempts per probe while the answer is inconclusive.
ATTEMPTS: Final = 3
#: Probes one batch runs at once: enough for a node-pair matrix, few enough for a small Pod.
PARALLEL: Final = 16
_CURL_TIMEOUT: Final = 28
#: curl's CURLE_COULDNT_CONNECT: the connect failed at once (a TCP RST, or ICMP unreachable);
#: curl 7.88 words it "Couldn't connect to server", without "refused". A connect that hangs is
#: a timeout (28) instead.
_CURL_COULDNT_CONNECT: Final = 7
_MARK: Final = "@@podnet"
#: The line the batch script prints after each batch (``@@podnet-batch ROUND``).
_BATCH_END: Final = "@@podnet-batch"

#: The batch script (package data, linted by shellcheck): its header documents its arguments
#: and its output line; it also holds the curl exit codes that count as inconclusive.
SCRIPT_RESOURCE: Final = "scripts/probe.sh"


@cache
def pod_script(resource: str) -> str:
    """A script of package data (``scripts/*.sh``) that an exec runs in a Pod."""
    return resources.files("pytest_podnet").joinpath(resource).read_text("utf-8")


def batch_script() -> str:
    """The probe batch script that one exec runs in the source Pod."""
    return pod_script(SCRIPT_RESOURCE)


@dataclass(frozen=True)
class Probe:
    """One call to make: ``protocol`` to ``ip:port`` asking ``request``; ``ref`` names the
    target for messages (``pod/ns/name``, ``svc/ns/name`` or the bare IP)."""

    ip: str
    port: int
    protocol: Protocol = HTTP
    request: Request = CLIENTIP
    ref: str = ""

    @property
    def address(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


@dataclass(frozen=True)
class ProbeResult:
    """What one probe from ``source`` to ``target`` found."""

    source: str
    target: str
    protocol: Protocol
    outcome: Outcome
    seen_ip: str | None
    seen_hostname: str | None
    detail: str
    target_ref: str = ""
    source_ip: str | None = None
    source_node: str | None = None
    request: Request = CLIENTIP
    attempts: int = 1
    elapsed: float = 0.0

    def __str__(self) -> str:
        seen = self.seen_ip or self.seen_hostname
        return (
            f"{self.source} -> {self.target_ref or self.target} ({self.target}, "
            f"{self.protocol} {self.request}): {self.outcome}"
            + (f", saw {seen}" if seen else "")
            + (f" [{self.detail}]" if self.detail and self.outcome != REACHABLE else "")
        )


@dataclass(frozen=True)
class BatchCheck:
    """A named condition on one batch of probe results (what ``probe_until`` waits for).

    ``description`` completes "waiting for <target> to be ...", so a timeout says what the wait
    expected without the caller spelling it out again.
    """

    description: str
    holds: Callable[[Sequence[ProbeResult]], bool]

    def __call__(self, results: Sequence[ProbeResult]) -> bool:
        return self.holds(results)


def answered_only_by(names: Iterable[str]) -> BatchCheck:
    """Every probe reachable and answered by one of the Pods ``names`` (``hostname`` requests):
    nothing unanswered, nothing answered by another Pod."""
    expected = frozenset(names)

    def holds(results: Sequence[ProbeResult]) -> bool:
        return bool(results) and all(
            r.outcome == REACHABLE and r.seen_hostname in expected for r in results
        )

    return BatchCheck(f"answered only by {sorted(expected)}", holds)


def answered_by_each_of(names: Iterable[str]) -> BatchCheck:
    """Every probe reachable, answered by the Pods ``names`` and no other, each of them at least
    once (``hostname`` requests): the dataplane balances across all of them."""
    expected = frozenset(names)

    def holds(results: Sequence[ProbeResult]) -> bool:
        return {r.seen_hostname if r.outcome == REACHABLE else None for r in results} == expected

    return BatchCheck(f"answered by each of {sorted(expected)}", holds)


def answered_but_never_by(names: Iterable[str]) -> BatchCheck:
    """Every probe reachable and answered, none of them by one of the Pods ``names``
    (``hostname`` requests): the other backends serve, these never do."""
    excluded = frozenset(names)

    def holds(results: Sequence[ProbeResult]) -> bool:
        return bool(results) and all(
            r.outcome == REACHABLE
            and r.seen_hostname is not None
            and r.seen_hostname not in excluded
            for r in results
        )

    return BatchCheck(f"answered, never by {sorted(excluded)}", holds)


def not_answered_by(names: Iterable[str]) -> BatchCheck:
    """No probe reachable and answered by one of the Pods ``names`` (``hostname`` requests): a
    refusal, a timeout or an answer from any other Pod all count."""
    gone = frozenset(names)

    def holds(results: Sequence[ProbeResult]) -> bool:
        return not any(r.outcome == REACHABLE and r.seen_hostname in gone for r in results)

    return BatchCheck(f"no longer answering as {' or '.join(sorted(gone))}", holds)


Target = PodInfo | ServiceInfo | str | Probe


def probe_for(target: Target, protocol: Protocol = HTTP, request: Request = CLIENTIP) -> Probe:
    """The probe for a Pod (its IP, netexec's port), a Service (its ClusterIP and Service port),
    a bare IP (netexec's port) or an explicit ``Probe`` (taken as is)."""
    if protocol not in (HTTP, UDP):
        raise ValueError(f"protocol {protocol!r}: use {HTTP!r} or {UDP!r}")
    if request not in (CLIENTIP, HOSTNAME):
        raise ValueError(f"request {request!r}: use {CLIENTIP!r} or {HOSTNAME!r}")
    if isinstance(target, Probe):
        return target
    if isinstance(target, PodInfo):
        if not target.ip:
            raise ValueError(f"{target.ref} has no IP yet (phase {target.phase})")
        port = workloads.HTTP_PORT if protocol == HTTP else workloads.UDP_PORT
        return Probe(target.ip, port, protocol, request, target.ref)
    if isinstance(target, ServiceInfo):
        if not target.cluster_ip:
            raise ValueError(f"{target.ref} has no ClusterIP (headless?)")
        port = target.port("TCP" if protocol == HTTP else "UDP").port
        return Probe(target.cluster_ip, port, protocol, request, target.ref)
    port = workloads.HTTP_PORT if protocol == HTTP else workloads.UDP_PORT
    return Probe(target, port, protocol, request, target)


def probes_for(
    targets: Iterable[Target],
    protocol: Protocol = HTTP,
    request: Request = CLIENTIP,
    count: int = 1,
) -> list[Probe]:
    """``count`` probes to each target, in order; to each ClusterIP of a dual-stack Service
    (its IPv4 and its IPv6 address, in the Service's order), so a check of it covers both."""
    built: list[Probe] = []
    for target in targets:
        probe = probe_for(target, protocol, request)
        built.append(probe)
        if isinstance(target, ServiceInfo):
            others = [ip for ip in target.cluster_ips if ip != probe.ip]
            built += [dataclasses.replace(probe, ip=ip) for ip in others]
    return [p for p in built for _ in range(count)]


def exec_timeout(
    n: int, *, attempt_timeout: float, attempts: int, converge_within: float | None, scale: float
) -> float:
    """How long one batch of ``n`` probes may take, all retries included."""
    per_probe = (
        converge_within + attempt_timeout + 1
        if converge_within
        else attempts * (attempt_timeout + 1)
    )
    rounds = max(1, math.ceil(n / PARALLEL))
    return rounds * per_probe + waits.EXEC_OVERHEAD.scaled(scale)


def run_probes(
    cluster: kube.Cluster,
    source_pod: PodInfo,
    targets: Sequence[Target],
    *,
    protocol: Protocol = HTTP,
    request: Request = CLIENTIP,
    count: int = 1,
    attempts: int = ATTEMPTS,
    converge_within: float | None = None,
    scale: float = 1.0,
    pause: float = 0.0,
) -> list[ProbeResult]:
    """Run every probe to ``targets`` from ``source_pod`` in ONE exec; results in target order.

    Pods and bare IPs are called on netexec's ports (8080/TCP, 8081/UDP), Services on their
    Service ports; a ``Probe`` in ``targets`` is taken as is (its own protocol and request).
    ``pause`` seconds pass in the Pod before the first call (paces repeated batches).
    """
    batch = _Batch.of(
        targets, protocol, request, count, attempts, converge_within, scale, pause=pause
    )
    if not batch.probes:
        return []
    result = cluster.exec(
        source_pod.namespace,
        source_pod.name,
        batch.command(),
        timeout=batch.timeout,
        container=workloads.CONTAINER,
    )
    return batch.results(
        source_pod,
        parse_lines(result.stdout),
        f"exit {result.exit_code}: "
        f"{(result.stderr or result.stdout).strip()[-300:] or 'no output'}",
    )


def stream_probes(
    cluster: kube.Cluster,
    source_pod: PodInfo,
    targets: Sequence[Target],
    *,
    repeat_for: float,
    gap: float,
    protocol: Protocol = HTTP,
    request: Request = CLIENTIP,
    count: int = 1,
    scale: float = 1.0,
) -> Generator[list[ProbeResult], None, None]:
    """Run the batch to ``targets`` again and again in ONE exec in ``source_pod``, ``gap``
    seconds after each, for ``repeat_for`` seconds; yield each batch's results (target order)
    as soon as it ends. Close the generator to stop early: the loop in the Pod ends at its
    next line. For waits on a dataplane that follows a change (``Podnet.probe_until``): a
    round costs no exec of its own and is seen the moment it ends."""
    batch = _Batch.of(
        targets, protocol, request, count, ATTEMPTS, None, scale, repeat_for=repeat_for, gap=gap
    )
    if not batch.probes:
        return
    lines: list[str] = []
    with contextlib.closing(
        cluster.exec_lines(
            source_pod.namespace,
            source_pod.name,
            batch.command(),
            timeout=batch.timeout,
            container=workloads.CONTAINER,
        )
    ) as stream:
        for line in stream:
            if not line.startswith(_BATCH_END):
                lines.append(line)
                continue
            yield batch.results(source_pod, parse_lines("\n".join(lines)), "the batch ended")
            lines = []


@dataclass(frozen=True)
class _Batch:
    """The probes of one batch, the arguments of the batch script for them, and the exec
    timeout that bounds every round of it."""

    probes: list[Probe]
    args: list[str]
    timeout: float

    @classmethod
    def of(
        cls,
        targets: Sequence[Target],
        protocol: Protocol,
        request: Request,
        count: int,
        attempts: int,
        converge_within: float | None,
        scale: float,
        *,
        pause: float = 0.0,
        repeat_for: float = 0.0,
        gap: float = 0.0,
    ) -> _Batch:
        probes = probes_for(targets, protocol, request, count)
        attempt_timeout = waits.PROBE_ATTEMPT.scaled(scale)
        converge = 0 if not converge_within else max(1, math.ceil(converge_within))
        repeat = math.ceil(repeat_for)
        args = [
            str(math.ceil(attempt_timeout)),
            str(attempts),
            str(converge),
            str(PARALLEL),
            f"{pause:g}",
            str(repeat),
            f"{gap:g}",
        ]
        for index, probe in enumerate(probes):
            args += [str(index), probe.protocol, probe.ip, str(probe.port), probe.request]
        one = exec_timeout(
            len(probes),
            attempt_timeout=attempt_timeout,
            attempts=attempts,
            converge_within=converge or None,
            scale=scale,
        )
        return cls(probes, args, one + pause + (repeat + gap if repeat else 0.0))

    def command(self) -> list[str]:
        return ["bash", "-c", batch_script(), "podnet-probe", *self.args]

    def results(
        self,
        source_pod: PodInfo,
        lines: dict[int, tuple[int, int, int, str]],
        missing: str,
    ) -> list[ProbeResult]:
        """One result per probe, in order, from the script's parsed lines; a probe without a
        line is an ERROR saying ``missing`` (what the exec ended with)."""
        results = []
        for index, probe in enumerate(self.probes):
            line = lines.get(index)
            if line is None:
                results.append(
                    _result(
                        source_pod,
                        probe,
                        ERROR,
                        None,
                        f"no result line ({missing})",
                        attempts=0,
                        elapsed=0.0,
                    )
                )
                continue
            attempts_made, rc, elapsed_us, output = line
            outcome, detail = classify(probe.protocol, rc, output)
            results.append(
                _result(
                    source_pod,
                    probe,
                    outcome,
                    output if outcome == REACHABLE else None,
                    detail,
                    attempts=attempts_made,
                    elapsed=elapsed_us / 1e6,
                )
            )
        return results


def parse_lines(stdout: str) -> dict[int, tuple[int, int, int, str]]:
    """``index -> (attempts, exit code, elapsed µs, output)`` from the script's lines."""
    parsed: dict[int, tuple[int, int, int, str]] = {}
    for line in stdout.splitlines():
        if not line.startswith(_MARK + " "):
            continue
        fields = line.split(" ", 5)
        if len(fields) < 5:
            continue
        output = fields[5] if len(fields) == 6 else ""
        parsed[int(fields[1])] = (int(fields[2]), int(fields[3]), int(fields[4]), output.strip())
    return parsed


def concise(output: str) -> str:
    """The telling part of a tool's (flattened, verbose) error output."""
    parts = [p.strip() for p in output.split(" | ") if p.strip()]
    telling = [p for p in parts if "failed:" in p or p.startswith(("curl:", "nc:"))]
    return " | ".join(dict.fromkeys(telling or parts))[:500]


def classify(protocol: Protocol, rc: int, output: str) -> tuple[Outcome, str]:
    """The outcome of a probe's last attempt, and a detail for messages."""
    if rc == 0 and output:
        return REACHABLE, ""
    lowered = output.lower()
    output = concise(output)
    if "refused" in lowered:
        return REFUSED, output
    if "no route to host" in lowered or "unreachable" in lowered:
        return REFUSED, output
    if protocol == HTTP:
        if rc == _CURL_COULDNT_CONNECT:
            return REFUSED, output
        if rc == _CURL_TIMEOUT:
            return TIMED_OUT, output
        if rc == 0:
            return ERROR, "empty reply body on every attempt"
        return ERROR, f"curl exit {rc}: {output}".strip()
    if rc == 0:
        return TIMED_OUT, "no UDP reply on any attempt"
    return ERROR, f"nc exit {rc}: {output}".strip()


def parse_seen(request: Request, output: str) -> tuple[str | None, str | None]:
    """``(seen_ip, seen_hostname)`` from a netexec answer (``ip:port`` or a hostname)."""
    answer = output.strip()
    if not answer:
        return None, None
    if request == HOSTNAME:
        return None, answer
    host = answer.rsplit(":", 1)[0] if answer.count(":") == 1 or answer.startswith("[") else answer
    return host.strip("[]"), None


def _result(
    source: PodInfo,
    probe: Probe,
    outcome: Outcome,
    answer: str | None,
    detail: str,
    *,
    attempts: int,
    elapsed: float,
) -> ProbeResult:
    seen_ip, seen_hostname = parse_seen(probe.request, answer or "")
    return ProbeResult(
        source=source.ref,
        target=probe.address,
        protocol=probe.protocol,
        outcome=outcome,
        seen_ip=seen_ip,
        seen_hostname=seen_hostname,
        detail=detail,
        target_ref=probe.ref,
        source_ip=source.ip,
        source_node=source.node,
        request=probe.request,
        attempts=attempts,
        elapsed=elapsed,
    )
