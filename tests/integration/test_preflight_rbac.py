"""Preflight against the embedded cluster: missing permissions, rejected credentials, a clean pass.

Identities are real: a ServiceAccount token with no rights, one with every right but one, and a
token the API server never issued. Each failing run must stop before the first test with one line
naming the exact rule, and create nothing (nothing carries its run label).
"""

from __future__ import annotations

import base64
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import verdicts
import yaml
from admin import KUBECTL_CALL, kubectl, needs_local_cluster, write_token_kubeconfig

from pytest_podnet.preflight import KEEP_ACCESS, REQUIRED_ACCESS, Rule, rbac_manifest

#: A failing preflight answers within the 10 s connect bound plus interpreter start-up.
RUN_BOUND = 15.0

pytestmark = needs_local_cluster

NEVER_RUNS = """
from pathlib import Path

def test_never_runs():
    Path("ran").write_text("a test ran after a failed preflight")
"""


@dataclass
class Identity:
    """A ServiceAccount ``checker`` in its own namespace, and a kubeconfig that uses its token."""

    namespace: str
    kubeconfig: Path
    role_name: str

    @property
    def subject(self) -> str:
        return f"{self.namespace}:checker"


MakeIdentity = Callable[..., Identity]


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


@pytest.fixture
def make_identity(tmp_path: Path) -> Iterator[MakeIdentity]:
    """A fresh ServiceAccount, optionally bound to a ClusterRole with ``rules``; deleted after."""
    suffix = secrets.token_hex(3)
    namespace = f"podnet-rbac-{suffix}"
    role_name = f"podnet-rbac-{suffix}"
    made: list[Identity] = []

    def make(rules: list[Rule] | None = None, *, token: str | None = None) -> Identity:
        assert not made, "one identity per test"
        kubectl("create", "namespace", namespace)
        identity = Identity(namespace, tmp_path / "checker.kubeconfig", role_name)
        made.append(identity)
        kubectl("create", "serviceaccount", "checker", "-n", namespace)
        if rules is not None:
            subject = {"kind": "ServiceAccount", "name": "checker", "namespace": namespace}
            manifest = rbac_manifest(role_name, [subject], rules)
            kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifest))
        if token is None:
            token = kubectl("create", "token", "checker", "-n", namespace, "--duration=30m").strip()
        write_token_kubeconfig(identity.kubeconfig, token)
        return identity

    yield make
    if made:
        kubectl("delete", "clusterrolebinding,clusterrole", role_name, "--ignore-not-found")
        kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=false")


def run_podnet(pytester: pytest.Pytester, kubeconfig: Path) -> tuple[pytest.RunResult, float]:
    pytester.makepyfile(NEVER_RUNS)
    started = time.monotonic()
    result = pytester.runpytest_subprocess(
        "--podnet", f"--podnet-kubeconfig={kubeconfig}", "--podnet-report=verdict.json", "."
    )
    return result, time.monotonic() - started


def assert_one_usage_error(pytester: pytest.Pytester, result: pytest.RunResult) -> str:
    """Exit 4, one ERROR (all its lines), no traceback, no test run, nothing labelled."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stderr.str()
    errors = [line for line in result.errlines if line.strip()]
    assert [line for line in errors if line.startswith("ERROR: ")] == errors[:1], errors
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (pytester.path / "ran").exists()
    run = verdicts.load(pytester.path / "verdict.json")["run"]
    message = "\n".join(errors)
    assert f"ERROR: {run['preflight_error']}" == message
    assert labelled_with(run["run_id"]) == []
    return message


def listed_rules(message: str) -> list[object]:
    """The ClusterRole rules the missing-access message lists, one per line."""
    return [yaml.safe_load(line[4:]) for line in message.splitlines() if line.startswith("  - ")]


def test_identity_without_rights_gets_every_missing_rule(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    identity = make_identity()

    result, seconds = run_podnet(pytester, identity.kubeconfig)

    message = assert_one_usage_error(pytester, result)
    assert message.startswith(
        "ERROR: pytest-podnet preflight: the identity of context checker (https://"
    )
    assert f"lacks {len(REQUIRED_ACCESS)} permission(s) the checks need, cluster-wide" in message
    # Grouped by resource, one line each: exactly the rules `podnet rbac` grants.
    assert listed_rules(message) == rbac_manifest("any", [])[0]["rules"]
    assert message.splitlines()[-1].startswith("fix: bind a ClusterRole with these rules to it")
    assert seconds < RUN_BOUND


def test_identity_missing_one_right_gets_exactly_that_rule(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    exec_rule = Rule("", "pods", "create", "exec")
    identity = make_identity([rule for rule in REQUIRED_ACCESS if rule != exec_rule])

    result, _ = run_podnet(pytester, identity.kubeconfig)

    message = assert_one_usage_error(pytester, result)
    assert "lacks 1 permission(s) the checks need, cluster-wide, on 1 resource(s):" in message
    assert message.splitlines()[1:-1] == [
        '  - {apiGroups: [""], resources: ["pods/exec"], verbs: ["create"]}'
    ]


def test_token_the_server_never_issued_is_rejected(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    forged = base64.urlsafe_b64encode(secrets.token_bytes(24)).decode()
    identity = make_identity(token=forged)

    result, seconds = run_podnet(pytester, identity.kubeconfig)

    message = assert_one_usage_error(pytester, result)
    assert "rejected the credentials" in message
    assert "401" in message
    assert "fix: refresh them in the kubeconfig" in message
    assert seconds < RUN_BOUND


FACADE_TOUR = """
import pytest

pytestmark = pytest.mark.podnet_guarantee("G3")


def test_every_action_of_the_facade(podnet):
    echo = podnet.echo_deployment(replicas=2, settable_readiness=True)
    svc = podnet.service_for(echo)
    client = podnet.client_pod()
    podnet.expect_reachable(from_=client, to=svc)
    podnet.expect_reachable(from_=client, to=podnet.pods(echo), protocol="udp")
    first = podnet.pods(echo)[0]
    podnet.set_ready(first, False)
    podnet.wait_endpoints(svc, [p for p in podnet.pods(echo) if p.name != first.name])
    podnet.set_ready(first, True)
    podnet.evict(first)
    podnet.delete_pod(podnet.pods(echo)[0])
    podnet.rollout_restart(echo)
    podnet.set_image(echo)
    podnet.scale(echo, 1)
    podnet.replace_all_pods(echo)
    podnet.record("cluster_ip", podnet.read(svc).cluster_ip)


def test_failure_diagnostics(podnet):
    podnet.echo_deployment(replicas=1)
    raise AssertionError("deliberate failure to collect diagnostics")
"""


def test_least_privilege_set_is_enough_for_every_action(
    pytester: pytest.Pytester, make_identity: MakeIdentity
) -> None:
    """Bound to exactly what `podnet rbac` prints, every façade action and diagnostics work."""
    identity = make_identity()
    printed = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_podnet.cli import main; raise SystemExit(main())",
            "rbac",
            f"--name={identity.role_name}",
            f"--serviceaccount={identity.subject}",
        ],
        capture_output=True,
        text=True,
        timeout=KUBECTL_CALL,
        check=True,
    ).stdout
    kubectl("apply", "-f", "-", stdin=printed)
    pytester.makepyfile(FACADE_TOUR)

    # "." : without a path, --podnet runs the packaged suites instead of the tour.
    result = pytester.runpytest_subprocess(
        "--podnet", f"--podnet-kubeconfig={identity.kubeconfig}", "."
    )

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "podnet: context checker, server https://*, version v1.36.3",
            "podnet: testing * node(s) (selector kubernetes.io/os=linux): podnet-node-1 "
            "(172.30.0.11, pods 10.244.*",
            "podnet: images registry.k8s.io/e2e-test-images/agnhost:2.63.0",
            "podnet: run id *, timeout scale 1",
        ]
    )
    output = result.stdout.str()
    # The plugin starts the failure with the check's guarantee (G3 in the tour above).
    assert (
        "AssertionError: G3 (Services are the stable address) broken: deliberate failure" in output
    )
    for title in ("events", "pods", "services", "endpointslices", "logs"):
        assert f"podnet diagnostics: {title} podnet-" in output
    assert "Forbidden" not in output
    assert "forbidden" not in output


KEPT_ON_FAILURE = """
def test_fails_and_keeps_its_namespace(podnet):
    podnet.echo_deployment(replicas=1)
    raise AssertionError("failing on purpose")
"""


@pytest.mark.parametrize("may_patch", [True, False], ids=["rbac-keep", "rbac"])
def test_keep_marks_what_it_keeps_or_warns_that_it_cannot(
    may_patch: bool, pytester: pytest.Pytester, make_identity: MakeIdentity, swept: list[str]
) -> None:
    """``--podnet-keep`` marks a kept namespace (a namespace patch): with ``podnet rbac --keep``'s
    set it does; with ``podnet rbac``'s alone the run warns once at its start, keeps the namespace
    all the same, and says it is not marked."""
    identity = make_identity([*REQUIRED_ACCESS, *(KEEP_ACCESS if may_patch else ())])
    pytester.makepyfile(KEPT_ON_FAILURE)

    result = pytester.runpytest_subprocess(
        "--podnet",
        f"--podnet-kubeconfig={identity.kubeconfig}",
        "--podnet-keep=on-failure",
        "--podnet-report=verdict.json",
        ".",
    )

    run_id = verdicts.load(pytester.path / "verdict.json")["run"]["run_id"]
    swept.append(run_id)
    result.assert_outcomes(failed=1)
    output = result.stdout.str()
    warned = "may not patch namespaces" in result.stderr.str()
    assert warned is not may_patch, result.stderr.str()
    [namespace] = kubectl(
        "get", "namespaces", "-l", f"podnet.io/run={run_id}", "-o", "name"
    ).split()
    kept = kubectl("get", namespace, "-o", "jsonpath={.metadata.annotations.podnet\\.io/kept}")
    assert kept == ("on-failure" if may_patch else ""), output
    assert ("not marked kept, so a later run may remove it" in output) is not may_patch, output
    assert f"remove it with `podnet sweep --run {run_id}`" in output
