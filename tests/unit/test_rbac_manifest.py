"""manifests/rbac.yaml stays exactly the role the preflight checks (pure logic, no cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "rbac.yaml"


def test_rbac_manifest_matches_what_preflight_checks() -> None:
    generated = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_podnet.cli import main; raise SystemExit(main())",
            "rbac",
            "--serviceaccount",
            "pytest-podnet:pytest-podnet",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shipped = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    expected = [d for d in yaml.safe_load_all(generated) if d]
    roles = [d for d in shipped if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert roles == expected, "regenerate manifests/rbac.yaml with `podnet rbac` (see its header)"


CONFINE = MANIFEST.with_name("confine.yaml")


def _podnet(*args: str) -> str:
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_podnet.cli import main; raise SystemExit(main())",
            *args,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_confine_manifest_is_what_podnet_rbac_confine_prints() -> None:
    generated = _podnet("rbac", "--confine", "--serviceaccount", "pytest-podnet:pytest-podnet")
    shipped = [d for d in yaml.safe_load_all(CONFINE.read_text()) if d]
    assert shipped == [d for d in yaml.safe_load_all(generated) if d], (
        "regenerate manifests/confine.yaml with `podnet rbac --confine` (see its header)"
    )
    policy, binding = shipped
    assert binding["spec"] == {
        "policyName": policy["metadata"]["name"],
        "validationActions": ["Deny"],
    }
    # The identity it confines is the ServiceAccount rbac.yaml binds, and only that one.
    [subject] = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d][-1]["subjects"]
    username = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    assert policy["spec"]["matchConditions"] == [
        {"name": "confined-identity", "expression": f'request.userInfo.username == "{username}"'}
    ]


def test_confine_matches_users_and_groups_and_needs_a_subject() -> None:
    printed = _podnet("rbac", "--confine", "--user", "ci-bot", "--group", "ci")
    policy = next(yaml.safe_load_all(printed))
    assert policy["spec"]["matchConditions"][0]["expression"] == (
        'request.userInfo.username == "ci-bot" || "ci" in request.userInfo.groups'
    )
    refused = subprocess.run(
        [sys.executable, "-c", "from pytest_podnet.cli import main; main()", "rbac", "--confine"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2
    assert "--confine needs the subjects it confines" in refused.stderr
