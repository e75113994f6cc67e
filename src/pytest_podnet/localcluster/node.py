"""One node: its containerd, kubelet and kube-proxy, CNI config and cgroups.

Each node's daemons share the node's network namespace and a persistent mount namespace (see
``network.ensure_node_mountns``). Configuration lives under the node's root in the state dir.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import yaml

from pytest_podnet.localcluster import build, flannel, paths, procs
from pytest_podnet.localcluster.network import ensure_node_mountns, node_root
from pytest_podnet.localcluster.topology import (
    CLUSTER_DOMAIN,
    CNIS,
    DNS_SERVICE_IP,
    Node,
    Topology,
)
from pytest_podnet.localcluster.versions import KUBERNETES_VERSION, PAUSE_IMAGE, RELEASES

CGROUP_ROOT = Path("/sys/fs/cgroup")
#: Debian's containernetworking-plugins install here.
SYSTEM_CNI_BIN = Path("/usr/lib/cni")
#: The Linux bridge the bridge CNI plugin attaches every Pod of the node to.
CNI_BRIDGE = "cni0"
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap")


def socket(node: Node) -> Path:
    return paths.run_dir() / node.name / "containerd.sock"


def cni_bin_dir(node: Node) -> Path:
    """Per-node plugin directory (links to Debian's plugins) so a fault can swap one node's IPAM."""
    return node_root(node) / "cni-bin"


def cni_conf_dir(node: Node) -> Path:
    return node_root(node) / "cni-conf"


def cgroup_name(node: Node) -> str:
    return f"podnet-{node.name}"


def hierarchies() -> list[Path]:
    """Mounted cgroup v1 hierarchies (cpu and cpuacct are separate mounts on this kind of VM)."""
    return sorted(p for p in CGROUP_ROOT.iterdir() if p.is_dir() and (p / "cgroup.procs").exists())


def ensure_cgroups(node: Node) -> None:
    """Pre-create the node's cgroup root in every hierarchy (the kubelet expects it to exist)."""
    for hierarchy in hierarchies():
        group = hierarchy / cgroup_name(node)
        group.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for setting in ("cpuset.cpus", "cpuset.mems"):
                (group / setting).write_text((hierarchy / setting).read_text())


def remove_cgroups(node: Node) -> None:
    """Kill what is left in the node's cgroups and remove them, deepest first."""
    for hierarchy in hierarchies():
        group = hierarchy / cgroup_name(node)
        if not group.exists():
            continue
        for path in sorted(group.rglob("cgroup.procs"), key=lambda p: -len(p.parts)):
            for pid in path.read_text().split():
                procs.kill_pid(int(pid), grace=2)
        for directory in sorted(
            (p for p in group.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)
        ):
            directory.rmdir()
        group.rmdir()


def write_containerd_config(node: Node) -> Path:
    root = node_root(node)
    state = paths.run_dir() / node.name / "containerd-state"
    config = f"""version = 2
root = "{root / "containerd"}"
state = "{state}"
oom_score = 0
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs"]

[grpc]
  address = "{socket(node)}"

[ttrpc]
  address = "{socket(node)}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root / "opt"}"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # This VM's capability bounding set lacks CAP_SYS_RESOURCE: runc cannot lower oom_score_adj.
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{cni_bin_dir(node)}"
    conf_dir = "{cni_conf_dir(node)}"
"""
    path = root / "containerd.toml"
    path.write_text(config)
    return path


def ensure_cni_bin(node: Node, cni: str = CNIS[0]) -> None:
    directory = cni_bin_dir(node)
    directory.mkdir(parents=True, exist_ok=True)
    plugins = {plugin: SYSTEM_CNI_BIN / plugin for plugin in CNI_PLUGINS}
    if cni == "flannel":
        plugins["flannel"] = flannel.cni_plugin_binary()
    for plugin, target in plugins.items():
        link = directory / plugin
        if not link.exists() and not link.is_symlink():
            link.symlink_to(target)


def write_cni_config(node: Node, pod_cidrs: Sequence[str], cni: str = CNIS[0]) -> Path:
    """The node's conflist: bridge + host-local for its Pod CIDRs (a range set per family, so
    every Pod gets one address of each), no ipMasq (Pod traffic keeps its source IP); or with
    ``cni="flannel"`` Flannel's plugin, which hands off to those two."""
    conf_dir = cni_conf_dir(node)
    conf_dir.mkdir(parents=True, exist_ok=True)
    bridge = {
        "type": "bridge",
        "bridge": CNI_BRIDGE,
        "isGateway": True,
        "ipMasq": False,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "ranges": [[{"subnet": cidr}] for cidr in pod_cidrs],
            "routes": [{"dst": "::/0" if ":" in cidr else "0.0.0.0/0"} for cidr in pod_cidrs],
            "dataDir": str(node_root(node) / "ipam"),
        },
    }
    config = {
        "cniVersion": "0.4.0",
        "name": "podnet",
        "plugins": [
            flannel.cni_plugin_config(node) if cni == "flannel" else bridge,
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    path = conf_dir / "10-podnet.conflist"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(config, indent=2))
    os.replace(temporary, path)
    return path


def write_kubelet_config(node: Node) -> Path:
    root = node_root(node)
    resolv = root / "resolv.conf"
    # Pods must never reach the machine's own resolver: Pods of dnsPolicy ClusterFirst ask the
    # cluster DNS (clusterDNS below), the others (CoreDNS itself) get this loopback-only file.
    resolv.write_text("nameserver 127.0.0.1\noptions ndots:1\n")
    pki_dir = paths.state_dir() / "pki"
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": node.ip,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": False},
            "x509": {"clientCAFile": str(pki_dir / "ca.crt")},
        },
        "authorization": {"mode": "AlwaysAllow"},
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": f"/{cgroup_name(node)}",
        "cgroupsPerQOS": True,
        "failCgroupV1": False,
        "failSwapOn": False,
        # Without CAP_SYS_RESOURCE the kubelet cannot lower its own score.
        "oomScoreAdj": 0,
        "resolvConf": str(resolv),
        "clusterDNS": [DNS_SERVICE_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "containerRuntimeEndpoint": f"unix://{socket(node)}",
        # Images cannot be pulled again here: never garbage-collect them, never evict for disk.
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "serializeImagePulls": False,
        "maxPods": 60,
        "nodeStatusUpdateFrequency": "2s",
        "syncFrequency": "10s",
        "fileCheckFrequency": "5s",
        "healthzBindAddress": "127.0.0.1",
        "readOnlyPort": 0,
        "rotateCertificates": False,
        "serverTLSBootstrap": False,
        "localStorageCapacityIsolation": False,
    }
    path = root / "kubelet.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def write_kube_proxy_config(node: Node, topology: Topology) -> Path:
    mode = topology.proxy_mode
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "mode": mode,
        "clusterCIDR": ",".join(topology.pod_cidrs),
        "hostnameOverride": node.name,
        "bindAddress": node.ip,
        "healthzBindAddress": "127.0.0.1:10256",
        "metricsBindAddress": "127.0.0.1:10249",
        "clientConnection": {"kubeconfig": str(paths.state_dir() / "kube-proxy.kubeconfig")},
        "oomScoreAdj": 0,
        # Leave the host's global conntrack settings alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
        # Only the section of ``mode`` is read. minSyncPeriod: rules follow a change within
        # 100 ms, not the default 1 s (a config file's 0s means unset, so kube-proxy's
        # defaulting turns it into 1 s: pkg/proxy/apis/config/v1alpha1/defaults.go). A sync took
        # 30-130 ms here, so back-to-back changes still leave kube-proxy idle most of the time.
        mode: {"syncPeriod": "30s", "minSyncPeriod": "100ms"},
    }
    path = node_root(node) / "kube-proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_containerd(node: Node, version: str = KUBERNETES_VERSION) -> None:
    """The node's containerd for a node of Kubernetes ``version``: Debian's 1.6, or for a
    ``containerd_2`` release the 2.x build, with its own runc shim first on PATH (containerd
    starts the shim it finds there). Both read the same configuration (2.x migrates the
    version 2 file) and the same state, as an in-place runtime upgrade does."""
    mountns = ensure_node_mountns(node)
    config = write_containerd_config(node)
    socket(node).parent.mkdir(parents=True, exist_ok=True)
    env: dict[str, str] = {}
    executable = shutil.which("containerd") or "containerd"
    if RELEASES[version].containerd_2:
        bin_dir = build.containerd_binary().parent
        executable = str(bin_dir / "containerd")
        env["PATH"] = f"{bin_dir}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
    procs.start(
        f"{node.name}-containerd",
        [executable, "--config", str(config)],
        netns=node.netns,
        mountns=mountns,
        env=env,
    )


def start_kubelet(node: Node, topology: Topology) -> None:
    config = write_kubelet_config(node)
    root = node_root(node)
    procs.start(
        f"{node.name}-kubelet",
        [
            str(paths.bin_dir(topology.node_version(node)) / "kubelet"),
            f"--config={config}",
            f"--kubeconfig={paths.state_dir() / f'kubelet-{node.name}.kubeconfig'}",
            f"--hostname-override={node.name}",
            f"--node-ip={','.join(topology.node_ips(node))}",
            f"--root-dir={root / 'kubelet'}",
            f"--cert-dir={root / 'kubelet-pki'}",
            "--v=1",
        ],
        netns=node.netns,
        mountns=ensure_node_mountns(node),
    )


def start_kube_proxy(node: Node, topology: Topology) -> None:
    config = write_kube_proxy_config(node, topology)
    procs.start(
        f"{node.name}-kube-proxy",
        [
            str(paths.bin_dir(topology.node_version(node)) / "kube-proxy"),
            f"--config={config}",
            "--v=1",
        ],
        netns=node.netns,
        mountns=ensure_node_mountns(node),
    )


#: Marks the daemons a fault starts on a node (``cluster down`` stops them before the node's own).
FAULT_DAEMON_INFIX = "-fault-"


def fault_daemon_name(node: Node, what: str) -> str:
    return f"{node.name}{FAULT_DAEMON_INFIX}{what}"


def daemon_names(node: Node, cni: str = CNIS[0]) -> tuple[str, ...]:
    """The node's daemons in start order (``down`` stops them in reverse)."""
    names = (f"{node.name}-containerd", f"{node.name}-kubelet", f"{node.name}-kube-proxy")
    return (*names, flannel.daemon_name(node)) if cni == "flannel" else names
