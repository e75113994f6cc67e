"""``podnet cluster ...``: build, install, up, down, status, kubeconfig, fault."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys

from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.topology import CNIS, IP_FAMILIES, MAX_NODES, PROXY_MODES
from pytest_podnet.localcluster.versions import KUBERNETES_VERSION, RELEASES

#: Debian packages the cluster runs on (binaries of Kubernetes itself are built, not installed).
APT_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "etcd-server",
    "iptables",
    "nftables",
    "conntrack",
    "iproute2",
    "util-linux",
    "netcat-openbsd",
    "busybox-static",
    "curl",
    "bash",
    "gcc",
    "libc6-dev",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podnet cluster",
        description="The embedded local Kubernetes cluster (root, no Docker).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(
        "install", help="apt-get install the runtime packages (containerd, runc, CNI, etcd)"
    )
    build = sub.add_parser(
        "build", help="build the pinned Kubernetes components, CoreDNS, Flannel and the images"
    )
    build.add_argument("--force", action="store_true", help="rebuild even if cached")
    build.add_argument(
        "--all-releases",
        action="store_true",
        help="also every other pinned Kubernetes release and containerd 2.x (what `up --version`"
        " and `upgrade --to` use; otherwise built when first needed)",
    )
    up = sub.add_parser(
        "up", help="start (or reuse) the cluster and wait until every node runs a Pod"
    )
    up.add_argument(
        "--nodes", type=int, default=2, help=f"number of nodes, 1 to {MAX_NODES} (default 2)"
    )
    up.add_argument(
        "--proxy-mode",
        choices=PROXY_MODES,
        default=PROXY_MODES[0],
        help=f"kube-proxy's backend (default {PROXY_MODES[0]})",
    )
    up.add_argument(
        "--cni",
        choices=CNIS,
        default=CNIS[0],
        help=f"the Pod network: bridge (plain routes between nodes) or flannel (VXLAN)"
        f" (default {CNIS[0]})",
    )
    up.add_argument(
        "--ip-family",
        choices=IP_FAMILIES,
        default=IP_FAMILIES[0],
        help="ipv4, or dual: IPv4 and IPv6 (unique local) on every node, Pod and Service"
        f" (default {IP_FAMILIES[0]})",
    )
    up.add_argument(
        "--version",
        choices=tuple(RELEASES),
        default=KUBERNETES_VERSION,
        help=f"the Kubernetes release, built from Go modules (default {KUBERNETES_VERSION})",
    )
    upgrade = sub.add_parser(
        "upgrade",
        help="rolling upgrade of the running cluster: control plane, then node by node (cordon,"
        " drain, new kubelet and kube-proxy, uncordon)",
    )
    upgrade.add_argument("--to", required=True, choices=tuple(RELEASES), help="the new release")
    upgrade.add_argument(
        "--node-hook",
        metavar="COMMAND",
        help="shell command run in each node's turn while its kubelet and kube-proxy are stopped"
        " ($PODNET_NODE names the node): rehearses an upgrade that breaks the network",
    )
    sub.add_parser("down", help="stop the cluster and remove every trace of it")
    sub.add_parser("status", help="report every component and node")
    sub.add_parser("kubeconfig", help="print the admin kubeconfig path")
    fault = sub.add_parser("fault", help="inject or remove a named, reversible fault")
    fault.add_argument("action", choices=("add", "remove", "list"))
    fault.add_argument("name", nargs="?")
    fault.add_argument("--node", default=None, help="node to fault (default: the last node)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # `podnet cluster status | head` must end quietly, not with a BrokenPipeError traceback.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    # Imported late: `podnet cluster kubeconfig` must work without the heavier modules.
    from pytest_podnet.localcluster import build, cluster, flannel, images

    try:
        if args.command == "install":
            return install()
        if args.command == "build":
            build.build(force=args.force)
            images.build_images(force=args.force)
            images.build_coredns_image(build.build_coredns(force=args.force), force=args.force)
            flannel.build(force=args.force)
            if args.all_releases:
                for version in RELEASES:
                    build.build(version, force=args.force)
                build.build_containerd(force=args.force)
            return 0
        if args.command == "up":
            kubeconfig = cluster.up(
                args.nodes, args.proxy_mode, args.cni, args.ip_family, args.version
            )
            print(f"export KUBECONFIG={kubeconfig}")
            print(f"# then: {paths.bin_dir() / 'kubectl'} get nodes -o wide")
            print(f"# or:   pytest --podnet --podnet-kubeconfig={kubeconfig} suites/")
            return 0
        if args.command == "upgrade":
            from pytest_podnet.localcluster import upgrade

            upgrade.upgrade(args.to, node_hook=args.node_hook)
            return 0
        if args.command == "down":
            cluster.down()
            return 0
        if args.command == "status":
            return print_status(cluster.status())
        if args.command == "kubeconfig":
            print(paths.admin_kubeconfig())
            return 0
        if args.command == "fault":
            from pytest_podnet.localcluster import faults

            return faults.main(args.action, args.name, args.node)
    except (
        cluster.ClusterError,
        build.BuildError,
        flannel.FlannelBuildError,
        images.ImageBuildError,
    ) as error:
        print(f"podnet cluster {args.command}: {error}", file=sys.stderr)
        return 1
    return 2


def install() -> int:
    """Install the runtime packages with apt-get (root)."""
    env_update = subprocess.run(["apt-get", "update", "-qq"], check=False)
    if env_update.returncode:
        return env_update.returncode
    return subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES],
        env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
        check=False,
    ).returncode


def print_status(status: object) -> int:
    from pytest_podnet.localcluster.cluster import Status

    assert isinstance(status, Status)
    print(f"cluster: {'running' if status.running else 'not running'}")
    if status.dataplane:
        print(f"dataplane: {status.dataplane}")
    if status.versions:
        print(f"versions: {status.versions}")
    for name, alive in status.daemons.items():
        print(f"  {name:32} {'up' if alive else 'DOWN'}")
    print(f"safety routes: {', '.join(status.safety_routes) or 'none'}")
    print(f"guard chain drops: {status.guard_drops}")
    if status.nodes:
        print(status.nodes.rstrip())
    if status.running:
        print(f"kubeconfig: {status.kubeconfig}")
    return 0 if status.running else 3
