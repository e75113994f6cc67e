"""Bring the embedded cluster up, report on it, and take it down leaving nothing behind."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from pytest_podnet.localcluster import (
    build,
    controlplane,
    dns,
    flannel,
    images,
    network,
    node,
    paths,
    procs,
)
from pytest_podnet.localcluster.topology import (
    CNIS,
    GUARDED_RANGES,
    IP_FAMILIES,
    MAX_NODES,
    POD_CIDR,
    PROXY_MODES,
    Node,
    Topology,
)
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE, KUBERNETES_VERSION, RELEASES

#: The API server answers /readyz within seconds of etcd; 90 s covers a cold start on 2 busy cores.
APISERVER_READY = 90.0
#: A kubelet registers its Node within seconds of containerd answering.
NODE_REGISTERED = 60.0
#: The controller-manager allocates a Pod CIDR right after registration.
POD_CIDR_ALLOCATED = 60.0
#: Node Ready needs the CNI config plus the first status update (2 s period).
NODE_READY = 90.0
#: The node-lifecycle controller removes the not-ready taint within its node-monitor period
#: (5 s) of a node turning Ready; `up` returns only once no node carries it.
NODE_UNTAINTED = 60.0
#: Taints a node carries while it is coming up (or lost): Pods without tolerations avoid it.
LIFECYCLE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
#: A smoke Pod per node: sandbox + container start from a local image.
SMOKE_POD_READY = 120.0
SMOKE_NAMESPACE = "podnet-system"
#: Serialises up/down between processes (kept outside the state dir, which down removes).
LOCK_FILE = "/run/lock/pytest-podnet-cluster.lock"


class ClusterError(RuntimeError):
    """The cluster could not be started or stopped; the message says what and where to look."""


def topology_file() -> Path:
    return paths.state_dir() / "topology.json"


def current_topology() -> Topology | None:
    if not topology_file().exists():
        return None
    recorded = json.loads(topology_file().read_text())
    # A file written before the proxy mode or the CNI was recorded means the defaults of that time.
    return Topology(
        recorded["nodes"],
        recorded.get("proxy_mode", PROXY_MODES[0]),
        recorded.get("cni", CNIS[0]),
        recorded.get("ip_family", IP_FAMILIES[0]),
        recorded.get("version", KUBERNETES_VERSION),
        tuple(recorded.get("node_versions", ())),
    )


def write_topology(topology: Topology) -> None:
    """Record ``topology`` (``podnet cluster upgrade`` rewrites it after every step)."""
    paths.state_dir().mkdir(parents=True, exist_ok=True)
    topology_file().write_text(
        json.dumps(
            {
                "nodes": topology.node_count,
                "proxy_mode": topology.proxy_mode,
                "cni": topology.cni,
                "ip_family": topology.ip_family,
                "version": topology.version,
                "node_versions": list(topology.node_versions),
            }
        )
    )


def topology_serving(server_url: str | None) -> Topology | None:
    """The embedded cluster's topology when ``server_url`` is its API server, else None."""
    topology = current_topology()
    if topology is None or (server_url or "").rstrip("/") != topology.server:
        return None
    return topology


def log(message: str) -> None:
    print(f"podnet: {message}", file=sys.stderr, flush=True)


def preflight(
    proxy_mode: str = PROXY_MODES[0],
    cni: str = CNIS[0],
    ip_family: str = IP_FAMILIES[0],
    version: str = KUBERNETES_VERSION,
) -> None:
    """Fail early, with the fix, when this machine cannot run the cluster."""
    if version not in RELEASES:
        raise ClusterError(
            f"no pinned Kubernetes release {version!r}: use one of {', '.join(RELEASES)}"
        )
    if proxy_mode not in PROXY_MODES:
        raise ClusterError(f"unknown kube-proxy mode {proxy_mode!r}: use one of {PROXY_MODES}")
    if cni not in CNIS:
        raise ClusterError(f"unknown CNI {cni!r}: use one of {CNIS}")
    if ip_family not in IP_FAMILIES:
        raise ClusterError(f"unknown IP family {ip_family!r}: use one of {IP_FAMILIES}")
    if cni == "flannel" and ip_family == "dual":
        raise ClusterError(
            "--cni flannel runs IPv4 only in this cluster (Flannel's own dual-stack, EnableIPv6"
            " with an IPv6Network, is not wired in): use --cni bridge with --ip-family dual"
        )
    if os.geteuid() != 0:
        raise ClusterError("the local cluster needs root (network namespaces, mounts, cgroups)")
    missing = [
        tool
        for tool in ("containerd", "runc", "ctr", "etcd", "iptables", "nsenter", "unshare", "ip")
        if shutil.which(tool) is None
    ]
    missing += [p for p in node.CNI_PLUGINS if not (node.SYSTEM_CNI_BIN / p).exists()]
    if proxy_mode == "nftables" and shutil.which("nft") is None:
        missing.append("nft")
    if missing:
        raise ClusterError(
            f"missing {', '.join(missing)}: run `podnet cluster install` (apt packages containerd,"
            " runc, containernetworking-plugins, etcd-server, iptables, nftables, conntrack)"
        )


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    """One `up` or `down` at a time on this machine (parallel sessions share one cluster)."""
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def up(
    node_count: int = 2,
    proxy_mode: str = PROXY_MODES[0],
    cni: str = CNIS[0],
    ip_family: str = IP_FAMILIES[0],
    version: str = KUBERNETES_VERSION,
) -> Path:
    """Start (or reuse) the cluster; return the admin kubeconfig once every node runs a Pod."""
    if not 1 <= node_count <= MAX_NODES:
        raise ClusterError(
            f"--nodes {node_count}: the local cluster has 1 to {MAX_NODES} nodes (the Pod range"
            f" {POD_CIDR} holds {MAX_NODES} node ranges)"
        )
    preflight(proxy_mode, cni, ip_family, version)
    with _exclusive():
        return _up(Topology(node_count, proxy_mode, cni, ip_family, version))


def _up(topology: Topology) -> Path:
    node_count = topology.node_count
    if current_topology() is not None and not any(d.alive for d in procs.recorded()):
        # Left behind by a machine or session that stopped without `down` (its processes died,
        # its namespaces, mounts and rules did not): start from a clean host, not from that.
        log("found the remains of a cluster whose processes are all gone; cleaning up first")
        _down()
    existing = current_topology()
    if existing is not None and existing != topology and is_running():
        raise ClusterError(
            f"a {existing.node_count}-node cluster ({existing.dataplane}) is running;"
            " `podnet cluster down` first"
        )
    started = time.monotonic()
    # Safety first: nothing starts before the Pod and Service ranges are unreachable from the host.
    network.install_safety_routes()
    network.install_guard_chain()
    write_topology(topology)
    network.save_host_state()
    build.build()  # the default release: the images' agnhost and pause come from it
    bins = build.build(topology.version)
    if RELEASES[topology.version].containerd_2:
        build.build_containerd()
    if topology.cni == "flannel":
        flannel.build()
    archives = [
        *images.build_images(),
        images.build_coredns_image(build.build_coredns()),
    ]
    network.ensure_bridge(topology.dual_stack)
    controlplane.ensure_credentials(topology)
    controlplane.start_etcd()
    controlplane.start_apiserver(topology)
    wait_apiserver()
    controlplane.start_controller_manager(topology)
    controlplane.start_scheduler(topology)
    if topology.cni == "flannel":
        apply(flannel.RBAC, "flanneld's RBAC")
    for n in topology.nodes:
        network.ensure_node_netns(n, topology.dual_stack)
        node.ensure_cgroups(n)
        node.ensure_cni_bin(n, topology.cni)
        node.start_containerd(n, topology.node_version(n))
    for n in topology.nodes:
        wait_containerd(n)
        images.import_images(node.socket(n), archives)
        node.start_kubelet(n, topology)
        node.start_kube_proxy(n, topology)
    cidrs = {n.name: wait_pod_cidrs(n) for n in topology.nodes}
    if topology.cni == "flannel":
        # flanneld routes to the other nodes' Pod CIDRs through its VXLAN device.
        for n in topology.nodes:
            flannel.start(n, topology.proxy_mode)
        for n in topology.nodes:
            wait_flannel_subnet(n)
    else:
        network.set_pod_routes(list(topology.nodes), cidrs)
    for n in topology.nodes:
        node.write_cni_config(n, cidrs[n.name], topology.cni)
    network.set_host_pod_routes(list(topology.nodes), cidrs)
    wait_nodes_ready(topology)
    wait_nodes_untainted(topology)
    smoke_pods(topology)
    deploy_dns()
    log(
        f"cluster up in {time.monotonic() - started:.1f}s ({node_count} nodes,"
        f" {topology.dataplane}, {topology.versions}, binaries {bins})"
    )
    return paths.admin_kubeconfig()


def ensure_up(nodes: int = 2) -> tuple[Path, bool]:
    """Reuse a running cluster or start one; True in the second slot if this call started it."""
    if is_running():
        return paths.admin_kubeconfig(), False
    return up(nodes), True


def is_running() -> bool:
    topology = current_topology()
    if topology is None:
        return False
    names = [*controlplane.CONTROL_PLANE]
    for n in topology.nodes:
        names += node.daemon_names(n, topology.cni)
    return all((d := procs.find(name)) is not None and d.alive for name in names)


def kubectl(*args: str, timeout: float = 60.0) -> str:
    result = subprocess.run(
        controlplane.kubectl(*args), capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


#: containerd answers its socket within a second or two of starting.
CONTAINERD_READY = 30.0


def poll(
    command: list[str],
    *,
    every: float,
    within: float,
    answer: str | None = None,
    accept: Callable[[str], bool] | None = None,
) -> bool:
    """Run ``command`` every ``every`` s until it succeeds (printing ``answer``, or output that
    ``accept`` takes, if given), at most ``within`` s. For daemons that are starting: there is
    nothing to watch yet."""

    @retry(
        retry=retry_if_result(lambda ok: not ok),
        wait=wait_fixed(every),
        stop=stop_after_delay(within),
        retry_error_callback=lambda state: False,
    )
    def succeeded() -> bool:
        result = subprocess.run(command, capture_output=True, text=True)
        output = result.stdout.strip()
        return (
            result.returncode == 0
            and (answer is None or output == answer)
            and (accept is None or accept(output))
        )

    return succeeded()


def wait_apiserver() -> None:
    readyz = controlplane.kubectl("get", "--raw", "/readyz")
    if not poll(readyz, every=0.5, within=APISERVER_READY, answer="ok"):
        raise ClusterError(
            f"timed out after {APISERVER_READY:.0f}s [APISERVER_READY] waiting for /readyz;"
            f" see {procs.log_dir() / 'kube-apiserver.log'} and {procs.log_dir() / 'etcd.log'}"
        )


def wait_containerd(n: Node) -> None:
    version = ["ctr", "--address", str(node.socket(n)), "version"]
    if not poll(version, every=0.2, within=CONTAINERD_READY):
        raise ClusterError(
            f"containerd of {n.name} did not answer within {CONTAINERD_READY:.0f}s"
            f" [CONTAINERD_READY]; see {procs.log_dir() / (n.name + '-containerd.log')}"
        )


def wait_pod_cidrs(n: Node) -> list[str]:
    """The Pod CIDRs the controller-manager allocated to ``n``, IPv4 first (one per family;
    watch-based via kubectl wait)."""
    kubectl(
        "wait",
        "--for=create",
        f"node/{n.name}",
        f"--timeout={NODE_REGISTERED:.0f}s",
        timeout=NODE_REGISTERED + 10,
    )
    kubectl(
        "wait",
        "--for=jsonpath={.spec.podCIDR}",
        f"node/{n.name}",
        f"--timeout={POD_CIDR_ALLOCATED:.0f}s",
        timeout=POD_CIDR_ALLOCATED + 10,
    )
    return kubectl("get", f"node/{n.name}", "-o", "jsonpath={.spec.podCIDRs[*]}").split()


def wait_flannel_subnet(n: Node) -> None:
    """flanneld has leased the node's subnet and written the file Flannel's CNI plugin reads."""
    written = ["test", "-s", str(flannel.subnet_file(n))]
    if not poll(written, every=0.2, within=flannel.SUBNET_FILE_WRITTEN):
        raise ClusterError(
            f"flanneld of {n.name} wrote no subnet file within {flannel.SUBNET_FILE_WRITTEN:.0f}s"
            f" [SUBNET_FILE_WRITTEN]; see {procs.log_dir() / (flannel.daemon_name(n) + '.log')}"
        )


def apply(manifests: Sequence[Mapping[str, object]], what: str) -> None:
    """``kubectl apply`` of ``manifests`` as admin; a refusal is a ClusterError naming ``what``."""
    result = subprocess.run(
        controlplane.kubectl("apply", "-f", "-"),
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": list(manifests)}),
        text=True,
        capture_output=True,
    )
    if result.returncode != 0:
        raise ClusterError(f"applying {what} failed: {result.stderr.strip()}")


def wait_nodes_ready(topology: Topology) -> None:
    names = [f"node/{n.name}" for n in topology.nodes]
    kubectl(
        "wait",
        "--for=condition=Ready",
        *names,
        f"--timeout={NODE_READY:.0f}s",
        timeout=NODE_READY + 10,
    )


def wait_nodes_untainted(topology: Topology) -> None:
    """Every node free of the lifecycle taints: Ready alone is not enough to take Pods.

    The controller-manager removes ``node.kubernetes.io/not-ready`` a few seconds after the
    kubelet reports Ready; a run started in between sees one node fewer (seen in 1 of 3 ``up``).
    """
    for n in topology.nodes:
        taints = ["get", f"node/{n.name}", "-o", "jsonpath={.spec.taints[*].key}"]

        def untainted(output: str) -> bool:
            return not set(output.split()) & set(LIFECYCLE_TAINTS)

        if not poll(
            controlplane.kubectl(*taints), every=0.5, within=NODE_UNTAINTED, accept=untainted
        ):
            raise ClusterError(
                f"node {n.name} still carries a lifecycle taint after {NODE_UNTAINTED:.0f}s "
                f"[NODE_UNTAINTED]; see {procs.log_dir() / 'kube-controller-manager.log'}"
            )


def deploy_dns() -> None:
    """The cluster DNS (``dns``): applied, then waited for until CoreDNS is Ready."""
    result = subprocess.run(
        controlplane.kubectl("apply", "-f", "-"),
        input=json.dumps(dns.manifests()),
        text=True,
        capture_output=True,
    )
    if result.returncode != 0:
        raise ClusterError(f"applying the cluster DNS failed: {result.stderr.strip()}")
    kubectl(
        "rollout",
        "status",
        "-n",
        dns.NAMESPACE,
        f"deployment/{dns.NAME}",
        f"--timeout={dns.COREDNS_READY:.0f}s",
        timeout=dns.COREDNS_READY + 10,
    )


def smoke_pods(topology: Topology) -> None:
    """One Pod pinned to every node must reach Ready before `up` returns."""
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": SMOKE_NAMESPACE}},
            *[
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"smoke-{n.name}",
                        "namespace": SMOKE_NAMESPACE,
                        "labels": {"app.kubernetes.io/managed-by": "podnet-cluster"},
                    },
                    "spec": {
                        "nodeName": n.name,
                        "terminationGracePeriodSeconds": 0,
                        "containers": [
                            {"name": "pause", "image": AGNHOST_IMAGE, "args": ["pause"]}
                        ],
                    },
                }
                for n in topology.nodes
            ],
        ],
    }
    subprocess.run(
        controlplane.kubectl("apply", "-f", "-"),
        input=json.dumps(manifest),
        text=True,
        capture_output=True,
        check=True,
    )
    pods = [f"pod/smoke-{n.name}" for n in topology.nodes]
    kubectl(
        "wait",
        "-n",
        SMOKE_NAMESPACE,
        "--for=condition=Ready",
        *pods,
        f"--timeout={SMOKE_POD_READY:.0f}s",
        timeout=SMOKE_POD_READY + 10,
    )
    kubectl("delete", "-n", SMOKE_NAMESPACE, *pods, "--wait=false")


def down() -> None:
    """Stop everything and remove every trace: processes, namespaces, links, mounts, rules."""
    with _exclusive():
        _down()


def _down() -> None:
    topology = current_topology() or Topology(0)
    nodes = list(topology.nodes) or _nodes_from_netns()
    for daemon in procs.recorded():
        if node.FAULT_DAEMON_INFIX in daemon.name:
            procs.stop(daemon.name)
    for n in nodes:
        # Every daemon a node may run, whatever the recorded CNI (stopping an absent one: no-op).
        for name in reversed(node.daemon_names(n, "flannel")):
            procs.stop(name)
        _kill_shims(n)
        node.remove_cgroups(n)
        network.remove_node_mountns(n)
        network.remove_node_netns(n)
    for name in reversed(controlplane.CONTROL_PLANE):
        procs.stop(name)
    network.remove_mount_ns_holder()
    network.remove_bridge()
    network.remove_guard_chain()
    network.remove_safety_routes()
    network.restore_host_state()
    shutil.rmtree(paths.run_dir(), ignore_errors=True)
    shutil.rmtree(paths.state_dir(), ignore_errors=True)
    for parent in (paths.state_dir().parent, paths.run_dir().parent):
        with contextlib.suppress(OSError):
            if parent.name == "pytest-podnet":
                parent.rmdir()


def _nodes_from_netns() -> list[Node]:
    netns = Path("/run/netns")
    if not netns.exists():
        return []
    return [
        Node(int(p.name.rsplit("-", 1)[1]))
        for p in netns.iterdir()
        if p.name.startswith("podnet-node-") and p.name.rsplit("-", 1)[1].isdigit()
    ]


def _kill_shims(n: Node) -> None:
    """containerd shims outlive containerd; find them by the socket they were started for."""
    marker = str(node.socket(n)).encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in cmdline and marker in cmdline:
            procs.kill_pid(int(proc.name), grace=5)


@dataclass
class Status:
    running: bool
    kubeconfig: Path
    daemons: dict[str, bool] = field(default_factory=dict)
    nodes: str = ""
    dataplane: str = ""
    versions: str = ""
    guard_drops: int = 0
    safety_routes: list[str] = field(default_factory=list)


def status() -> Status:
    topology = current_topology()
    daemons: dict[str, bool] = {}
    if topology is not None:
        for name in [
            *controlplane.CONTROL_PLANE,
            *[d for n in topology.nodes for d in node.daemon_names(n, topology.cni)],
        ]:
            found = procs.find(name)
            daemons[name] = found is not None and found.alive
    nodes = ""
    if daemons.get("kube-apiserver"):
        try:
            nodes = kubectl("get", "nodes", "-o", "wide", timeout=10)
        except (ClusterError, subprocess.TimeoutExpired) as error:
            nodes = f"(could not list nodes: {error})"
    routes = [
        route
        for family in ("-4", "-6")
        for route in subprocess.run(
            ["ip", family, "route", "show", "type", "unreachable"], capture_output=True, text=True
        ).stdout.split("\n")
    ]
    return Status(
        running=bool(daemons) and all(daemons.values()),
        kubeconfig=paths.admin_kubeconfig(),
        daemons=daemons,
        nodes=nodes,
        dataplane=topology.dataplane if topology is not None else "",
        versions=topology.versions if topology is not None else "",
        guard_drops=network.guard_drops(),
        safety_routes=[r for r in routes if any(c in r for c in GUARDED_RANGES)],
    )
