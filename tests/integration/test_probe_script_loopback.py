"""The scripts a Pod runs, run by bash on this machine against loopback servers only: the probe
batch (one batch, or batches repeated until the reader goes) and the follower of a flow's log.

No cluster: a stand-in for ``kube.Cluster.exec`` runs the exact command ``probes.run_probes``
would exec in a Pod, here in a local bash (it needs bash, curl and OpenBSD nc, as the agnhost
image has). Every target is on 127.0.0.1: a netexec-like HTTP and UDP server, a TCP listener
that never answers, a UDP socket that never answers, and closed ports.
"""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pytest_podnet import flows, kube, probes

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "curl", "nc")),
    reason="needs bash, curl and nc on this machine",
)

SOURCE = kube.PodInfo("ns", "src", "uid", "127.0.0.1", ("127.0.0.1",), "node", "Running", True, 0)


class LocalExec:
    """Runs what would be exec'd in the source Pod in a local process instead; counts calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.streamed: list[subprocess.Popen[str]] = []

    def exec(
        self, namespace: str, pod: str, command: list[str], *, timeout: float, container: str
    ) -> kube.ExecResult:
        self.calls += 1
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        return kube.ExecResult(done.stdout, done.stderr, done.returncode)

    def exec_lines(
        self, namespace: str, pod: str, command: list[str], *, timeout: float, container: str
    ) -> Iterator[str]:
        """As ``kube.Cluster.exec_lines``: stdout line by line, stdin open until closed."""
        self.calls += 1
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.streamed.append(process)
        assert process.stdin is not None
        assert process.stdout is not None
        try:
            for line in process.stdout:
                yield line.rstrip("\n")
        finally:
            process.stdin.close()
            process.stdout.close()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:  # the script ignored the end of its stdin
                process.kill()
                process.wait()


class Answering(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        host, port = self.client_address[:2]
        body = (f"{host}:{port}" if self.path == "/clientip" else "echo-host").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Servers:
    http: int
    udp: int
    silent_tcp: int
    silent_udp: int
    closed: int


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def servers() -> Iterator[Servers]:
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answering)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    silent_tcp = socket.socket()
    silent_tcp.bind(("127.0.0.1", 0))
    silent_tcp.listen(16)
    silent_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent_udp.bind(("127.0.0.1", 0))
    stop = threading.Event()

    def answer_udp() -> None:
        udp.settimeout(0.2)
        while not stop.is_set():
            try:
                data, peer = udp.recvfrom(256)
            except TimeoutError:
                continue
            reply = f"{peer[0]}:{peer[1]}" if data.strip() == b"clientip" else "echo-host"
            udp.sendto(reply.encode(), peer)

    threads = [
        threading.Thread(target=web.serve_forever, daemon=True),
        threading.Thread(target=answer_udp, daemon=True),
    ]
    for thread in threads:
        thread.start()
    yield Servers(
        http=web.server_address[1],
        udp=udp.getsockname()[1],
        silent_tcp=silent_tcp.getsockname()[1],
        silent_udp=silent_udp.getsockname()[1],
        closed=_free_port(socket.SOCK_STREAM),
    )
    stop.set()
    web.shutdown()
    web.server_close()
    for thread in threads:
        thread.join()
    for sock in (udp, silent_tcp, silent_udp):
        sock.close()


def run(
    targets: list[probes.Probe], **kwargs: object
) -> tuple[LocalExec, list[probes.ProbeResult]]:
    runner = LocalExec()
    results = probes.run_probes(runner, SOURCE, targets, scale=1 / 3, **kwargs)  # type: ignore[arg-type]
    return runner, results


def test_one_batch_classifies_every_outcome_in_one_exec(servers: Servers) -> None:
    targets = [
        probes.Probe("127.0.0.1", servers.http, probes.HTTP, probes.CLIENTIP, "http"),
        probes.Probe("127.0.0.1", servers.http, probes.HTTP, probes.HOSTNAME, "hostname"),
        probes.Probe("127.0.0.1", servers.udp, probes.UDP, probes.CLIENTIP, "udp"),
        probes.Probe("127.0.0.1", servers.closed, probes.HTTP, probes.CLIENTIP, "closed tcp"),
        probes.Probe("127.0.0.1", servers.closed, probes.UDP, probes.CLIENTIP, "closed udp"),
        probes.Probe("127.0.0.1", servers.silent_tcp, probes.HTTP, probes.CLIENTIP, "silent tcp"),
        probes.Probe("127.0.0.1", servers.silent_udp, probes.UDP, probes.CLIENTIP, "silent udp"),
    ]

    runner, results = run(targets)

    assert runner.calls == 1
    outcomes = {r.target_ref: (r.outcome, r.attempts) for r in results}
    assert outcomes == {
        "http": (probes.REACHABLE, 1),
        "hostname": (probes.REACHABLE, 1),
        "udp": (probes.REACHABLE, 1),
        "closed tcp": (probes.REFUSED, 1),
        "closed udp": (probes.REFUSED, 1),
        "silent tcp": (probes.TIMED_OUT, 1),
        "silent udp": (probes.TIMED_OUT, probes.ATTEMPTS),
    }, [str(r) for r in results]
    assert results[0].seen_ip == "127.0.0.1"
    assert results[1].seen_hostname == "echo-host"
    assert "refused" in results[3].detail.lower()


def test_converge_keeps_calling_an_unreachable_target_until_its_deadline(
    servers: Servers,
) -> None:
    closed = probes.Probe("127.0.0.1", servers.closed, probes.HTTP, probes.CLIENTIP, "closed")

    runner, (result,) = run([closed], converge_within=2)

    assert runner.calls == 1
    assert result.outcome == probes.REFUSED
    assert result.attempts > 1
    assert result.elapsed >= 2


def test_repeated_batches_stream_a_result_list_per_round_until_the_reader_goes(
    servers: Servers,
) -> None:
    runner = LocalExec()
    target = probes.Probe("127.0.0.1", servers.http, probes.HTTP, probes.HOSTNAME, "hostname")
    batches = probes.stream_probes(
        runner,  # type: ignore[arg-type]
        SOURCE,
        [target],
        repeat_for=30,
        gap=0.05,
        count=2,
        scale=1 / 3,
    )

    rounds = [next(batches) for _ in range(3)]
    batches.close()

    assert runner.calls == 1
    assert [[r.outcome for r in batch] for batch in rounds] == [[probes.REACHABLE] * 2] * 3
    assert rounds[2][0].seen_hostname == "echo-host"
    (process,) = runner.streamed
    # The end of its stdin ended the loop at its next pause, long before its 30 s (the stand-in
    # kills what runs on 5 s after its stream closed).
    assert process.returncode == 0


def test_a_flow_is_followed_from_now_on_as_it_writes_and_to_its_end(tmp_path: Path) -> None:
    log = tmp_path / "flow.log"
    log.write_text("@@flow 1 0 0 900 old-pod\n@@flow 2 200000 0 900 old-")  # #2 half-written
    flow = flows.Flow(
        SOURCE, probes.Probe("127.0.0.1", 1, probes.UDP, probes.HOSTNAME), 30081, str(log)
    )
    runner = LocalExec()
    following = flows.follow(runner, flow, seconds=30)  # type: ignore[arg-type]

    def write_later() -> None:
        time.sleep(0.3)
        with log.open("a") as out:
            out.write("pod\n@@flow 3 400000 0 900 new-pod\n@@flow-end 3\n")

    writer = threading.Thread(target=write_later)
    writer.start()
    seen = list(following)
    writer.join()

    # #1 was written before the follow began; #2 was being written and is read whole.
    assert [(c.seq, c.answered_by) for c in seen if c] == [(2, "old-pod"), (3, "new-pod")]
    assert seen[-1] is None, "the end line ends the follow"
    assert runner.calls == 1


def test_a_follow_from_a_call_number_reads_the_calls_after_it(tmp_path: Path) -> None:
    log = tmp_path / "flow.log"
    log.write_text("".join(f"@@flow {n} 0 0 900 pod-{n}\n" for n in (1, 2, 3)))
    flow = flows.Flow(
        SOURCE, probes.Probe("127.0.0.1", 1, probes.UDP, probes.HOSTNAME), 30081, str(log)
    )

    calls = list(flows.follow(LocalExec(), flow, seconds=0.5, after=1))  # type: ignore[arg-type]

    assert [c.seq for c in calls if c] == [2, 3]
