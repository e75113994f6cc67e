"""etcd, kube-apiserver, kube-controller-manager and kube-scheduler in the host namespace.

The API server binds to the bridge address only, so nodes reach it over the bridge and nothing
outside this machine can. etcd listens on loopback.
"""

from __future__ import annotations

import shutil

from pytest_podnet.localcluster import flannel, paths, procs
from pytest_podnet.localcluster.pki import PKI, Identity
from pytest_podnet.localcluster.topology import (
    API_PORT,
    BRIDGE_ADDRESS,
    CONTEXT,
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    NODE_POD_PREFIX,
    Topology,
)
from pytest_podnet.localcluster.versions import KUBERNETES_VERSION

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
#: Controllers the controller-manager runs; the `stale-endpoints` fault removes one.
DEFAULT_CONTROLLERS = "*"


def pki() -> PKI:
    return PKI(paths.state_dir() / "pki")


def ensure_credentials(topology: Topology) -> None:
    """CA, serving and client certificates, and a kubeconfig per client identity."""
    authority = pki()
    authority.ensure_ca()
    authority.issue(
        Identity(
            "apiserver",
            "kube-apiserver",
            ip_sans=(BRIDGE_ADDRESS, "10.96.0.1", "127.0.0.1", "fd00:10:96::1"),
            dns_sans=("kubernetes", "kubernetes.default", "kubernetes.default.svc", "localhost"),
            server=True,
        )
    )
    clients = [
        Identity("admin", "podnet-admin", ("system:masters",)),
        Identity("apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",)),
        Identity("controller-manager", "system:kube-controller-manager"),
        Identity("scheduler", "system:kube-scheduler"),
        Identity("kube-proxy", "system:kube-proxy"),
    ]
    if topology.cni == "flannel":
        clients.append(Identity("flannel", flannel.USER))
    clients += [
        Identity(f"kubelet-{n.name}", f"system:node:{n.name}", ("system:nodes",))
        for n in topology.nodes
    ]
    for identity in clients:
        authority.issue(identity)
        if identity.name != "apiserver-kubelet-client":
            authority.kubeconfig(
                identity.name,
                topology.server,
                paths.state_dir() / f"{identity.name}.kubeconfig",
                CONTEXT,
            )


def binary(name: str, version: str = KUBERNETES_VERSION) -> str:
    if name == "etcd":
        found = shutil.which("etcd")
        if found is None:
            raise FileNotFoundError("etcd is not installed (apt-get install etcd-server)")
        return found
    return str(paths.bin_dir(version) / name)


def start_etcd() -> None:
    data = paths.state_dir() / "etcd"
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o700)
    client = f"http://127.0.0.1:{ETCD_CLIENT_PORT}"
    peer = f"http://127.0.0.1:{ETCD_PEER_PORT}"
    procs.start(
        "etcd",
        [
            binary("etcd"),
            "--name=podnet",
            f"--data-dir={data}",
            f"--listen-client-urls={client}",
            f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=podnet={peer}",
            "--listen-metrics-urls=",
            "--log-level=warn",
            "--quota-backend-bytes=2147483648",
        ],
    )


def start_apiserver(topology: Topology) -> None:
    cert = pki().path
    procs.start(
        "kube-apiserver",
        [
            binary("kube-apiserver", topology.version),
            f"--etcd-servers=http://127.0.0.1:{ETCD_CLIENT_PORT}",
            f"--bind-address={BRIDGE_ADDRESS}",
            f"--advertise-address={BRIDGE_ADDRESS}",
            f"--secure-port={API_PORT}",
            f"--service-cluster-ip-range={','.join(topology.service_cidrs)}",
            f"--tls-cert-file={cert('apiserver', 'crt')}",
            f"--tls-private-key-file={cert('apiserver', 'key')}",
            f"--client-ca-file={cert('ca', 'crt')}",
            f"--kubelet-client-certificate={cert('apiserver-kubelet-client', 'crt')}",
            f"--kubelet-client-key={cert('apiserver-kubelet-client', 'key')}",
            f"--service-account-key-file={cert('sa', 'pub')}",
            f"--service-account-signing-key-file={cert('sa', 'key')}",
            "--service-account-issuer=https://kubernetes.default.svc",
            # Dial kubelets by IP: a hostname lookup would ask the machine's own resolver.
            "--kubelet-preferred-address-types=InternalIP",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            "--allow-privileged=true",
            "--profiling=false",
            "--endpoint-reconciler-type=lease",
            "--v=1",
        ],
    )


def start_controller_manager(topology: Topology, controllers: str = DEFAULT_CONTROLLERS) -> None:
    cert = pki().path
    # A NODE_POD_PREFIX range per node from the IPv4 range, a /64 from the IPv6 one (the
    # dual-stack flags; the single-stack --node-cidr-mask-size would apply to both). host-local
    # hands out a node's addresses round-robin: a /24 came round again after ~250 Pods, a few
    # suites runs, and a Pod given an address that another Pod held seconds before was
    # unreachable for ~8 s from Pods that still had the old holder's MAC as their neighbour
    # entry. A /20 makes that rare here, as on clusters whose nodes see few Pods.
    masks = [f"--node-cidr-mask-size-ipv4={NODE_POD_PREFIX}"]
    if topology.dual_stack:
        masks.append("--node-cidr-mask-size-ipv6=64")
    procs.start(
        "kube-controller-manager",
        [
            binary("kube-controller-manager", topology.version),
            f"--kubeconfig={paths.state_dir() / 'controller-manager.kubeconfig'}",
            f"--authentication-kubeconfig={paths.state_dir() / 'controller-manager.kubeconfig'}",
            f"--authorization-kubeconfig={paths.state_dir() / 'controller-manager.kubeconfig'}",
            "--bind-address=127.0.0.1",
            "--allocate-node-cidrs=true",
            f"--cluster-cidr={','.join(topology.pod_cidrs)}",
            *masks,
            f"--service-cluster-ip-range={','.join(topology.service_cidrs)}",
            f"--service-account-private-key-file={cert('sa', 'key')}",
            f"--root-ca-file={cert('ca', 'crt')}",
            f"--cluster-signing-cert-file={cert('ca', 'crt')}",
            f"--cluster-signing-key-file={cert('ca', 'key')}",
            "--use-service-account-credentials=true",
            f"--controllers={controllers}",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
    )


def start_scheduler(topology: Topology) -> None:
    kubeconfig = paths.state_dir() / "scheduler.kubeconfig"
    procs.start(
        "kube-scheduler",
        [
            binary("kube-scheduler", topology.version),
            f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            "--leader-elect=false",
            "--profiling=false",
            "--v=1",
        ],
    )


def kubectl(*args: str) -> list[str]:
    """A kubectl command line against the local cluster as admin."""
    return [str(paths.bin_dir() / "kubectl"), f"--kubeconfig={paths.admin_kubeconfig()}", *args]
