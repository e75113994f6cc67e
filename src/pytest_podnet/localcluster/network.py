"""Host and node networking: safety routes, the bridge, node namespaces, and their removal.

Safety comes first: before the bridge or any node exists, the host namespace gets `unreachable`
routes for the Pod and Service ranges, so no packet for a Pod IP (live, dead or never assigned)
can be routed off this machine. A guard chain in the host's OUTPUT and FORWARD drops and counts
cluster-range packets that would leave by any interface but loopback and the cluster bridge;
its counters are the cheap proof that nothing leaked. Node namespaces get no default route.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import subprocess
from pathlib import Path

from pytest_podnet.localcluster import paths
from pytest_podnet.localcluster.procs import run
from pytest_podnet.localcluster.topology import (
    BRIDGE,
    BRIDGE_ADDRESS,
    BRIDGE_ADDRESS_V6,
    BRIDGE_NETWORK,
    BRIDGE_NETWORK_V6,
    GUARDED_RANGES,
    Node,
)

GUARD_CHAIN = "PODNET-GUARD"
#: Kernel settings the kubelet rewrites globally; saved before `up`, restored by `down`.
KUBELET_SYSCTLS = ("vm.overcommit_memory", "kernel.panic", "kernel.panic_on_oops")


def _ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    return run(["ip", *args], netns=netns, check=check)


def install_safety_routes() -> None:
    """`unreachable` routes for the Pod and Service ranges in the host namespace (idempotent)."""
    for cidr in GUARDED_RANGES:
        _ip("route", "replace", "unreachable", cidr)


def remove_safety_routes() -> None:
    for cidr in GUARDED_RANGES:
        _ip("route", "del", "unreachable", cidr, check=False)


def _guarded(tool: str) -> tuple[str, ...]:
    """The ranges ``tool`` (iptables or ip6tables) guards: its family's ranges and the bridge's."""
    version = 4 if tool == "iptables" else 6
    bridge = BRIDGE_NETWORK if version == 4 else BRIDGE_NETWORK_V6
    family = [c for c in GUARDED_RANGES if ipaddress.ip_network(c).version == version]
    return (*family, str(bridge))


#: The guard chain's twins: IPv4 rules and IPv6 rules (the IPv6 ranges are guarded even on an
#: IPv4 cluster, like their `unreachable` routes).
GUARD_TOOLS = ("iptables", "ip6tables")


def install_guard_chain() -> None:
    """Drop and count cluster-range packets leaving the host by any other interface."""
    for tool in GUARD_TOOLS:
        if subprocess.run([tool, "-w", "-L", GUARD_CHAIN, "-n"], capture_output=True).returncode:
            run([tool, "-w", "-N", GUARD_CHAIN])
            run([tool, "-w", "-A", GUARD_CHAIN, "-o", "lo", "-j", "RETURN"])
            run([tool, "-w", "-A", GUARD_CHAIN, "-o", BRIDGE, "-j", "RETURN"])
            for cidr in _guarded(tool):
                run([tool, "-w", "-A", GUARD_CHAIN, "-d", cidr, "-j", "DROP"])
                run([tool, "-w", "-A", GUARD_CHAIN, "-s", cidr, "-j", "DROP"])
        for hook in ("OUTPUT", "FORWARD"):
            if subprocess.run(
                [tool, "-w", "-C", hook, "-j", GUARD_CHAIN], capture_output=True
            ).returncode:
                run([tool, "-w", "-I", hook, "1", "-j", GUARD_CHAIN])


def guard_drops() -> int:
    """Packets the guard chains dropped so far, both families (0: nothing tried to leave)."""
    dropped = 0
    for tool in GUARD_TOOLS:
        out = subprocess.run(
            [tool, "-w", "-L", GUARD_CHAIN, "-n", "-v", "-x"], capture_output=True, text=True
        )
        if out.returncode:
            continue
        dropped += sum(
            int(line.split()[0])
            for line in out.stdout.splitlines()[2:]
            if line.split() and "DROP" in line.split()[2:3]
        )
    return dropped


def remove_guard_chain() -> None:
    for tool in GUARD_TOOLS:
        for hook in ("OUTPUT", "FORWARD"):
            while not subprocess.run(
                [tool, "-w", "-D", hook, "-j", GUARD_CHAIN], capture_output=True
            ).returncode:
                pass
        subprocess.run([tool, "-w", "-F", GUARD_CHAIN], capture_output=True)
        subprocess.run([tool, "-w", "-X", GUARD_CHAIN], capture_output=True)


def ensure_bridge(dual_stack: bool = False) -> None:
    """The host bridge the control plane binds to and every node's veth joins."""
    if not Path(f"/sys/class/net/{BRIDGE}").exists():
        _ip("link", "add", BRIDGE, "type", "bridge")
    _ip("addr", "replace", f"{BRIDGE_ADDRESS}/{BRIDGE_NETWORK.prefixlen}", "dev", BRIDGE)
    if dual_stack:
        # nodad: usable at once (duplicate address detection would hold it back ~1-2 s).
        prefix = f"{BRIDGE_ADDRESS_V6}/{BRIDGE_NETWORK_V6.prefixlen}"
        _ip("addr", "replace", prefix, "dev", BRIDGE, "nodad")
    _ip("link", "set", BRIDGE, "up")


def remove_bridge() -> None:
    _ip("link", "del", BRIDGE, check=False)


def ensure_node_netns(node: Node, dual_stack: bool = False) -> None:
    """A network namespace on the bridge, with forwarding on inside and no default route."""
    if not Path(f"/run/netns/{node.netns}").exists():
        _ip("netns", "add", node.netns)
    if not Path(f"/sys/class/net/{node.host_veth}").exists():
        _ip(
            "link",
            "add",
            node.host_veth,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            node.netns,
        )
    _ip("link", "set", node.host_veth, "master", BRIDGE, "up")
    _ip("link", "set", "lo", "up", netns=node.netns)
    _ip("addr", "replace", f"{node.ip}/{BRIDGE_NETWORK.prefixlen}", "dev", "eth0", netns=node.netns)
    settings = ["net.ipv4.ip_forward=1", "net.ipv4.conf.all.rp_filter=0"]
    if dual_stack:
        prefix = f"{node.ip6}/{BRIDGE_NETWORK_V6.prefixlen}"
        _ip("addr", "replace", prefix, "dev", "eth0", "nodad", netns=node.netns)
        settings.append("net.ipv6.conf.all.forwarding=1")
    _ip("link", "set", "eth0", "up", netns=node.netns)
    for setting in settings:
        run(["sysctl", "-qw", setting], netns=node.netns)
    with contextlib.suppress(subprocess.CalledProcessError):
        # iptables must see bridged Pod traffic (kube-proxy hairpin); not per-netns on every kernel.
        run(["sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1"], netns=node.netns)
        run(["sysctl", "-qw", "net.bridge.bridge-nf-call-ip6tables=1"], netns=node.netns)


def set_pod_routes(nodes: list[Node], pod_cidrs: dict[str, list[str]]) -> None:
    """In every node, a route to each other node's Pod CIDRs via that node (its address in the
    CIDR's family): no NAT, no default."""
    for node in nodes:
        for other in nodes:
            if other.name == node.name:
                continue
            for cidr in pod_cidrs.get(other.name, []):
                via = other.ip6 if ipaddress.ip_network(cidr).version == 6 else other.ip
                _ip("route", "replace", cidr, "via", via, netns=node.netns)


def set_host_pod_routes(nodes: list[Node], pod_cidrs: dict[str, list[str]]) -> None:
    """In the host namespace, a route to each node's Pod CIDR via that node, on the bridge.

    The control plane runs in the host namespace, and a Pod that calls the API server (the
    ``kubernetes`` Service, in-cluster config) reaches it with its own Pod IP as the source: the
    answer must go back over the bridge, not into the ``unreachable`` Pod range. These routes are
    more specific than that range and lead only into the node namespaces; every Pod CIDR no node
    holds stays unreachable, and the host still does not forward. IPv4 only: the API server
    listens on the bridge's IPv4 address.
    """
    for node in nodes:
        for cidr in pod_cidrs.get(node.name, []):
            if ipaddress.ip_network(cidr).version == 4:
                _ip("route", "replace", cidr, "via", node.ip, "dev", BRIDGE)


def remove_node_netns(node: Node) -> None:
    _ip("link", "del", node.host_veth, check=False)
    _ip("netns", "del", node.netns, check=False)


def mount_ns_dir() -> Path:
    return paths.run_dir() / "mnt"


def mount_ns_path(node: Node) -> Path:
    return mount_ns_dir() / node.name


def node_root(node: Node) -> Path:
    return paths.state_dir() / "nodes" / node.name


#: Directories the kubelet and containerd hard-code; each node sees its own copy.
PRIVATE_DIRS = ("/var/lib/kubelet", "/var/log", "/var/lib/cni", "/run/containerd", "/run/netns")


def ensure_node_mountns(node: Node) -> Path:
    """A persistent mount namespace for the node's daemons, with private hard-coded dirs.

    The kubelet garbage-collects Pod log directories it does not know under /var/log/pods, i.e. the
    other kubelet's; containerd and kubelet share the node's view of volumes and rootfs mounts.
    """
    holder = mount_ns_dir()
    holder.mkdir(parents=True, exist_ok=True)
    if not _is_mountpoint(holder):
        run(["mount", "--bind", str(holder), str(holder)])
        run(["mount", "--make-private", str(holder)])
    target = mount_ns_path(node)
    if target.exists() and _is_mountpoint(target):
        return target
    target.touch()
    root = node_root(node)
    binds: list[str] = []
    for directory in PRIVATE_DIRS:
        private = root / "private" / directory.strip("/").replace("/", "_")
        private.mkdir(parents=True, exist_ok=True)
        Path(directory).mkdir(parents=True, exist_ok=True)
        binds.append(f"mount --bind {private} {directory}")
    script = "mount --make-rprivate / && " + " && ".join(binds)
    run(["unshare", f"--mount={target}", "--propagation", "private", "sh", "-c", script])
    return target


def remove_node_mountns(node: Node) -> None:
    target = mount_ns_path(node)
    if target.exists():
        subprocess.run(["umount", "-l", str(target)], capture_output=True)
        target.unlink(missing_ok=True)


def remove_mount_ns_holder() -> None:
    holder = mount_ns_dir()
    if holder.exists() and _is_mountpoint(holder):
        subprocess.run(["umount", str(holder)], capture_output=True)


def _is_mountpoint(path: Path) -> bool:
    return subprocess.run(["mountpoint", "-q", str(path)]).returncode == 0


def save_host_state() -> None:
    """Record what `up` changes on the host (kubelet sysctls, /run/netns) so `down` restores it."""
    saved = paths.state_dir() / "host-state.json"
    if saved.exists():
        return
    netns = Path("/run/netns")
    state = {
        "sysctls": {key: run(["sysctl", "-n", key]).strip() for key in KUBELET_SYSCTLS},
        "run_netns_existed": netns.exists(),
        "run_netns_mounted": netns.exists() and _is_mountpoint(netns),
    }
    saved.write_text(json.dumps(state))


def restore_host_state() -> None:
    saved = paths.state_dir() / "host-state.json"
    if not saved.exists():
        return
    state = json.loads(saved.read_text())
    for key, value in state["sysctls"].items():
        run(["sysctl", "-qw", f"{key}={value}"], check=False)
    netns = Path("/run/netns")
    # `ip netns add` turns /run/netns into a mount point on first use and never undoes it.
    if netns.exists() and not any(netns.iterdir()):
        if not state["run_netns_mounted"] and _is_mountpoint(netns):
            subprocess.run(["umount", str(netns)], capture_output=True)
        if not state["run_netns_existed"]:
            netns.rmdir()
    saved.unlink()
