"""The daemon of the ``stale-udp-conntrack`` fault: kube-proxy's UDP conntrack cleanup, undone.

When a Service's backend goes away, kube-proxy deletes the conntrack entries of UDP flows that
were sent to it; without that, a client that keeps its socket stays on the gone backend for as
long as it keeps sending (upstream's conntrack e2e tests and kubernetes#59368 are about that).
This daemon runs in one node's network namespace and follows conntrack's DESTROY events. When a
UDP entry whose destination is a Service IP and whose replies came from another address (a
backend it was DNATed to) is destroyed, it pins that 5-tuple to that backend: a DNAT rule in
``CHAIN`` (hooked first in nat PREROUTING, ahead of kube-proxy's rules) sends the flow's next
datagrams there again, and an entry the flow made meanwhile is deleted so the rule applies. The
flow then behaves as if its conntrack entry had outlived its backend; new flows are untouched.

    python -m pytest_podnet.localcluster.udp_pin SERVICE_CIDR CHAIN
"""

from __future__ import annotations

import ipaddress
import re
import signal
import subprocess
import sys
from dataclasses import dataclass

_TUPLE = re.compile(r"src=(\S+) dst=(\S+) sport=(\d+) dport=(\d+)")


@dataclass(frozen=True)
class Destroyed:
    """A destroyed UDP conntrack entry: its original tuple and where its replies came from."""

    src: str
    dst: str
    sport: str
    dport: str
    reply_src: str
    reply_sport: str


def parse(line: str) -> Destroyed | None:
    """``[DESTROY] udp 17 src=C dst=VIP sport=a dport=b src=B dst=C sport=p dport=a ...``."""
    tuples = _TUPLE.findall(line)
    if "udp" not in line.split() or len(tuples) < 2:
        return None
    (src, dst, sport, dport), (reply_src, _, reply_sport, _) = tuples[:2]
    return Destroyed(src, dst, sport, dport, reply_src, reply_sport)


def _match(flow: Destroyed) -> list[str]:
    return [
        "-s",
        flow.src,
        "-d",
        flow.dst,
        "-p",
        "udp",
        "--sport",
        flow.sport,
        "--dport",
        flow.dport,
    ]


def pin(flow: Destroyed, chain: str) -> None:
    """Send ``flow``'s 5-tuple to the backend it had, and drop any entry it made since."""
    subprocess.run(
        [
            *("iptables", "-w", "-t", "nat", "-A", chain),
            *_match(flow),
            *("-j", "DNAT", "--to-destination", f"{flow.reply_src}:{flow.reply_sport}"),
        ],
        check=True,
    )
    subprocess.run(
        [
            "conntrack",
            "-D",
            "-p",
            "udp",
            "-s",
            flow.src,
            "-d",
            flow.dst,
            "--sport",
            flow.sport,
            "--dport",
            flow.dport,
        ],
        capture_output=True,
        check=False,
    )


def main(argv: list[str]) -> int:
    services = ipaddress.ip_network(argv[0])
    chain = argv[1]
    pinned: set[tuple[str, str, str, str]] = set()
    events = subprocess.Popen(
        ["conntrack", "-E", "-e", "DESTROY", "-p", "udp"], stdout=subprocess.PIPE, text=True
    )
    if events.stdout is None:  # never with stdout=PIPE; narrows the type
        return 1

    def stop(signum: int, frame: object) -> None:
        # `podnet cluster fault remove` / `down` stop this process; its conntrack goes with it.
        events.terminate()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"following UDP conntrack DESTROY events for Service IPs in {services}", flush=True)
    for line in events.stdout:
        flow = parse(line)
        if flow is None or flow.reply_src == flow.dst:
            continue
        if ipaddress.ip_address(flow.dst) not in services:
            continue
        key = (flow.src, flow.dst, flow.sport, flow.dport)
        # Only the first destroy of a tuple says where it went; later ones are kube-proxy
        # deleting the pinned flow's entries again, or the entries pin() itself deletes.
        if key in pinned:
            continue
        pinned.add(key)
        pin(flow, chain)
        print(
            f"pinned {flow.src}:{flow.sport} -> {flow.dst}:{flow.dport} to "
            f"{flow.reply_src}:{flow.reply_sport}",
            flush=True,
        )
    return events.wait()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
