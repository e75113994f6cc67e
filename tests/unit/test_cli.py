"""The ``podnet`` command line: parsing, delegation to the embedded cluster, connect errors."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from podnet_command import RUN_BOUND, podnet

import pytest_podnet
from pytest_podnet import cli
from pytest_podnet.preflight import REQUIRED_ACCESS

if TYPE_CHECKING:
    from conftest import MakeKubeconfig


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("90s", timedelta(seconds=90)),
        ("45", timedelta(seconds=45)),
        ("30m", timedelta(minutes=30)),
        ("1h", timedelta(hours=1)),
        ("2d", timedelta(days=2)),
    ],
)
def test_durations_parse(text: str, expected: timedelta) -> None:
    assert cli.duration(text) == expected


def test_bad_duration_is_a_usage_error_naming_the_format() -> None:
    result = podnet("sweep", "--older-than", "an hour")

    assert result.returncode == cli.EXIT_USAGE
    assert "'an hour' is not a duration: use e.g. 90s, 30m, 1h, 2d" in result.stderr


def test_help_lists_sweep_and_cluster() -> None:
    result = podnet("--help")

    assert result.returncode == 0
    assert "sweep" in result.stdout
    assert "cluster" in result.stdout


def test_cluster_is_delegated_to_the_embedded_cluster_command() -> None:
    result = podnet("cluster", "--help")

    assert result.returncode == 0
    assert result.stdout.startswith("usage: podnet cluster")
    assert "status" in result.stdout


def test_sweep_with_an_unknown_context_says_so(
    make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result = podnet("sweep", "--kubeconfig", str(kubeconfig), "--context", "nope")

    assert result.returncode == cli.EXIT_USAGE
    assert result.stderr.strip() == (
        f"podnet sweep: error: cannot connect: context 'nope' is not in kubeconfig {kubeconfig} "
        "(contexts: podnet-unit); fix: pass --context=NAME with one of those contexts"
    )


@pytest.mark.parametrize("env_kubeconfig", [False, True], ids=["option", "KUBECONFIG"])
def test_sweep_names_its_own_flags_for_a_missing_kubeconfig(
    tmp_path: Path, env_kubeconfig: bool
) -> None:
    missing = tmp_path / "gone.yaml"
    flags = [] if env_kubeconfig else ["--kubeconfig", str(missing)]
    env = {**os.environ, "KUBECONFIG": str(missing)} if env_kubeconfig else None

    result = podnet("sweep", *flags, "--run", "r1", env=env)

    assert result.returncode == cli.EXIT_USAGE
    assert result.stderr.strip() == (
        f"podnet sweep: error: cannot connect: kubeconfig {missing} does not exist: pass "
        "--kubeconfig=PATH or set KUBECONFIG to a kubeconfig file"
    )
    # `podnet sweep` has --kubeconfig and --context, not the pytest option names.
    assert "--podnet-" not in result.stderr


def test_sweep_against_an_unreachable_server_fails_fast(
    make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)
    started = time.monotonic()

    result = podnet("sweep", "--kubeconfig", str(kubeconfig), "--run", "r1")

    assert result.returncode == cli.EXIT_USAGE
    assert result.stderr.startswith("podnet sweep: error: cannot connect: GET https://127.0.0.1:")
    assert "connection refused" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < RUN_BOUND


def test_rbac_prints_a_cluster_role_with_every_checked_rule_and_a_binding() -> None:
    result = podnet("rbac", "--name=podnet-ci", "--serviceaccount=ci:runner", "--user=alice")

    assert result.returncode == 0, result.stderr
    role, binding = yaml.safe_load_all(result.stdout)
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    wanted = {
        (r.group, f"{r.resource}/{r.subresource}" if r.subresource else r.resource, r.verb)
        for r in REQUIRED_ACCESS
    }
    assert granted == wanted
    assert (role["kind"], role["metadata"]["name"]) == ("ClusterRole", "podnet-ci")
    assert binding["kind"] == "ClusterRoleBinding"
    assert binding["roleRef"]["name"] == "podnet-ci"
    assert binding["subjects"] == [
        {"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"},
        {"kind": "ServiceAccount", "name": "runner", "namespace": "ci"},
    ]


def test_rbac_keep_adds_only_the_namespace_patch_a_kept_namespace_needs() -> None:
    plain = yaml.safe_load_all(podnet("rbac").stdout)
    keep = yaml.safe_load_all(podnet("rbac", "--keep").stdout)

    [plain_role] = list(plain)
    [keep_role] = list(keep)
    namespaces = [r for r in keep_role["rules"] if r["resources"] == ["namespaces"]]
    assert namespaces[0]["verbs"] == ["create", "delete", "get", "list", "watch", "patch"]
    assert [r for r in keep_role["rules"] if r["resources"] != ["namespaces"]] == [
        r for r in plain_role["rules"] if r["resources"] != ["namespaces"]
    ]
    assert (
        "patch"
        not in next(r for r in plain_role["rules"] if r["resources"] == ["namespaces"])["verbs"]
    )


def test_rbac_without_subjects_prints_only_the_role() -> None:
    result = podnet("rbac")

    assert [doc["kind"] for doc in yaml.safe_load_all(result.stdout)] == ["ClusterRole"]


def test_rbac_rejects_a_service_account_without_namespace() -> None:
    result = podnet("rbac", "--serviceaccount=runner")

    assert result.returncode == cli.EXIT_USAGE
    assert "--serviceaccount 'runner': write NAMESPACE:NAME" in result.stderr


def test_version_is_the_one_of_the_installed_distribution() -> None:
    completed = podnet("--version")

    assert completed.returncode == 0, completed.stderr
    # One source: pyproject reads the version from pytest_podnet.__version__.
    assert completed.stdout.strip() == f"podnet (pytest-podnet) {metadata.version('pytest-podnet')}"
    assert metadata.version("pytest-podnet") == pytest_podnet.__version__
