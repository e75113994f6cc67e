"""Calling a Service by its DNS name, as an application in a Pod does.

Users configure a Service's name, not its ClusterIP. ``call`` runs ``scripts/by_name.sh`` in the
source Pod (one exec for every name): curl resolves each name through the Pod's own resolv.conf
(the cluster DNS, its search path and ndots), connects, and reports the address it connected to
and the answer, so one call shows both what the name resolved to and who served it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from pytest_podnet import kube, probes, waits, workloads
from pytest_podnet.kube import PodInfo, ServiceInfo
from pytest_podnet.probes import REACHABLE, Outcome

SCRIPT_RESOURCE: Final = "scripts/by_name.sh"
_MARK: Final = "@@name"


def by_name_script() -> str:
    return probes.pod_script(SCRIPT_RESOURCE)


@dataclass(frozen=True)
class NameCall:
    """One call of ``name`` from ``source``: the address it resolved to (None: it did not
    resolve, or nothing was connected to), the outcome, and who answered (``hostname``)."""

    source: PodInfo
    name: str
    outcome: Outcome
    address: str | None
    answered_by: str | None
    detail: str

    def __str__(self) -> str:
        seen = f"answered by {self.answered_by}" if self.answered_by else self.outcome
        return (
            f"{self.source.ref} on {self.source.node}: {self.name} -> "
            f"{self.address or 'no address'}: {seen}" + (f" [{self.detail}]" if self.detail else "")
        )


def service_names(svc: ServiceInfo, domain: str) -> tuple[str, str]:
    """The fully qualified name of ``svc`` and its short name (valid in its own namespace)."""
    return f"{svc.name}.{svc.namespace}.svc.{domain}", svc.name


def cluster_domain(resolv_conf: str, namespace: str) -> str | None:
    """The cluster domain from a Pod's resolv.conf: the kubelet puts ``<namespace>.svc.<domain>``
    first on its search line when the cluster has a DNS (None: it has none)."""
    for line in resolv_conf.splitlines():
        fields = line.split()
        if fields[:1] == ["search"]:
            prefix = f"{namespace}.svc."
            for domain in fields[1:]:
                if domain.startswith(prefix) and len(domain) > len(prefix):
                    return domain[len(prefix) :].rstrip(".")
    return None


def call(
    cluster: kube.Cluster,
    source: PodInfo,
    names: Sequence[str],
    *,
    port: int = workloads.SERVICE_HTTP_PORT,
    scale: float = 1.0,
    pause: float = 0.0,
) -> list[NameCall]:
    """Call ``http://<name>:<port>/hostname`` for each of ``names`` from ``source``, in order;
    ``pause`` seconds pass in the Pod first (paces repeated rounds)."""
    timeout = waits.PROBE_ATTEMPT.scaled(scale)
    result = cluster.exec(
        source.namespace,
        source.name,
        [
            "bash",
            "-c",
            by_name_script(),
            "podnet-by-name",
            f"{pause:g}",
            str(max(1, round(timeout))),
            str(port),
            probes.HOSTNAME,
            *names,
        ],
        timeout=pause + len(names) * (timeout + 1) + waits.EXEC_OVERHEAD.scaled(scale),
        container=workloads.CONTAINER,
    )
    lines = parse(result.stdout)
    calls = []
    for name in names:
        rc, address, output = lines.get(name, (-1, None, f"no result line: {result.stderr[-200:]}"))
        outcome, detail = probes.classify(probes.HTTP, rc, output)
        calls.append(
            NameCall(
                source,
                name,
                outcome,
                address,
                output if outcome == REACHABLE else None,
                detail,
            )
        )
    return calls


_LINE = re.compile(r"^@@name (\S+) (-?\d+) (\S+) ?(.*)$")


def parse(stdout: str) -> dict[str, tuple[int, str | None, str]]:
    """``name -> (exit code, address or None, output)`` from the script's lines."""
    parsed: dict[str, tuple[int, str | None, str]] = {}
    for line in stdout.splitlines():
        found = _LINE.match(line)
        if found and line.startswith(_MARK):
            name, rc, address, output = found.groups()
            parsed[name] = (int(rc), None if address == "-" else address, output.strip())
    return parsed
