"""``podnet incluster`` without a cluster: the manifests it applies, the report block, bad input."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml
from podnet_command import RUN_BOUND, podnet

from pytest_podnet import cli, incluster, kube, runner
from pytest_podnet.localcluster import runner_image
from pytest_podnet.preflight import KEEP_ACCESS, REQUIRED_ACCESS, rbac_manifest

if TYPE_CHECKING:
    from conftest import MakeKubeconfig

REPO = Path(__file__).resolve().parents[2]


def test_job_manifest_for_users_is_the_packaged_one_with_this_versions_image() -> None:
    shipped = (REPO / "manifests" / "job.yaml").read_text()
    packaged = (REPO / "src" / "pytest_podnet" / "manifests" / "job.yaml").read_text()

    assert shipped == packaged, "copy src/pytest_podnet/manifests/job.yaml to manifests/job.yaml"
    job = yaml.safe_load(shipped)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == runner_image.RUNNER_IMAGE
    # The ServiceAccount and namespace of manifests/rbac.yaml.
    assert job["metadata"]["namespace"] == "pytest-podnet"
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "pytest-podnet"
    assert job["spec"]["backoffLimit"] == 0
    assert job["metadata"]["labels"][kube.MANAGED_BY_LABEL] == kube.MANAGED_BY


def test_job_of_a_run_carries_its_labels_image_arguments_and_token() -> None:
    job = incluster.job("n1", "ns1", "run-1", "reg/img:1", ["--podnet-quick"], "t0k", 600)

    labels = {kube.MANAGED_BY_LABEL: kube.MANAGED_BY, kube.RUN_LABEL: "run-1"}
    assert labels.items() <= job["metadata"]["labels"].items()
    assert labels.items() <= job["spec"]["template"]["metadata"]["labels"].items()
    assert (job["metadata"]["name"], job["metadata"]["namespace"]) == ("n1", "ns1")
    assert job["spec"]["activeDeadlineSeconds"] == 600
    spec = job["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "n1"
    container = spec["containers"][0]
    assert (container["image"], container["args"]) == ("reg/img:1", ["--podnet-quick"])
    assert container["env"] == [{"name": runner.TOKEN_ENV, "value": "t0k"}]


def test_rbac_of_a_run_grants_what_preflight_checks_and_goes_with_its_namespace() -> None:
    account, role, binding = incluster.rbac("n1", "ns1", "run-1", "uid-9")

    assert (account["kind"], account["metadata"]["namespace"]) == ("ServiceAccount", "ns1")
    (expected_role,) = rbac_manifest("n1", [])
    assert role["rules"] == expected_role["rules"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "n1", "namespace": "ns1"}]
    for item in (role, binding):
        assert item["metadata"]["labels"][kube.RUN_LABEL] == "run-1"
        assert item["metadata"]["ownerReferences"] == [
            {"apiVersion": "v1", "kind": "Namespace", "name": "ns1", "uid": "uid-9"}
        ]


def test_rbac_of_a_run_that_keeps_namespaces_may_also_mark_them() -> None:
    _, role, _ = incluster.rbac("n1", "ns1", "run-1", "uid-9", keep=True)

    (expected_role,) = rbac_manifest("n1", [], REQUIRED_ACCESS + KEEP_ACCESS)
    assert role["rules"] == expected_role["rules"]
    assert {"apiGroups": [""], "resources": ["namespaces"], "verbs": ["patch"]} in [
        {**rule, "verbs": [v for v in rule["verbs"] if v == "patch"]} for rule in role["rules"]
    ]


@pytest.mark.parametrize(
    ("args", "keeps"),
    [
        ((), False),
        (("-n", "2", "-m", "podnet_g2"), False),
        (("--podnet-keep", "always"), True),
        (("--podnet-keep=on-failure",), True),
        (("--podnet-keep=never",), False),
        (("--podnet-keep=sometimes",), False),  # the run inside refuses it, with the fix
        (("-o", "podnet_keep=always"), True),
        (("-opodnet_keep=on-failure",), True),
        (("--override-ini=podnet_keep=always",), True),
        (("--override-ini", "podnet_keep=never"), False),
        (("--podnet-keep=always", "--podnet-keep", "never"), False),  # the last one wins
        (("--podnet-keep=never", "-o", "podnet_keep=always"), False),  # the option beats ini
        (("--", "--podnet-keep=always"), False),  # a path after --, not an option
    ],
)
def test_a_run_asks_to_keep_namespaces_as_pytest_would_read_its_arguments(
    args: tuple[str, ...], keeps: bool
) -> None:
    assert incluster.asks_to_keep(args) is keeps


def _reports(tmp_path: Path) -> Path:
    # Any bytes will do (carried byte for byte); not a verdict, which the schema check would read.
    (tmp_path / runner.JSON_REPORT).write_text('{"stub": "carried as is"}')
    (tmp_path / runner.JUNIT_REPORT).write_text("<testsuites/>")
    return tmp_path


def test_report_block_round_trips_through_a_log(tmp_path: Path) -> None:
    log = "collected 3 items\n" + runner.block("tok", runner.pack(_reports(tmp_path))) + "\n"

    files = incluster.extract_reports(log, "tok")

    assert files == {
        runner.JSON_REPORT: b'{"stub": "carried as is"}',
        runner.JUNIT_REPORT: b"<testsuites/>",
    }


def test_report_block_of_another_token_or_cut_short_is_not_taken(tmp_path: Path) -> None:
    block = runner.block("tok", runner.pack(_reports(tmp_path)))
    lines = block.splitlines()

    assert incluster.extract_reports(block, "other") is None
    assert incluster.extract_reports("\n".join(lines[:-1]), "tok") is None
    # One base64 character in the middle changed: the decoded bytes differ for sure (the last
    # character may be padding, and a gzip stream stamped with the time may already end in it).
    payload = lines[1]
    flipped = "B" if payload[10] == "A" else "A"
    corrupted = "\n".join([lines[0], payload[:10] + flipped + payload[11:], *lines[2:]])
    assert incluster.extract_reports(corrupted, "tok") is None


def test_runner_passes_the_arguments_after_the_reports_options() -> None:
    command = runner.pytest_command(["--podnet-quick", "-n", "2"], Path("/r"))

    assert command[1:4] == ["-m", "pytest", "--podnet"]
    assert "--podnet-report=/r/podnet.json" in command
    assert "--junitxml=/r/junit.xml" in command
    assert command[-3:] == ["--podnet-quick", "-n", "2"]


def test_incluster_takes_pytest_arguments_after_the_double_dash() -> None:
    args = ["incluster", "--report-dir", "out", "--", "--podnet-quick", "-k", "ip"]

    options = cli.build_parser().parse_args(args)

    assert options.pytest_args == ["--podnet-quick", "-k", "ip"]
    assert (options.report_dir, options.timeout) == ("out", incluster.DEFAULT_TIMEOUT)


def test_incluster_against_an_unreachable_server_fails_fast_naming_the_fix(
    make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)
    started = time.monotonic()

    result = podnet("incluster", "--kubeconfig", str(kubeconfig), "--", "--podnet-quick")

    assert result.returncode == incluster.EXIT_USAGE
    assert result.stderr.startswith("podnet incluster: error: cannot connect: GET https://")
    assert "connection refused" in result.stderr
    assert "fix: check that the cluster is up" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < RUN_BOUND
