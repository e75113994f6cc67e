"""Once per session, before the first test: can this run work against this cluster at all?

Connects (kubeconfig, context, a bounded connect), reads the server version, the schedulable nodes
and the IP families, and asks a SelfSubjectAccessReview for every verb and resource the suites use.
Every failure becomes ONE ``pytest.UsageError`` that names the fix; nothing is created (an access
review is answered, not stored). Runs on the xdist controller only; workers get the facts.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest

from pytest_podnet import kube, waits
from pytest_podnet.nodes import left_out, testable
from pytest_podnet.settings import Settings

PREFIX: Final = "pytest-podnet preflight"


@dataclass(frozen=True)
class Rule:
    """One permission the suites need, cluster-wide (their namespaces are made per test)."""

    group: str
    resource: str
    verb: str
    subresource: str = ""

    @property
    def yaml(self) -> str:
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f'{{apiGroups: ["{self.group}"], resources: ["{resource}"], verbs: ["{self.verb}"]}}'


def _rules(group: str, resource: str, *verbs: str, subresource: str = "") -> list[Rule]:
    return [Rule(group, resource, verb, subresource) for verb in verbs]


#: Every access a session (and ``podnet sweep``) makes, checked before any test. Beyond the
#: obvious ones: a new namespace's default ServiceAccount is awaited (serviceaccounts list/watch),
#: ``scale`` patches deployments/scale, diagnostics list services, ``podnet sweep`` lists
#: replicasets and watches namespaces go, and exec is asked both ways: the Python client's
#: WebSocket exec is authorized as ``get`` (seen on v1.36), newer servers may ask ``create``.
#: tests/integration/test_preflight_rbac.py runs every façade action with exactly this set.
REQUIRED_ACCESS: Final[tuple[Rule, ...]] = (
    *_rules("", "namespaces", "create", "delete", "get", "list", "watch"),
    *_rules("", "nodes", "get", "list", "watch"),
    *_rules("", "serviceaccounts", "list", "watch"),
    *_rules("", "pods", "create", "delete", "get", "list", "watch"),
    *_rules("", "pods", "create", "get", subresource="exec"),
    *_rules("", "pods", "create", subresource="eviction"),
    *_rules("", "pods", "get", subresource="log"),
    *_rules("apps", "deployments", "create", "get", "patch", "list", "watch", "delete"),
    *_rules("apps", "deployments", "patch", subresource="scale"),
    *_rules("apps", "replicasets", "list"),
    # The disruption monitor's Pods (drains leave DaemonSet Pods in place).
    *_rules("apps", "daemonsets", "create", "delete"),
    *_rules("", "services", "create", "get", "list", "delete"),
    *_rules("discovery.k8s.io", "endpointslices", "get", "list", "watch"),
    *_rules("", "events", "list"),
)
#: With ``--podnet-keep``, a kept namespace is annotated (``owner.KEPT_ANNOTATION``) so that later
#: runs leave it alone. Not required: without it the run goes on, with a warning, and what it
#: keeps may be removed by a later run. ``podnet rbac --keep`` grants it.
KEEP_ACCESS: Final[tuple[Rule, ...]] = (*_rules("", "namespaces", "patch"),)


def access(*, keep: bool) -> tuple[Rule, ...]:
    """What a run needs: ``REQUIRED_ACCESS``, and ``KEEP_ACCESS`` for one that keeps namespaces."""
    return REQUIRED_ACCESS + KEEP_ACCESS if keep else REQUIRED_ACCESS


def rbac_manifest(
    name: str, subjects: list[dict[str, str]], rules: Sequence[Rule] = REQUIRED_ACCESS
) -> list[dict[str, object]]:
    """A ClusterRole granting ``rules`` (the least-privilege set), and a binding to ``subjects``."""
    merged: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        resource = f"{rule.resource}/{rule.subresource}" if rule.subresource else rule.resource
        merged.setdefault((rule.group, resource), []).append(rule.verb)
    labels = {"app.kubernetes.io/name": "pytest-podnet"}
    role: dict[str, object] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": labels},
        "rules": [
            {"apiGroups": [group], "resources": [resource], "verbs": verbs}
            for (group, resource), verbs in merged.items()
        ],
    }
    if not subjects:
        return [role]
    binding: dict[str, object] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": labels},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    }
    return [role, binding]


def run(settings: Settings, *, kubeconfig: str | None) -> tuple[kube.Cluster, dict[str, Any]]:
    """Connect and check; return the cluster and the facts for the header and the JSON report."""
    cluster = connect(settings, kubeconfig=kubeconfig)
    where = _where(cluster, settings)
    try:
        version = cluster.server_version()
        missing = [rule for rule in REQUIRED_ACCESS if not _allowed(cluster, rule)]
        if missing:
            raise _usage(_missing_access_message(where, missing))
        if settings.keep != "never" and not all(_allowed(cluster, r) for r in KEEP_ACCESS):
            print(_unmarked_keep_message(where, settings.keep), file=sys.stderr)
        selected = waits.Waiter(cluster, settings.timeout_scale).nodes_settled(
            settings.node_selector
        )
        nodes = testable(selected)
        excluded = left_out(cluster.nodes(), selected, settings.node_selector)
        families = cluster.ip_families()
    except kube.Unreachable as err:
        raise _usage(_unreachable_message(where, settings, err)) from None
    except kube.Forbidden as err:
        if err.status == 401:
            raise _usage(_credentials_message(where, err)) from None
        raise _usage(
            f"{PREFIX}: {where} refused a read the checks need ({err}); fix: grant this identity "
            "the least-privilege set (`podnet rbac --user NAME | kubectl apply -f -`)"
        ) from None
    except kube.KubeError as err:
        raise _usage(
            f"{PREFIX}: {where} answered with an error ({err}); fix: check the cluster's health "
            "with `kubectl get --raw /readyz` against the same context"
        ) from None
    if not nodes:
        reasons = "; ".join(f"{n.name}: {n.why}" for n in excluded) or "the cluster has none"
        raise _usage(
            f"{PREFIX}: {where} has no node the checks can use ({reasons}); fix: uncordon or "
            "repair a node (`kubectl get nodes`), or pass --podnet-node-selector; the checks "
            "need one (two for the cross-node checks)"
        )
    facts = {
        "context": cluster.context_name,
        "server_url": cluster.server_url,
        "server_version": version,
        "nodes": [
            {
                "name": n.name,
                "internal_ip": n.internal_ip,
                "pod_cidrs": list(n.pod_cidrs),
                "kubelet_version": n.kubelet_version,
            }
            for n in nodes
        ],
        "ip_families": list(families),
        "dataplane": embedded_dataplane(cluster.server_url),
        "node_selector": settings.node_selector,
        "excluded_nodes": [n.to_json() for n in excluded],
    }
    return cluster, facts


def embedded_dataplane(server_url: str | None) -> str | None:
    """The embedded cluster's CNI, kube-proxy mode and families when ``server_url`` is its API
    server; None for any other cluster (its dataplane is not ours to know)."""
    from pytest_podnet.localcluster import cluster as localcluster

    topology = localcluster.topology_serving(server_url)
    return topology.dataplane if topology is not None else None


def connect(settings: Settings, *, kubeconfig: str | None = None) -> kube.Cluster:
    """Connect within ``PREFLIGHT_CONNECT`` (scaled); a bad kubeconfig or context: UsageError."""
    kubeconfig = kubeconfig if kubeconfig is not None else settings.kubeconfig
    if kubeconfig is not None and not Path(kubeconfig).is_file():
        raise _usage(
            f"{PREFIX}: kubeconfig {kubeconfig} does not exist; fix: point "
            "--podnet-kubeconfig (or ini podnet_kubeconfig) at a kubeconfig file, or leave it out "
            "to use $KUBECONFIG or ~/.kube/config"
        )
    timeout = waits.deadline("PREFLIGHT_CONNECT", settings.timeout_scale)
    where = f"the API server of {_kubeconfig_source(kubeconfig)}"
    try:
        cluster = kube.Cluster.connect(kubeconfig, settings.context, connect_timeout=timeout)
    except kube.ConfigError as err:
        raise _usage(_config_message(kubeconfig, err)) from None
    except kube.Unreachable as err:
        raise _usage(_unreachable_message(where, settings, err)) from None
    except kube.Forbidden as err:
        if err.status == 401:
            raise _usage(_credentials_message(where, err)) from None
        raise _usage(
            f"{PREFIX}: {where} refused to tell its version ({err}); fix: grant the "
            "identity the system:public-info-viewer role, or pick another --podnet-context"
        ) from None
    except kube.KubeError as err:
        raise _usage(
            f"{PREFIX}: cannot use the cluster ({err}); fix: check that `kubectl version` "
            "works with the same kubeconfig and context"
        ) from None
    if cluster.insecure and not os.environ.get("PYTEST_XDIST_WORKER"):
        print(_insecure_message(cluster), file=sys.stderr)
    return cluster


def start_local_cluster(settings: Settings) -> tuple[Path, bool]:
    """Start or reuse the embedded cluster; True in the second slot if this session started it."""
    from pytest_podnet.localcluster import cluster as localcluster

    try:
        return localcluster.ensure_up(nodes=settings.local_nodes)
    except Exception as err:  # any failure of the start-up is one message, not a traceback
        detail = str(err) if isinstance(err, localcluster.ClusterError) else repr(err)
        raise _usage(
            f"{PREFIX}: the local cluster did not come up: {detail}; fix: run `podnet cluster "
            "up` to see each step, or `podnet cluster down` to start from scratch"
        ) from None


def stop_local_cluster() -> None:
    """Stop the embedded cluster this session started."""
    from pytest_podnet.localcluster import cluster as localcluster

    localcluster.down()


def _usage(message: str | Sequence[str]) -> pytest.UsageError:
    """One line per line meant, whatever the error text underneath spans (YAML errors span
    several): a string is one line, a sequence of strings one line each."""
    lines = [message] if isinstance(message, str) else message
    return pytest.UsageError("\n".join(_one_line(line) for line in lines))


def _one_line(text: str) -> str:
    """Whitespace runs made single spaces; a leading indent (a list item) is kept."""
    indent = text[: len(text) - len(text.lstrip(" "))]
    return indent + " ".join(text.split())


def _allowed(cluster: kube.Cluster, rule: Rule) -> bool:
    return cluster.can_i(rule.verb, rule.resource, group=rule.group, subresource=rule.subresource)


def _where(cluster: kube.Cluster, settings: Settings) -> str:
    return f"context {cluster.context_name} ({cluster.server_url})"


def _kubeconfig_source(kubeconfig: str | None) -> str:
    if kubeconfig is not None:
        return f"kubeconfig {kubeconfig}"
    env = os.environ.get("KUBECONFIG")
    if env:
        return f"kubeconfig $KUBECONFIG={env}"
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "the in-cluster config (or ~/.kube/config)"
    return "the default kubeconfig ~/.kube/config"


def _config_message(kubeconfig: str | None, err: kube.ConfigError) -> str:
    if isinstance(err, kube.CredentialPluginError):
        return _plugin_message(err)
    if isinstance(err, kube.ClientCertificateInvalid):
        return (
            f"{PREFIX}: {err}; fix: set client-certificate(-data) and client-key(-data) of that "
            "user to a PEM certificate and the PEM private key it was issued for "
            "(`kubectl config view --raw --minify` shows them), or pick another --podnet-context"
        )
    if err.option == "kubeconfig":
        return (
            f"{PREFIX}: {err}: pass --podnet-kubeconfig=PATH or set KUBECONFIG to a kubeconfig file"
        )
    if err.option == "context":
        return (
            f"{PREFIX}: {err}; fix: pass --podnet-context=NAME with one of those contexts, or set "
            "current-context in the kubeconfig (`kubectl config use-context NAME`)"
        )
    return (
        f"{PREFIX}: {err}; fix: repair {_kubeconfig_source(kubeconfig)} (`kubectl config view` "
        "shows what is wrong) or point --podnet-kubeconfig at a valid one"
    )


def _plugin_message(err: kube.CredentialPluginError) -> str:
    if not err.missing:
        return (
            f"{PREFIX}: {err}; fix: run `{err.command}` by hand to see why (it must print an "
            "ExecCredential), log in again if it asks, or pick another --podnet-context"
        )
    hint = f" ({err.install_hint})" if err.install_hint else ""
    where = "at that path" if os.sep in err.command else "on PATH"
    return (
        f"{PREFIX}: {err}; fix: install {err.command}{hint} {where} (kubectl needs it too: "
        "`kubectl version` fails the same way), or pick another --podnet-context"
    )


def _credentials_message(where: str, err: kube.KubeError) -> str:
    return (
        f"{PREFIX}: {where} rejected the credentials ({err}); fix: refresh them in the kubeconfig "
        "(an expired token or client certificate?), or pick another --podnet-context"
    )


def _unreachable_message(where: str, settings: Settings, err: kube.Unreachable) -> str:
    if isinstance(err, kube.TLSVerifyFailed):
        return _tls_message(where, err)
    if settings.cluster == "local":
        fix = "check `podnet cluster status`, or `podnet cluster down` and run again"
    elif isinstance(err, kube.Refused):
        fix = (
            "check that the API server runs and that the kubeconfig's server address is right "
            "(`kubectl version` with the same context), or pass --podnet-context/"
            "--podnet-kubeconfig for another cluster"
        )
    else:
        fix = (
            "check that the cluster is up and reachable from here (`kubectl version` with the same "
            "context), pass --podnet-context/--podnet-kubeconfig for another cluster, or raise "
            "--podnet-timeout-scale for a slow link"
        )
    if isinstance(err, kube.Refused):
        # Refused is an answer, at once: waiting longer would not help, so no bound is named.
        return f"{PREFIX}: {where} refused the connection ({err}); fix: {fix}"
    bound = waits.deadline("PREFLIGHT_CONNECT", settings.timeout_scale)
    return f"{PREFIX}: cannot reach {where} within {bound:g}s ({err}); fix: {fix}"


def _tls_message(where: str, err: kube.TLSVerifyFailed) -> str:
    if err.hostname_mismatch:
        return (
            f"{PREFIX}: {where}: the server's certificate is signed by the certificate-authority "
            f"of the kubeconfig but not issued for the server's address ({err}); fix: point "
            "server at a name or IP the certificate lists, or set tls-server-name to one"
        )
    return (
        f"{PREFIX}: {where}: the server's certificate is not signed by the certificate-authority "
        f"of the kubeconfig ({err}); fix: set certificate-authority(-data) of the cluster in the "
        "kubeconfig to the CA that signed the API server's certificate (`kubectl config view "
        "--raw --minify` shows the one in use), or pick another --podnet-context"
    )


def _insecure_message(cluster: kube.Cluster) -> str:
    return (
        f"{PREFIX}: warning: context {cluster.context_name} ({cluster.server_url}) has "
        "insecure-skip-tls-verify: true, the API server's certificate is not checked; fix: set "
        "certificate-authority(-data) in the kubeconfig instead"
    )


def _unmarked_keep_message(where: str, keep: str) -> str:
    return (
        f"{PREFIX}: warning: --podnet-keep={keep}, but the identity of {where} may not patch "
        "namespaces: what this run keeps cannot be marked kept, and a later run's start may "
        "remove it; fix: grant it `podnet rbac --keep --user NAME | kubectl apply -f -`"
    )


def _missing_access_message(where: str, missing: list[Rule]) -> list[str]:
    """One line per resource (its verbs together), as ClusterRole rules one can paste."""
    by_resource: dict[tuple[str, str], list[str]] = {}
    for rule in missing:
        resource = f"{rule.resource}/{rule.subresource}" if rule.subresource else rule.resource
        by_resource.setdefault((rule.group, resource), []).append(rule.verb)
    return [
        f"{PREFIX}: the identity of {where} lacks {len(missing)} permission(s) the checks need, "
        f"cluster-wide, on {len(by_resource)} resource(s):",
        *(
            f"  - {{apiGroups: {json.dumps([group])}, resources: {json.dumps([resource])}, "
            f"verbs: {json.dumps(verbs)}}}"
            for (group, resource), verbs in by_resource.items()
        ),
        "fix: bind a ClusterRole with these rules to it (`podnet rbac --user NAME | kubectl "
        "apply -f -` applies the whole least-privilege set)",
    ]
