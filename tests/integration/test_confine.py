"""The admission policy of manifests/confine.yaml on the embedded cluster, with a real identity.

A fresh ServiceAccount gets exactly the role of ``podnet rbac`` and the policy of ``podnet rbac
--confine`` (what manifests/rbac.yaml and manifests/confine.yaml are for the CI account; a unit
test keeps them equal). RBAC alone lets it delete, evict and exec anywhere; with the policy, each
of those is refused outside namespaces labelled ``app.kubernetes.io/managed-by=pytest-podnet``, by
that policy (its name is in the refusal), the target is untouched, and the quick profile of the
suites still passes under it.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from admin import (
    KUBECTL,
    KUBECTL_CALL,
    kubectl,
    needs_local_cluster,
    write_token_kubeconfig,
)

from pytest_podnet.confine import confine_manifest
from pytest_podnet.localcluster.versions import AGNHOST_IMAGE
from pytest_podnet.preflight import rbac_manifest

pytestmark = needs_local_cluster

ROOT = Path(__file__).resolve().parents[2]
#: A new policy is enforced within seconds (the API server's policy informer); bound the wait.
POLICY_ENFORCED = 60.0


@dataclass
class Confined:
    kubeconfig: Path
    policy: str
    #: A namespace without the managed-by label, and a running Pod in it (made by the admin).
    plain: str
    pod: str

    def kubectl(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KUBECTL), f"--kubeconfig={self.kubeconfig}", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=KUBECTL_CALL,
            check=False,
        )

    def assert_refused(self, *args: str, stdin: str | None = None) -> str:
        """The command fails, refused by the confinement policy (not RBAC); its message."""
        result = self.kubectl(*args, stdin=stdin)
        assert result.returncode != 0, f"kubectl {' '.join(args)} was allowed: {result.stdout}"
        assert f"ValidatingAdmissionPolicy '{self.policy}'" in result.stderr, result.stderr
        assert "app.kubernetes.io/managed-by=pytest-podnet" in result.stderr, result.stderr
        return result.stderr


def _wait_enforced(confined: Confined, namespace: str) -> None:
    # Dry run: even if the policy were not there yet, nothing would be deleted.
    deadline = time.monotonic() + POLICY_ENFORCED
    while True:
        answer = confined.kubectl("delete", "namespace", namespace, "--dry-run=server")
        if f"ValidatingAdmissionPolicy '{confined.policy}'" in answer.stderr:
            return
        assert time.monotonic() < deadline, f"policy not enforced in {POLICY_ENFORCED} s: {answer}"
        time.sleep(1)


@pytest.fixture(scope="module")
def confined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Confined]:
    suffix = secrets.token_hex(3)
    home, plain, name = f"podnet-confine-{suffix}", f"podnet-plain-{suffix}", f"podnet-c-{suffix}"
    subject = {"kind": "ServiceAccount", "name": "checker", "namespace": home}
    manifest = rbac_manifest(name, [subject]) + confine_manifest(name, [subject])
    kubeconfig = tmp_path_factory.mktemp("confined") / "checker.kubeconfig"
    confined = Confined(kubeconfig, f"{name}-confine", plain, "bystander")
    try:
        kubectl("create", "namespace", home)
        kubectl("create", "serviceaccount", "checker", "-n", home)
        kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all(manifest))
        kubectl("create", "namespace", plain)
        kubectl(
            "run", "bystander", "-n", plain, f"--image={AGNHOST_IMAGE}", "--restart=Never",
            "--", "pause",
        )  # fmt: skip
        token = kubectl("create", "token", "checker", "-n", home, "--duration=1h").strip()
        write_token_kubeconfig(kubeconfig, token)
        kubectl("wait", "--for=condition=Ready", "pod/bystander", "-n", plain, "--timeout=50s")
        _wait_enforced(confined, home)
        yield confined
    finally:
        kubectl("delete", "-f", "-", "--ignore-not-found", stdin=yaml.safe_dump_all(manifest))
        kubectl("delete", "namespace", home, plain, "--ignore-not-found", "--wait=false")


def test_rbac_alone_would_allow_what_the_policy_refuses(confined: Confined) -> None:
    # Without this, a refusal below could come from a missing RBAC rule instead of the policy.
    for verb, resource in (
        ("delete", "pods"),
        ("create", "pods/exec"),
        ("create", "pods/eviction"),
        ("delete", "namespaces"),
    ):
        answer = confined.kubectl("auth", "can-i", verb, resource, "-n", confined.plain)
        assert answer.stdout.strip() == "yes", (verb, resource, answer.stderr)


def test_refused_outside_the_managed_namespaces(confined: Confined) -> None:
    plain, pod = confined.plain, confined.pod

    message = confined.assert_refused("delete", "pod", pod, "-n", plain, "--wait=false")
    assert f"refused: pods {plain}/{pod}" in message
    message = confined.assert_refused("exec", pod, "-n", plain, "--", "true")
    assert "may CONNECT only in namespaces labelled" in message
    assert f"refused: pods/exec {plain}/{pod}" in message
    eviction = {
        "apiVersion": "policy/v1",
        "kind": "Eviction",
        "metadata": {"name": pod, "namespace": plain},
    }
    message = confined.assert_refused(
        "create", "--raw", f"/api/v1/namespaces/{plain}/pods/{pod}/eviction", "-f", "-",
        stdin=json.dumps(eviction),
    )  # fmt: skip
    assert f"refused: pods/eviction {plain}/{pod}" in message
    message = confined.assert_refused("delete", "namespace", plain, "--wait=false")
    assert "may DELETE only in namespaces labelled" in message
    confined.assert_refused("create", "namespace", f"{plain}-unlabelled")

    # Refused means untouched: the Pod still runs (same uid, no deletion mark), the namespace lives.
    state = json.loads(kubectl("get", "pod", pod, "-n", plain, "-o", "json"))
    assert state["status"]["phase"] == "Running"
    assert "deletionTimestamp" not in state["metadata"]
    assert kubectl("get", "namespace", plain, "-o", "jsonpath={.status.phase}") == "Active"


def test_a_managed_namespace_is_its_own_to_delete(confined: Confined) -> None:
    name = f"{confined.plain}-managed"
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/managed-by": "pytest-podnet"}},
    }
    created = confined.kubectl("create", "-f", "-", stdin=json.dumps(namespace))
    assert created.returncode == 0, created.stderr
    deleted = confined.kubectl("delete", "namespace", name, "--wait=false")
    assert deleted.returncode == 0, deleted.stderr


def test_quick_profile_passes_under_the_confined_identity(
    confined: Confined, tmp_path: Path
) -> None:
    report = tmp_path / "verdict.json"
    completed = subprocess.run(
        [
            sys.executable, "-m", "pytest", "--podnet", "-p", "no:cacheprovider",
            f"--podnet-kubeconfig={confined.kubeconfig}", "--podnet-quick", "-n", "2",
            f"--podnet-report={report}", str(ROOT / "suites"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-2000:]
    document = json.loads(report.read_text())
    assert [g["verdict"] for g in document["guarantees"]] == ["PASS", "PASS", "PASS"]
    assert {c["outcome"] for c in document["checks"]} == {"PASS"}
