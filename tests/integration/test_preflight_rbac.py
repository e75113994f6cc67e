"""Preflight against the embedded cluster: missing permissions, rejected credentials, a clean pass.

Identities are real: a ServiceAccount token with no rights, one with every right but one, and a
token the API server never issued. Each failing run must stop before the first test with one line
naming the exact rule, and create nothing (nothing carries its run label).
"""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from pytest_podnet.localcluster import paths
from pytest_podnet.preflight import REQUIRED_ACCESS, Rule

ADMIN_KUBECONFIG = paths.admin_kubeconfig()
KUBECTL = paths.bin_dir() / "kubectl"
#: Seconds any kubectl call of the set-up may take on a busy two-core machine.
KUBECTL_CALL = 60
#: A failing preflight answers within the 10 s connect bound plus interpreter start-up.
RUN_BOUND = 15.0

pytestmark = pytest.mark.skipif(
    not (ADMIN_KUBECONFIG.is_file() and KUBECTL.is_file()),
    reason=f"needs the embedded cluster ({ADMIN_KUBECONFIG}): run `podnet cluster up`",
)

NEVER_RUNS = """
from pathlib import Path

def test_never_runs():
    Path("ran").write_text("a test ran after a failed preflight")
"""

MakeIdentity = Callable[..., Path]


def kubectl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={ADMIN_KUBECONFIG}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=KUBECTL_CALL,
        check=False,
    )
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def labelled_with(run_id: str) -> list[str]:
    """Everything carrying the run label of ``run_id``: what a run of it would have created.

    The cluster is shared with concurrent runs, so "nothing created" is checked by this run's
    label rather than by a before/after diff of the whole cluster.
    """
    assert run_id
    return kubectl(
        "get",
        "namespaces,pods,deployments,services,endpointslices",
        "-A",
        "-l",
        f"podnet.io/run={run_id}",
        "-o",
        "name",
    ).split()


def cluster_rules(rules: list[Rule]) -> list[dict[str, list[str]]]:
    merged: dict[tuple[str, str], list[str]] = {}
    for rule in rules:
        resource = f"{rule.resource}/{rule.subresource}" if rule.subresource else rule.resource
        merged.setdefault((rule.group, resource), []).append(rule.verb)
    return [
        {"apiGroups": [group], "resources": [resource], "verbs": verbs}
        for (group, resource), verbs in merged.items()
    ]


@pytest.fixture
def make_identity(tmp_path: Path) -> Iterator[MakeIdentity]:
    """A kubeconfig for a fresh ServiceAccount, optionally bound to a ClusterRole with ``rules``."""
    suffix = secrets.token_hex(3)
    namespace = f"podnet-rbac-{suffix}"
    owned: list[tuple[str, ...]] = []
    admin = yaml.safe_load(ADMIN_KUBECONFIG.read_text())
    cluster = admin["clusters"][0]["cluster"]

    def make(rules: list[Rule] | None = None, *, token: str | None = None) -> Path:
        if not owned:
            kubectl("create", "namespace", namespace)
            owned.append(("namespace", namespace))
            kubectl("create", "serviceaccount", "checker", "-n", namespace)
        if rules is not None:
            role = {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": f"podnet-rbac-{suffix}"},
                "rules": cluster_rules(rules),
            }
            kubectl("apply", "-f", "-", stdin=yaml.safe_dump(role))
            owned.append(("clusterrole", role["metadata"]["name"]))
            kubectl(
                "create",
                "clusterrolebinding",
                f"podnet-rbac-{suffix}",
                f"--clusterrole=podnet-rbac-{suffix}",
                f"--serviceaccount={namespace}:checker",
            )
            owned.append(("clusterrolebinding", f"podnet-rbac-{suffix}"))
        if token is None:
            token = kubectl("create", "token", "checker", "-n", namespace, "--duration=10m").strip()
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "local", "cluster": cluster}],
            "users": [{"name": "checker", "user": {"token": token}}],
            "contexts": [{"name": "checker", "context": {"cluster": "local", "user": "checker"}}],
            "current-context": "checker",
        }
        path = tmp_path / f"checker-{len(owned)}.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    yield make
    for kind, name in reversed(owned):
        kubectl("delete", kind, name, "--ignore-not-found", "--wait=false")


def run_podnet(pytester: pytest.Pytester, kubeconfig: Path) -> tuple[pytest.RunResult, float]:
    pytester.makepyfile(NEVER_RUNS)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--podnet", f"--podnet-kubeconfig={kubeconfig}", "--podnet-report=verdict.json"
    )
    return result, time.monotonic() - started


def assert_one_usage_error(pytester: pytest.Pytester, result: pytest.RunResult) -> str:
    """Exit 4, one ERROR line and no traceback, no test run, nothing labelled with the run."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stderr.str()
    errors = [line for line in result.errlines if line.strip()]
    assert len(errors) == 1, errors
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (pytester.path / "ran").exists()
    run = json.loads((pytester.path / "verdict.json").read_text())["run"]
    assert f"ERROR: {run['preflight_error']}" == errors[0]
    assert labelled_with(run["run_id"]) == []
    return errors[0]


def test_identity_without_rights_gets_every_missing_rule(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    kubeconfig = make_identity()

    result, seconds = run_podnet(pytester, kubeconfig)

    message = assert_one_usage_error(pytester, result)
    assert message.startswith(
        "ERROR: pytest-podnet preflight: the identity of context checker (https://"
    )
    assert f"lacks {len(REQUIRED_ACCESS)} permission(s) the checks need, cluster-wide" in message
    for rule in REQUIRED_ACCESS:
        assert rule.yaml in message
    assert "fix: bind a ClusterRole with these rules to it" in message
    assert seconds < RUN_BOUND


def test_identity_missing_one_right_gets_exactly_that_rule(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    exec_rule = Rule("", "pods", "create", "exec")
    kubeconfig = make_identity([rule for rule in REQUIRED_ACCESS if rule != exec_rule])

    result, _ = run_podnet(pytester, kubeconfig)

    message = assert_one_usage_error(pytester, result)
    assert "lacks 1 permission(s) the checks need, cluster-wide: " in message
    assert '{apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}; fix:' in message


def test_token_the_server_never_issued_is_rejected(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    forged = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()
    kubeconfig = make_identity(token=forged)

    result, seconds = run_podnet(pytester, kubeconfig)

    message = assert_one_usage_error(pytester, result)
    assert "rejected the credentials" in message
    assert "401" in message
    assert "fix: refresh them in the kubeconfig" in message
    assert seconds < RUN_BOUND


def test_least_privilege_identity_passes_and_the_header_describes_the_cluster(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    kubeconfig = make_identity(list(REQUIRED_ACCESS))
    pytester.makepyfile("def test_runs():\n    pass\n")

    result = pytester.runpytest_subprocess("--podnet", f"--podnet-kubeconfig={kubeconfig}")

    assert result.ret == pytest.ExitCode.OK, result.stderr.str()
    result.stdout.fnmatch_lines(
        [
            "podnet: context checker, server https://*, version v1.36.3",
            "podnet: * schedulable node(s): podnet-node-1 (172.30.0.11, pods 10.244.*",
            "podnet: images registry.k8s.io/e2e-test-images/agnhost:2.63.0 *",
            "podnet: run id *, timeout scale 1",
        ]
    )
