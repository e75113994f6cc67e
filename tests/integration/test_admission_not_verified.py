"""A cluster whose admission policy denies our Deployments is NOT VERIFIED, never broken.

A real ValidatingAdmissionPolicy (built into the API server, no webhook) denies every Deployment
in namespaces carrying a label only this test's inner run puts on its namespaces
(``--podnet-namespace-labels``), so concurrent runs on the same cluster are not touched. The
quick profile then has two checks that need a Deployment (G1, G3) and one that does not (G2).
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import verdicts
import yaml
from admin import kubectl, needs_local_cluster

from pytest_podnet import kube, waits

ROOT = Path(__file__).resolve().parents[2]
#: Seconds for a new policy to reach the API server's admission chain (its informer resyncs
#: within a second or two).
POLICY_ACTIVE = 30
#: Seconds the inner quick run may take: preflight, three checks, teardown.
INNER_RUN = 600
POLICY_MESSAGE = "podnet test policy: Deployments are not allowed here"

pytestmark = needs_local_cluster


@pytest.fixture
def deny_label() -> Iterator[str]:
    """``key=value`` of a namespace label under which a VAP denies every Deployment create."""
    # A letter first: kubectl's YAML reads a value like 12e45678 as a number, not a label value.
    token = f"t{secrets.token_hex(4)}"
    key, name = "podnet.io/vap-test", f"podnet-test-deny-deployments-{token}"
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["deployments"],
                    }
                ]
            },
            "validations": [{"expression": "false", "message": POLICY_MESSAGE}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {key: token}}},
        },
    }
    probe = f"podnet-vap-probe-{token}"
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([policy, binding]))
    try:
        kubectl("create", "namespace", probe)
        kubectl("label", "namespace", probe, f"{key}={token}")
        wait_policy_active(probe)
        yield f"{key}={token}"
    finally:
        kubectl("delete", "namespace", probe, "--ignore-not-found", "--wait=false", check=False)
        kubectl(
            "delete",
            "validatingadmissionpolicybinding,validatingadmissionpolicy",
            name,
            "--ignore-not-found",
            check=False,
        )


def wait_policy_active(namespace: str) -> None:
    """Until a server-side dry run of a Deployment in ``namespace`` is denied by the policy."""
    until = time.monotonic() + POLICY_ACTIVE
    answer = ""
    while time.monotonic() < until:
        answer = kubectl(
            "create",
            "deployment",
            "probe",
            "-n",
            namespace,
            "--image=x",
            "--dry-run=server",
            check=False,
        )
        if POLICY_MESSAGE in answer:
            return
        time.sleep(0.5)  # the policy informer has nothing to watch from here
    pytest.fail(f"the test policy was not active after {POLICY_ACTIVE}s: {answer}")


def test_admission_denial_is_not_verified_with_the_policys_message(
    deny_label: str, podnet_args: list[str], podnet_cluster: kube.Cluster, tmp_path: Path
) -> None:
    report = tmp_path / "verdict.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *podnet_args,
            "--podnet-quick",
            f"--podnet-namespace-labels={deny_label}",
            f"--podnet-report={report}",
            str(ROOT / "suites"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=INNER_RUN,
        check=False,
    )
    output = completed.stdout + completed.stderr

    assert completed.returncode == 6, output[-4000:]
    document = verdicts.load(report)
    got = {g["guarantee"]: g["verdict"] for g in document["guarantees"]}
    assert got == {"G1": "NOT VERIFIED", "G2": "PASS", "G3": "NOT VERIFIED"}, output[-4000:]
    denied = [c for c in document["checks"] if c["outcome"] == "NOT VERIFIED"]
    assert len(denied) == 2
    for check in denied:
        assert POLICY_MESSAGE in check["message"]
        assert "an admission policy of the cluster rejected the object" in check["message"]
    assert "broken" not in output
    assert "site-packages" not in output, "a client-library traceback was printed"
    run_id = document["run"]["run_id"]
    waits.Waiter(podnet_cluster).namespaces_gone(f"{kube.RUN_LABEL}={run_id}")
    assert podnet_cluster.list_labelled(run_id) == []
