"""The floor under a replacement check: one Pod's create -> Ready and delete -> gone.

    python bench/pod_floor.py [--kubeconfig PATH] [--samples N]

Creates the suites' netexec Pod (``workloads.netexec_pod_spec``, pinned to the first node) one at
a time and times, from the API (a watch on the one Pod), its create -> Ready and its
delete -> gone, with the Pod deleted at once when it turns Ready and, alternating, 1 s after.
Every replacement check waits for both (``podnet.delete_pod``: the old Pod gone, its
replacement Ready), and a check deletes its Pods as soon as they are Ready.

Why the two deletes differ: the kubelet starts a Pod worker's next sync only once its runtime
cache is newer than the last sync (v1.36.3 ``pkg/kubelet/pod_workers.go``, ``GetNewerThan``,
whose comment says it "adds ~1s of latency on all transitions from sync to terminating to
terminated"), and with the generic PLEG that cache is refreshed by a relist once a second. A Pod
deleted the moment its start was synced waits for that relist before the kill, and again before
it is gone; 1 s later the first wait has passed. Evented PLEG would end the waits; it is alpha
(off by default) in v1.36.3, so the embedded cluster, like users' clusters, runs without it.

Labels and owner annotation as a run's, so ``podnet sweep`` finds the namespace if this dies.
Prints one JSON object; asserts nothing. Needs the project's venv.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pytest_podnet import waits, workloads
from pytest_podnet.kube import Cluster
from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE
from pytest_podnet.owner import OWNER_ANNOTATION, Owner

#: Seconds a settled delete waits after Ready: one PLEG relist period of the kubelet.
SETTLE = 1.0


@contextmanager
def bench_namespace(cluster: Cluster) -> Iterator[tuple[str, str]]:
    """A namespace labelled and owned like a run's (a sweep removes it), deleted after."""
    run_id = f"floor-{secrets.token_hex(3)}"
    name = f"podnet-floor-{secrets.token_hex(3)}"
    manifest = workloads.namespace(name, run_id)
    cluster.create_namespace(
        name,
        manifest["metadata"]["labels"],
        {OWNER_ANNOTATION: Owner.of_process().annotation},
    )
    try:
        yield name, run_id
    finally:
        cluster.delete_namespace(name)


def one_pod(
    cluster: Cluster, namespace: str, run_id: str, node: str, settle: float
) -> dict[str, float]:
    """Create -> Ready and delete -> gone of one Pod, deleted ``settle`` s after Ready."""
    name = f"floor-{secrets.token_hex(3)}"
    body = {
        "metadata": {"name": name, "labels": workloads.labels(run_id)},
        "spec": workloads.netexec_pod_spec(AGNHOST_IMAGE, node=node),
    }
    waiter = waits.Waiter(cluster)
    started = time.monotonic()
    cluster.create_pod(namespace, body)
    waiter.pod_ready(namespace, name)
    ready = time.monotonic() - started
    time.sleep(settle)  # the measured variable, not a wait for something
    deleted = time.monotonic()
    cluster.delete_pod(namespace, name)
    waiter.until(
        waits.POD_DELETION,
        f"pod/{namespace}/{name} to be gone",
        "pods",
        namespace,
        lambda pods: True if name not in pods else None,
        field_selector=f"metadata.name={name}",
    )
    return {"create_to_ready_s": ready, "delete_to_gone_s": time.monotonic() - deleted}


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def measure(kubeconfig: str, samples: int = 10) -> dict[str, object]:
    """``samples`` Pods deleted at once after Ready and ``samples`` 1 s after, alternating."""
    cluster = Cluster.connect(kubeconfig, None, connect_timeout=waits.PREFLIGHT_CONNECT.seconds)
    node = sorted(n.name for n in cluster.nodes())[0]
    timings: dict[float, list[dict[str, float]]] = {0.0: [], SETTLE: []}
    with bench_namespace(cluster) as (namespace, run_id):
        for index in range(2 * samples):
            settle = SETTLE if index % 2 else 0.0
            timings[settle].append(one_pod(cluster, namespace, run_id, node, settle))
    every = timings[0.0] + timings[SETTLE]
    return {
        "node": node,
        "samples": samples,
        "create_to_ready_s": summary([t["create_to_ready_s"] for t in every]),
        "delete_to_gone_at_ready_s": summary([t["delete_to_gone_s"] for t in timings[0.0]]),
        "delete_to_gone_settled_s": summary([t["delete_to_gone_s"] for t in timings[SETTLE]]),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--kubeconfig", default=str(paths.admin_kubeconfig()))
    parser.add_argument("--samples", type=int, default=10, help="Pods per kind of delete")
    args = parser.parse_args()
    print(json.dumps(measure(args.kubeconfig, args.samples), indent=2))


if __name__ == "__main__":
    main()
