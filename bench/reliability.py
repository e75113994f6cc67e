"""Reliability bench on the embedded cluster: repeated, killed, disturbed and loaded full runs.

    python bench/reliability.py [--full N] [--killed M] [--parts full,killed,...] [--seed S]

Every run is ``pytest --podnet -n 2 suites/`` in its own process group; the bench asserts nothing
and prints one table at the end (and, with --json PATH, the rows as JSON). Parts:

- ``full``: N consecutive runs (default 20); a flake is any exit other than 0 on a healthy cluster.
- ``killed``: M runs (default 20), each sent SIGINT, SIGTERM or SIGKILL at a random point, to the
  controller or to a worker (a child of the controller), then followed by the next run (the last
  by a quick run). ``before``: objects labelled ``app.kubernetes.io/managed-by=pytest-podnet`` of
  the killed run once its process group is gone; ``after``: those still there once the next run
  has started (its header is printed, so its start-up reaping ran) and up to 90 s for the
  namespaces to finish terminating.
- ``apiserver`` / ``kubelet``: a run during which kube-apiserver (or one node's kubelet) is
  restarted through the embedded cluster's process control (root, the embedded cluster).
- ``idle`` / ``noise``: a run on the idle cluster, then one while ~100 Pods (one Deployment pinned
  to each node, in a namespace labelled like a run's, so ``podnet sweep`` and the next run's
  reaping remove it if the bench dies) are churned: a few deleted every 3 s.

The bench takes the shared cluster's lock itself, per run (``--lock``, default
/tmp/podnet-cluster.lock): shared for healthy runs, exclusive around a restart run; do not wrap it
in ``flock``. Needs the project's venv (``.venv/bin/python bench/reliability.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from pytest_podnet.kube.values import MANAGED_BY, MANAGED_BY_LABEL, RUN_LABEL
from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE
from pytest_podnet.owner import OWNER_ANNOTATION, Owner

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("full", "killed", "apiserver", "kubelet", "idle", "noise")
OUTCOMES = ("PASS", "FAIL", "NOT VERIFIED", "SKIPPED")
LABELLED = "namespaces,pods,deployments,replicasets,services,endpointslices"
#: Named deadlines (seconds) of the bench's own waits.
RUN_DEADLINE = 600.0  # one full -n 2 run takes ~70-100 s on two busy cores
HEADER_DEADLINE = 120.0  # preflight + reaping before the header is printed
EXIT_AFTER_SIGNAL = 240.0  # a killed worker is replaced and the run goes on to its end
GROUP_EXIT = 20.0  # workers of a dead controller notice the closed channel
TERMINATED = 90.0  # a reaped namespace finishes terminating
NOISE_READY = 240.0  # ~100 Pods start on two nodes
KUBELET_READY = 60.0  # a restarted kubelet posts its node status within seconds


@dataclass
class Row:
    part: str
    index: int
    detail: str
    exit: int | None
    verdicts: str
    checks: str
    seconds: float
    before: int | None = None
    after: int | None = None


#: The shared cluster's lock (common.md): shared for healthy runs, exclusive for restarts. Taken
#: per run (per killed run and the run after it), so others get a turn between runs.
LOCK = "/tmp/podnet-cluster.lock"
_lock_path = LOCK


@contextlib.contextmanager
def cluster_lock(*, exclusive: bool = False) -> Iterator[None]:
    if not _lock_path:
        yield
        return
    with open(_lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
    result = subprocess.run(
        [str(paths.bin_dir() / "kubectl"), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


class Run:
    """One full suites run in its own session (process group), output to a file."""

    def __init__(self, kubeconfig: str, extra: tuple[str, ...] = ()) -> None:
        self.scratch = Path(tempfile.mkdtemp(prefix="podnet-reliability-"))
        self.report = self.scratch / "verdict.json"
        self.output = self.scratch / "output.txt"
        self.started = time.monotonic()
        with self.output.open("w") as sink:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "pytest", "--podnet", "-p", "no:cacheprovider",
                    f"--podnet-kubeconfig={kubeconfig}", f"--podnet-report={self.report}",
                    "-n", "2", *extra, "suites/",
                ],
                cwd=ROOT, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        self.seconds = 0.0

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def wait_for_output(self, marker: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline and self.process.poll() is None:
            if marker in self.text():
                return True
            time.sleep(0.5)
        return marker in self.text()

    def workers(self) -> list[int]:
        """Pids whose parent is the controller (the xdist workers)."""
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                        found.append(int(entry.name))
        return found

    def finish(self, within: float = RUN_DEADLINE) -> int | None:
        """Wait for the controller, then for the rest of its group; kill what is left."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=within)
        self.seconds = time.monotonic() - self.started
        deadline = time.monotonic() + GROUP_EXIT
        while time.monotonic() < deadline and _group_alive(self.process.pid):
            time.sleep(0.5)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=GROUP_EXIT)
        return self.process.returncode

    def row(self, part: str, index: int, detail: str) -> Row:
        verdicts, checks = "-", "no report"
        if self.report.exists():
            document = json.loads(self.report.read_text())
            verdicts = " ".join(f"{g['guarantee']}:{g['verdict']}" for g in document["guarantees"])
            outcomes = [c["outcome"] for c in document["checks"]]
            checks = "/".join(str(outcomes.count(o)) for o in OUTCOMES)
            failed = [c["nodeid"].rsplit("::", 1)[-1] for c in document["checks"]]
            failed = [n for n, o in zip(failed, outcomes, strict=True) if o in ("FAIL",)]
            if failed:
                detail += f" FAIL: {', '.join(failed)}"
        return Row(part, index, detail, self.process.returncode, verdicts, checks, self.seconds)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def runs_of(kubeconfig: str, pid: int) -> set[str]:
    """Run ids of the namespaces whose owner annotation names ``pid`` on this host."""
    listed = json.loads(
        kubectl(
            kubeconfig, "get", "namespaces", "-l", f"{MANAGED_BY_LABEL}={MANAGED_BY}", "-o", "json"
        )
    )
    found = set()
    for item in listed["items"]:
        meta = item["metadata"]
        owner = Owner.parse((meta.get("annotations") or {}).get(OWNER_ANNOTATION, ""))
        if owner is not None and owner.pid == pid and RUN_LABEL in meta.get("labels", {}):
            found.add(meta["labels"][RUN_LABEL])
    return found


def labelled(kubeconfig: str, run_ids: set[str]) -> int:
    if not run_ids:
        return 0
    selector = f"{RUN_LABEL} in ({','.join(sorted(run_ids))})"
    return len(kubectl(kubeconfig, "get", LABELLED, "-A", "-l", selector, "-o", "name").split())


def wait_gone(kubeconfig: str, run_ids: set[str], within: float) -> int:
    deadline = time.monotonic() + within
    while (left := labelled(kubeconfig, run_ids)) and time.monotonic() < deadline:
        time.sleep(2)
    return left


# ----------------------------------------------------------------------------------- the parts


def part_full(kubeconfig: str, count: int, rows: list[Row], part: str = "full") -> None:
    for index in range(1, count + 1):
        with cluster_lock():
            run = Run(kubeconfig)
            run.finish()
            rows.append(run.row(part, index, "healthy cluster"))
            _progress(rows[-1])


def part_killed(kubeconfig: str, count: int, rng: random.Random, rows: list[Row]) -> None:
    signals = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
    previous: tuple[Row, set[str]] | None = None
    for index in range(1, count + 2):
        with cluster_lock():
            last = index == count + 1
            run = Run(kubeconfig, ("--podnet-quick",) if last else ())
            if previous is not None:
                # This run's start reaped the dead ones: its header comes after the reaping.
                run.wait_for_output("rootdir:", HEADER_DEADLINE)
                row, run_ids = previous
                row.after = wait_gone(kubeconfig, run_ids, TERMINATED)
                _progress(row)
            if last:
                run.finish()
                rows.append(run.row("killed", index, "the run after the last killed one (quick)"))
                _progress(rows[-1])
                break
            sig, target = rng.choice(signals), rng.choice(("controller", "worker"))
            at = rng.uniform(2.0, 75.0)
            time.sleep(max(0.0, at - (time.monotonic() - run.started)))
            pids = [run.process.pid]
            if target == "worker":
                deadline = time.monotonic() + HEADER_DEADLINE
                while not (pids := run.workers()) and time.monotonic() < deadline:
                    time.sleep(0.2)
            run_ids = runs_of(kubeconfig, run.process.pid)
            sent_at = time.monotonic() - run.started
            sent = run.process.poll() is None and bool(pids)
            if sent:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(rng.choice(pids), sig)
            exit_code = run.finish(EXIT_AFTER_SIGNAL)
            run_ids |= runs_of(kubeconfig, run.process.pid)
            what = f"{sig.name} {target} at {sent_at:.0f}s"
            row = run.row("killed", index, what if sent else f"{what}: not sent, the run had ended")
            row.exit = exit_code
            row.before = labelled(kubeconfig, run_ids)
            rows.append(row)
            previous = (row, run_ids)


def part_restart(kubeconfig: str, component: str, at: float, rows: list[Row]) -> None:
    """A run during which ``component`` (apiserver, kubelet) is restarted ``at`` s in."""
    from pytest_podnet.localcluster import cluster, controlplane, node, procs

    with cluster_lock(exclusive=True):
        run = Run(kubeconfig)
        run.wait_for_output("rootdir:", HEADER_DEADLINE)
        time.sleep(max(0.0, at - (time.monotonic() - run.started)))
        started = time.monotonic()
        topology = cluster.current_topology()
        assert topology is not None, "the embedded cluster is not running"
        if component == "apiserver":
            procs.stop("kube-apiserver")
            controlplane.start_apiserver(topology)
            cluster.wait_apiserver()
            what = "kube-apiserver"
        else:
            target = topology.nodes[-1]
            stopped = datetime.now(UTC)
            procs.stop(f"{target.name}-kubelet")
            node.start_kubelet(target, topology)
            # Back means the new kubelet reported the node Ready, not that its process started.
            heartbeat(kubeconfig, target.name, stopped)
            what = f"{target.name}-kubelet"
        restarted_in = time.monotonic() - started
        # The cluster is healthy again (the component is back); the run goes on under the lock.
        run.finish()
    detail = f"{what} restarted at {at:.0f}s (back in {restarted_in:.1f}s)"
    rows.append(run.row(component, 1, detail))
    _progress(rows[-1])


def heartbeat(kubeconfig: str, name: str, since: datetime) -> None:
    """Wait until node ``name`` has a Ready heartbeat later than ``since``."""
    deadline = time.monotonic() + KUBELET_READY
    while time.monotonic() < deadline:
        conditions = json.loads(kubectl(kubeconfig, "get", "node", name, "-o", "json"))["status"][
            "conditions"
        ]
        ready = next(c for c in conditions if c["type"] == "Ready")
        beat = datetime.fromisoformat(ready["lastHeartbeatTime"].replace("Z", "+00:00"))
        if ready["status"] == "True" and beat > since.replace(microsecond=0):
            return
        time.sleep(0.5)
    raise TimeoutError(f"node {name}: no Ready heartbeat within {KUBELET_READY} s [KUBELET_READY]")


@contextlib.contextmanager
def noise(kubeconfig: str, pods: int) -> Iterator[str]:
    """~``pods`` Pods over both nodes, a few deleted every 3 s, in a namespace a sweep removes."""
    namespace = f"podnet-noise-{secrets.token_hex(3)}"
    run_id = f"noise-{secrets.token_hex(3)}"
    nodes = kubectl(kubeconfig, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}").split()
    labels = {MANAGED_BY_LABEL: MANAGED_BY, RUN_LABEL: run_id}
    documents: list[dict[str, object]] = [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": labels,
                "annotations": {OWNER_ANNOTATION: Owner.of_process().annotation},
            },
        }
    ]
    for name in nodes:
        app = {**labels, "app": f"noise-{name}"}
        documents.append(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": f"noise-{name}", "namespace": namespace, "labels": labels},
                "spec": {
                    "replicas": pods // len(nodes),
                    "selector": {"matchLabels": {"app": f"noise-{name}"}},
                    "template": {
                        "metadata": {"labels": app},
                        "spec": {
                            "nodeSelector": {"kubernetes.io/hostname": name},
                            "terminationGracePeriodSeconds": 0,
                            "containers": [
                                {
                                    "name": "pause",
                                    "image": AGNHOST_IMAGE,
                                    "imagePullPolicy": "IfNotPresent",
                                    "args": ["pause"],
                                }
                            ],
                        },
                    },
                },
            }
        )
    kubectl(
        kubeconfig,
        "apply",
        "-f",
        "-",
        stdin=json.dumps({"kind": "List", "apiVersion": "v1", "items": documents}),
    )
    stop = threading.Event()
    churned = [0]

    def churn() -> None:
        rng = random.Random(7)
        while not stop.wait(3.0):
            names = kubectl(
                kubeconfig, "get", "pods", "-n", namespace, "-o", "name", check=False
            ).split()
            victims = rng.sample(names, min(5, len(names)))
            if victims:
                kubectl(
                    kubeconfig, "delete", "-n", namespace, "--wait=false", *victims, check=False
                )
                churned[0] += len(victims)

    try:
        deadline = time.monotonic() + NOISE_READY
        running = 0
        while time.monotonic() < deadline:
            phases = kubectl(
                kubeconfig,
                "get",
                "pods",
                "-n",
                namespace,
                "-o",
                "jsonpath={.items[*].status.phase}",
            )
            running = phases.split().count("Running")
            if running >= pods * 0.9:
                break
            time.sleep(3)
        print(f"noise: {running} Pods running in {namespace}, churning", file=sys.stderr)
        thread = threading.Thread(target=churn, daemon=True)
        thread.start()
        yield f"{running} noise Pods"
    finally:
        stop.set()
        print(
            f"noise: {churned[0]} Pods deleted by the churn; removing {namespace}", file=sys.stderr
        )
        kubectl(
            kubeconfig,
            "delete",
            "namespace",
            namespace,
            "--wait=true",
            "--timeout=110s",
            check=False,
        )


# -------------------------------------------------------------------------------------- output


def _progress(row: Row) -> None:
    print(f"[{row.part} {row.index}] exit {row.exit} {row.verdicts} {row.seconds:.0f}s {row.detail}"
          + ("" if row.before is None else f" labelled before {row.before} after {row.after}"),
          file=sys.stderr, flush=True)  # fmt: skip


def table(rows: list[Row]) -> str:
    head = ("part", "#", "exit", "verdicts", "P/F/NV/S", "wall s", "left: before->after", "what")
    body = [
        (
            r.part, str(r.index), str(r.exit), r.verdicts, r.checks, f"{r.seconds:.1f}",
            "" if r.before is None else f"{r.before} -> {r.after}", r.detail,
        )
        for r in rows
    ]  # fmt: skip
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True))
        for line in [head, *body]
    ]
    summary = []
    for part in dict.fromkeys(r.part for r in rows):
        mine = [r for r in rows if r.part == part]
        nonzero = sum(1 for r in mine if r.exit != 0)
        line = f"{part}: {len(mine)} run(s), {nonzero} with exit != 0"
        lefts = [r.after for r in mine if r.after is not None]
        if lefts:
            line += (
                f", {sum(lefts)} labelled object(s) of killed runs left after the next run started"
            )
        summary.append(line)
    return "\n".join([*lines, "", *summary])


DOCS = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"


def markdown(rows: list[Row], command: str) -> str:
    """The rows as a Markdown table, headed by the command and the date that made them."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        f"Written by `{command}` on {when} (embedded cluster, the machine's 2 cores).",
        "",
        "| part | # | exit | verdicts | P/F/NV/S | wall s | left: before -> after | what |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        left = "" if r.before is None else f"{r.before} -> {r.after}"
        lines.append(
            f"| {r.part} | {r.index} | {r.exit} | {r.verdicts} | {r.checks} | "
            f"{r.seconds:.1f} | {left} | {r.detail} |"
        )
    summary = table(rows).split("\n\n", 1)[-1]
    return "\n".join([*lines, "", *(f"- {line}" for line in summary.splitlines())])


def update_docs(parts: list[str], text: str) -> None:
    """Replace (or append) the section of ``parts`` in docs/reliability.md."""
    key = ",".join(parts)
    begin, end = (
        f"<!-- bench/reliability.py {key} begin -->",
        f"<!-- bench/reliability.py {key} end -->",
    )
    doc = DOCS.read_text()
    block = f"{begin}\n{text}\n{end}"
    if begin in doc and end in doc:
        doc = doc[: doc.index(begin)] + block + doc[doc.index(end) + len(end) :]
    else:
        doc = doc.rstrip("\n") + "\n\n" + block + "\n"
    DOCS.write_text(doc)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", default=str(paths.admin_kubeconfig()))
    parser.add_argument("--full", type=int, default=20, metavar="N", help="full runs (default 20)")
    parser.add_argument(
        "--killed", type=int, default=20, metavar="M", help="killed runs (default 20)"
    )
    parser.add_argument(
        "--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}"
    )
    parser.add_argument(
        "--restart-at",
        type=float,
        default=30.0,
        metavar="S",
        help="seconds into the run (default 30)",
    )
    parser.add_argument("--noise-pods", type=int, default=100)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--lock", default=LOCK, help="flock per run (default %(default)s; '' for none)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the rows as JSON")
    parser.add_argument(
        "--update-docs",
        action="store_true",
        help="also write the table into docs/reliability.md (one section per --parts)",
    )
    options = parser.parse_args(argv)
    # A shell starts a background job with SIGINT ignored, and the runs would inherit that
    # (Python then installs no KeyboardInterrupt handler): a SIGINT row would measure nothing.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parts = [p for p in options.parts.split(",") if p]
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s) {sorted(unknown)}; choose from {PARTS}")
    global _lock_path
    _lock_path = options.lock
    seed = options.seed if options.seed is not None else secrets.randbelow(10**6)
    rng = random.Random(seed)
    rows: list[Row] = []
    started = time.monotonic()
    try:
        for part in parts:
            if part == "full":
                part_full(options.kubeconfig, options.full, rows)
            elif part == "killed":
                part_killed(options.kubeconfig, options.killed, rng, rows)
            elif part in ("apiserver", "kubelet"):
                part_restart(options.kubeconfig, part, options.restart_at, rows)
            elif part == "idle":
                part_full(options.kubeconfig, 1, rows, "idle")
            else:
                with cluster_lock(), noise(options.kubeconfig, options.noise_pods) as what:
                    run = Run(options.kubeconfig)
                    run.finish()
                    rows.append(run.row("noise", 1, f"while {what} churn"))
                    _progress(rows[-1])
    finally:
        print(f"\nreliability bench, seed {seed}, parts {','.join(parts)}, "
              f"{time.monotonic() - started:.0f} s\n")  # fmt: skip
        print(table(rows))
        if options.json:
            options.json.write_text(json.dumps([asdict(r) for r in rows], indent=2))
        if options.update_docs and rows:
            command = "python bench/reliability.py " + " ".join(argv or sys.argv[1:])
            update_docs(parts, markdown(rows, command.strip()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
