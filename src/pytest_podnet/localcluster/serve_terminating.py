"""The daemon of the ``serve-terminating`` fault: new connections keep going to terminating Pods.

A Pod being deleted turns ``ready: false, serving: true, terminating: true`` in its Service's
EndpointSlice, and a dataplane must send it no new connection while a Ready endpoint exists
(kube-proxy falls back to serving-terminating endpoints only when none is Ready; ovn-kubernetes
PR #4072 fixed a dataplane that did not). This daemon makes the nodes' dataplane do just that:
it follows every EndpointSlice (a ``kubectl --watch``), and for each Service that has Ready
endpoints and serving-terminating ones, it DNATs half of the new connections to the ClusterIP to
the terminating endpoints, with rules in ``CHAIN`` (first in nat PREROUTING of every node, ahead
of kube-proxy's). Rules follow the slices: they go when the endpoint leaves or no Ready one is left.

    python -m pytest_podnet.localcluster.serve_terminating KUBECTL KUBECONFIG CHAIN NETNS...
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: The share of a Service's new connections sent to its terminating endpoints.
SHARE = "0.5"


@dataclass(frozen=True)
class Diversion:
    """New connections to ``cluster_ip:port`` (``protocol``) that go to ``endpoint`` instead."""

    cluster_ip: str
    port: int
    protocol: str
    endpoint: str
    endpoint_port: int


def diversions(slice_: dict[str, Any], service: dict[str, Any]) -> list[Diversion]:
    """What the fault sends to the terminating endpoints of one EndpointSlice of ``service``."""
    endpoints = slice_.get("endpoints") or []
    ready = [e for e in endpoints if (e.get("conditions") or {}).get("ready")]
    draining = [
        e
        for e in endpoints
        if (e.get("conditions") or {}).get("terminating")
        and (e.get("conditions") or {}).get("serving")
    ]
    cluster_ip = (service.get("spec") or {}).get("clusterIP")
    if not ready or not draining or not cluster_ip or cluster_ip == "None":
        return []
    by_name = {p.get("name") or "": p for p in slice_.get("ports") or []}
    found = []
    for port in (service.get("spec") or {}).get("ports") or []:
        target = by_name.get(port.get("name") or "")
        if target is None:
            continue
        for endpoint in draining:
            for address in endpoint.get("addresses") or []:
                found.append(
                    Diversion(
                        cluster_ip,
                        int(port["port"]),
                        str(port.get("protocol", "TCP")).lower(),
                        address,
                        int(target["port"]),
                    )
                )
    return found


def rules(chain: str, found: list[Diversion]) -> str:
    """The nat table's ``chain`` holding ``found``, in iptables-restore form."""
    lines = ["*nat", f":{chain} - [0:0]"]
    for d in sorted(set(found), key=lambda d: (d.cluster_ip, d.port, d.protocol, d.endpoint)):
        lines.append(
            f"-A {chain} -d {d.cluster_ip}/32 -p {d.protocol} -m {d.protocol} --dport {d.port}"
            f" -m statistic --mode random --probability {SHARE}"
            f" -j DNAT --to-destination {d.endpoint}:{d.endpoint_port}"
        )
    return "\n".join([*lines, "COMMIT", ""])


def _events(kubectl: list[str]) -> Iterator[dict[str, Any]]:
    """Watch events of every EndpointSlice (kubectl prints one JSON document per event)."""
    watch = subprocess.Popen(
        [*kubectl, "get", "endpointslices", "-A", "--watch", "--output-watch-events", "-o", "json"],
        stdout=subprocess.PIPE,
        text=True,
    )
    if watch.stdout is None:  # never with stdout=PIPE; narrows the type
        return

    def stop(signum: int, frame: object) -> None:
        watch.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    decoder = json.JSONDecoder()
    buffer = ""
    for line in watch.stdout:
        buffer += line
        while buffer.strip():
            try:
                event, end = decoder.raw_decode(buffer.lstrip())
            except ValueError:
                break
            buffer = buffer.lstrip()[end:]
            yield event


def main(argv: list[str]) -> int:
    kubectl_binary, kubeconfig, chain, *netns = argv
    kubectl = [kubectl_binary, f"--kubeconfig={kubeconfig}"]
    slices: dict[tuple[str, str], list[Diversion]] = {}
    services: dict[tuple[str, str], dict[str, Any]] = {}
    applied = ""
    print(f"following EndpointSlices; diverting to terminating endpoints on {netns}", flush=True)
    for event in _events(kubectl):
        slice_ = event.get("object") or {}
        meta = slice_.get("metadata") or {}
        namespace, name = meta.get("namespace", ""), meta.get("name", "")
        service_name = (meta.get("labels") or {}).get("kubernetes.io/service-name")
        if event.get("type") == "DELETED" or not service_name:
            slices.pop((namespace, name), None)
        else:
            key = (namespace, service_name)
            if key not in services:
                got = subprocess.run(
                    [*kubectl, "get", "service", "-n", namespace, service_name, "-o", "json"],
                    capture_output=True,
                    text=True,
                )
                services[key] = json.loads(got.stdout) if got.returncode == 0 else {}
            slices[(namespace, name)] = diversions(slice_, services[key])
        wanted = rules(chain, [d for found in slices.values() for d in found])
        if wanted == applied:
            continue
        for ns in netns:
            subprocess.run(
                ["nsenter", f"--net=/run/netns/{ns}", "--", "iptables-restore", "-w", "--noflush"],
                input=wanted,
                text=True,
                check=False,
            )
        applied = wanted
        print(f"diverting: {wanted.count('-A ')} rule(s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
