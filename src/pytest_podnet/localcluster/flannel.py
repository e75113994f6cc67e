"""Flannel on the embedded cluster (``podnet cluster up --cni flannel``): build, configure, run.

flanneld runs on every node beside the kubelet, in the node's namespaces, as upstream's
DaemonSet would: the Kubernetes subnet manager (each node's ``spec.podCIDR``, allocated by the
controller-manager) and the VXLAN backend on the node's ``eth0``. It writes the node's subnet file,
which Flannel's CNI plugin reads to hand each Pod off to bridge + host-local; the routes to the
other nodes' Pod CIDRs lead through the ``flannel.1`` VXLAN device, not over plain routes.

Every file is per node (subnet file, net-conf, CNI data dir, under the node's root), so two nodes
on one machine never share state.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from importlib import resources
from pathlib import Path

from pytest_podnet.localcluster import paths, procs
from pytest_podnet.localcluster.build import run_with_heartbeat, start_build
from pytest_podnet.localcluster.network import ensure_node_mountns, node_root
from pytest_podnet.localcluster.topology import POD_CIDR, Node
from pytest_podnet.localcluster.versions import (
    FLANNEL_CNI_PLUGIN,
    FLANNEL_CNI_PLUGIN_VERSION,
    FLANNEL_VERSION,
)

#: The VXLAN device flanneld creates on every node (VNI 1).
VXLAN_DEVICE = "flannel.1"
#: Backend imports of upstream's main.go left out of the build, and why (see versions.py).
LEFT_OUT_BACKENDS = {
    "github.com/flannel-io/flannel/pkg/backend/tencentvpc": "its SDK is refused by the proxy",
    "github.com/flannel-io/flannel/pkg/backend/udp": "it needs cgo; the build is static",
}
STAMP = ".podnet-build.json"
#: Seconds from starting flanneld to its subnet file (a lease on the node object; ~1 s here).
SUBNET_FILE_WRITTEN = 60.0
#: The RBAC upstream's kube-flannel.yml grants flanneld, bound to its client certificate's user.
USER = "podnet:flannel"
RBAC = [
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "podnet-flannel"},
        "rules": [
            {"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]},
            {"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": [""], "resources": ["nodes/status"], "verbs": ["patch"]},
        ],
    },
    {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "podnet-flannel"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "podnet-flannel",
        },
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": USER}],
    },
]


class FlannelBuildError(RuntimeError):
    """The Go build of flanneld or its CNI plugin failed; the message has the output's tail."""


def gomod_dir() -> Path:
    """The Go module that pins github.com/flannel-io/flannel (package data, like ``gomod/``)."""
    return Path(str(resources.files("pytest_podnet.localcluster") / "gomod_flannel"))


def flanneld_binary() -> Path:
    return paths.flannel_dir() / "flanneld"


def cni_plugin_binary() -> Path:
    return paths.flannel_dir() / "flannel"


def _inputs_digest() -> str:
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum"):
        digest.update((gomod_dir() / name).read_bytes())
    digest.update(f"{FLANNEL_CNI_PLUGIN}@{FLANNEL_CNI_PLUGIN_VERSION}".encode())
    digest.update(json.dumps(sorted(LEFT_OUT_BACKENDS)).encode())
    return digest.hexdigest()


def is_built() -> bool:
    stamp = paths.flannel_dir() / STAMP
    return (
        stamp.exists()
        and json.loads(stamp.read_text()).get("inputs") == _inputs_digest()
        and flanneld_binary().exists()
        and cni_plugin_binary().exists()
    )


def upstream_main(module_dir: Path) -> str:
    """Upstream's main.go with the backends that cannot build here left out (and nothing else)."""
    source = (module_dir / "main.go").read_text()
    lines = source.splitlines(keepends=True)
    kept = [line for line in lines if line.strip().strip('_ "') not in LEFT_OUT_BACKENDS]
    if len(lines) - len(kept) != len(LEFT_OUT_BACKENDS):
        raise FlannelBuildError(
            f"upstream's main.go at {module_dir} no longer imports {sorted(LEFT_OUT_BACKENDS)}"
            " one line each; update LEFT_OUT_BACKENDS for this release"
        )
    return "".join(kept)


def build(*, force: bool = False, progress: bool = True) -> Path:
    """flanneld and Flannel's CNI plugin, static, into the Flannel cache directory, once."""
    target = paths.flannel_dir()
    if is_built() and not force:
        return target
    started = start_build(
        f"Flannel {FLANNEL_VERSION} and its CNI plugin ({FLANNEL_CNI_PLUGIN_VERSION})",
        "~2 minutes",
        progress=progress,
        error=FlannelBuildError,
    )
    source = target / "src"
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    for name in ("go.mod", "go.sum"):
        shutil.copy(gomod_dir() / name, source / name)
    env = {**os.environ, "CGO_ENABLED": "0"}
    # Into the module cache (a no-op when it is there), and where: upstream's main.go is read there.
    download = ["go", "mod", "download", "-json", "github.com/flannel-io/flannel"]
    located = subprocess.run(download, cwd=source, env=env, capture_output=True, text=True)
    if located.returncode != 0:
        raise FlannelBuildError(f"`{' '.join(download)}` failed in {source}:\n{located.stderr}")
    module_dir = Path(json.loads(located.stdout)["Dir"])
    (source / "main.go").write_text(upstream_main(module_dir))
    version = f"-s -w -X github.com/flannel-io/flannel/pkg/version.Version={FLANNEL_VERSION}"
    partial = target / "flanneld.partial"
    command = ["go", "build", "-trimpath", "-ldflags", version, "-o", str(partial), "."]
    _check(run_with_heartbeat(command, env, progress=progress, cwd=source), "go build", source)
    plugin = ["go", "install", "-trimpath", "-ldflags", "-s -w"]
    plugin.append(f"{FLANNEL_CNI_PLUGIN}@{FLANNEL_CNI_PLUGIN_VERSION}")
    installed = run_with_heartbeat(
        plugin, {**env, "GOBIN": str(target / "gobin")}, progress=progress, cwd=source
    )
    _check(installed, "go install " + plugin[-1], source)
    partial.rename(flanneld_binary())
    (target / "gobin" / "flannel").rename(cni_plugin_binary())
    shutil.rmtree(target / "gobin", ignore_errors=True)
    (target / STAMP).write_text(
        json.dumps(
            {
                "version": FLANNEL_VERSION,
                "cni_plugin": FLANNEL_CNI_PLUGIN_VERSION,
                "inputs": _inputs_digest(),
                "seconds": round(time.monotonic() - started, 1),
            }
        )
    )
    return target


def _check(result: subprocess.CompletedProcess[str], what: str, where: Path) -> None:
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-40:])
        raise FlannelBuildError(f"`{what}` failed in {where}:\n{tail}")


def subnet_file(node: Node) -> Path:
    return node_root(node) / "flannel" / "subnet.env"


def net_conf(node: Node) -> Path:
    return node_root(node) / "flannel" / "net-conf.json"


def write_net_conf(node: Node, proxy_mode: str) -> Path:
    """Upstream's net-conf.json: the cluster's Pod range, VXLAN; nftables beside kube-proxy's."""
    path = net_conf(node)
    path.parent.mkdir(parents=True, exist_ok=True)
    conf = {
        "Network": POD_CIDR,
        "EnableNFTables": proxy_mode == "nftables",
        "Backend": {"Type": "vxlan"},
    }
    path.write_text(json.dumps(conf, indent=2))
    return path


def cni_plugin_config(node: Node) -> dict[str, object]:
    """The first plugin of the node's conflist: Flannel, handing off to bridge + host-local.

    As in upstream's kube-flannel.yml (hairpin, default gateway). flanneld masquerades only what
    leaves the Pod range (``--ip-masq``), so the bridge does not (the plugin derives
    ``ipMasq: false`` from the subnet file). host-local keeps its state where the bridge variant
    does, so the IPAM faults work on both.
    """
    return {
        "type": "flannel",
        "subnetFile": str(subnet_file(node)),
        "dataDir": str(node_root(node) / "flannel" / "cni"),
        "ipam": {"type": "host-local", "dataDir": str(node_root(node) / "ipam")},
        "delegate": {"hairpinMode": True, "isDefaultGateway": True},
    }


def daemon_name(node: Node) -> str:
    return f"{node.name}-flanneld"


def start(node: Node, proxy_mode: str) -> None:
    """flanneld on ``node``, in its network and mount namespaces, as upstream's DaemonSet would."""
    conf = write_net_conf(node, proxy_mode)
    subnet_file(node).unlink(missing_ok=True)
    procs.start(
        daemon_name(node),
        [
            str(flanneld_binary()),
            "--kube-subnet-mgr",
            f"--kubeconfig-file={paths.state_dir() / 'flannel.kubeconfig'}",
            f"--net-config-path={conf}",
            f"--subnet-file={subnet_file(node)}",
            "--iface=eth0",
            "--ip-masq",
            "--v=1",
        ],
        netns=node.netns,
        mountns=ensure_node_mountns(node),
        env={"NODE_NAME": node.name},
    )
