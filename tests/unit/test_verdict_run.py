"""The hooks end to end on a faked preflight: header, skips, verdict table, JSON, JUnit, xdist.

A fake is fine here (pure reporting logic); the same hooks run on the real cluster in
tests/integration.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import verdicts
from fake_preflight import FAKE_PREFLIGHT

G1_SUITE = """
import pytest

pytestmark = pytest.mark.podnet_guarantee("G1")


@pytest.mark.podnet_quick
def test_new_ip_on_delete(podnet, record_property):
    record_property("podnet:old_ip", "10.244.0.7")
    record_property("podnet:new_ip", "10.244.0.9")


def test_new_ip_on_eviction(podnet):
    assert "10.244.0.7" == "10.244.0.9", "pod/ns/echo-1 kept IP 10.244.0.7 after eviction"


@pytest.mark.podnet_privileged
def test_host_network_view(podnet):
    pass
"""

G2_SUITE = """
import pytest

pytestmark = pytest.mark.podnet_guarantee("G2")


def test_same_node(podnet, record_property):
    record_property("podnet:pairs", 1)


@pytest.mark.podnet_cross_node
def test_cross_node(podnet):
    raise AssertionError("must be skipped on one node")
"""

G3_SUITE = """
import pytest

pytestmark = pytest.mark.podnet_guarantee("G3")


@pytest.mark.parametrize("action", ["delete", "restart"])
def test_cluster_ip_stable(podnet, action, record_property):
    record_property("podnet:ready_to_slice_seconds", 0.42)
"""


@pytest.fixture
def suites(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(FAKE_PREFLIGHT)
    pytester.makepyfile(test_g1=G1_SUITE, test_g2=G2_SUITE, test_g3=G3_SUITE)
    return pytester


def check_verdict_run(pytester: pytest.Pytester, result: pytest.RunResult) -> None:
    # G1 has a FAIL, G2 a required cross-node check skipped on one node (NOT VERIFIED), G3
    # passes: a broken guarantee wins the exit code.
    assert result.ret == 1
    result.assert_outcomes(passed=4, failed=1, skipped=2)
    result.stdout.fnmatch_lines(
        [
            "podnet: context fake-context, server https://127.0.0.1:1, version v1.36.3",
            "podnet: testing 1 node(s) (selector -): node-a (172.30.0.11, pods 10.244.0.0/24); *",
            "podnet: images registry.k8s.io/e2e-test-images/agnhost:2.63.0",
            "podnet: run id *, timeout scale 1",
            "podnet: required G1, G2, G3; allowed skips none; not requested privileged",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*= podnet verdict =*",
            "guarantee * required  pass  fail  not verified  skipped  verdict",
            "G1 * Pod IPs are ephemeral * yes * 1 * 1 * 0 * 1  FAIL",
            "G2 * flat network, no NAT * yes * 1 * 0 * 1 * 0  NOT VERIFIED",
            "G3 * Services are the stable address * yes * 2 * 0 * 0 * 0  PASS",
            "G1 broken: test_new_ip_on_eviction: pod/ns/echo-1 kept IP 10.244.0.7 after eviction",
            "G2 not verified: test_cross_node: skipped: needs 2 schedulable nodes, the cluster "
            "has 1; fix: *--podnet-allow-skip=cross-node*",
            "podnet gate: exit 1: a required guarantee is broken (FAIL) [required: G1, G2, G3; "
            "allowed skips: none]",
            "podnet: JSON verdict written to verdict.json",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *needs hostNetwork or privileged Pods: pass --podnet-privileged to run it",
            "SKIPPED *needs 2 schedulable nodes, the cluster has 1",
        ],
        consecutive=False,
    )

    document = verdicts.load(pytester.path / "verdict.json")
    assert document["schema"] == "pytest-podnet/verdict/v2"
    assert document["run"]["server_version"] == "v1.36.3"
    assert document["run"]["exit_status"] == 1
    assert document["run"]["require"] == ["G1", "G2", "G3"]
    assert document["run"]["images"][0].endswith("agnhost:2.63.0")
    assert [g["verdict"] for g in document["guarantees"]] == ["FAIL", "NOT VERIFIED", "PASS"]
    checks = {c["nodeid"]: c for c in document["checks"]}
    assert len(checks) == 7
    assert checks["test_g1.py::test_new_ip_on_delete"]["values"] == {
        "old_ip": "10.244.0.7",
        "new_ip": "10.244.0.9",
    }
    failed = checks["test_g1.py::test_new_ip_on_eviction"]
    assert failed["outcome"] == "FAIL"
    assert failed["guarantee"] == "G1"
    assert failed["message"].startswith(
        "AssertionError: G1 (Pod IPs are ephemeral) broken: pod/ns/echo-1 kept IP 10.244.0.7"
    )
    cross = checks["test_g2.py::test_cross_node"]
    assert (cross["outcome"], cross["skip_reason"]) == ("NOT VERIFIED", "cross-node")
    assert cross["message"].startswith("skipped: needs 2 schedulable nodes, the cluster has 1")
    opt_in = checks["test_g1.py::test_host_network_view"]
    assert (opt_in["outcome"], opt_in["skip_reason"]) == ("SKIPPED", "privileged")
    assert checks["test_g3.py::test_cluster_ip_stable[restart]"]["values"] == {
        "ready_to_slice_seconds": 0.42
    }
    assert all(c["duration"] >= 0 for c in checks.values())

    junit = ET.parse(pytester.path / "junit.xml").getroot()

    def properties(name: str) -> dict[str | None, str | None]:
        case = junit.find(f".//testcase[@name='{name}']")
        assert case is not None
        return {p.get("name"): p.get("value") for p in case.iter("property")}

    assert properties("test_new_ip_on_delete") == {
        "podnet_guarantee": "G1",
        "podnet:old_ip": "10.244.0.7",
        "podnet:new_ip": "10.244.0.9",
        "podnet_outcome": "PASS",
    }
    assert properties("test_new_ip_on_eviction")["podnet_outcome"] == "FAIL"


def test_verdict_table_json_and_junit_in_a_serial_run(suites: pytest.Pytester) -> None:
    result = suites.runpytest_subprocess(
        "--podnet", "--podnet-report=verdict.json", "--junitxml=junit.xml", "-rs", "."
    )

    check_verdict_run(suites, result)


def test_verdict_table_json_and_junit_aggregate_across_xdist_workers(
    suites: pytest.Pytester,
) -> None:
    result = suites.runpytest_subprocess(
        "--podnet",
        "--podnet-report=verdict.json",
        "--junitxml=junit.xml",
        "-rs",
        "-p",
        "xdist",
        "-n",
        "2",
        ".",
    )

    result.stdout.fnmatch_lines(["created: 2/2 workers"])
    check_verdict_run(suites, result)


def test_workers_share_the_controllers_run_id(suites: pytest.Pytester) -> None:
    suites.makepyfile(
        test_run_id="""
        import pytest
        from pytest_podnet.stash import SETTINGS_KEY

        @pytest.mark.parametrize("n", range(4))
        def test_run_id(podnet, n, record_property):
            record_property("podnet:run_id", podnet.stash[SETTINGS_KEY].run_id)
        """
    )

    suites.runpytest_subprocess(
        "--podnet", "--podnet-report=verdict.json", "-p", "xdist", "-n", "2", "test_run_id.py"
    )

    document = verdicts.load(suites.path / "verdict.json")
    seen = {c["values"]["run_id"] for c in document["checks"]}
    assert seen == {document["run"]["run_id"]}


def test_quick_runs_one_check(suites: pytest.Pytester) -> None:
    result = suites.runpytest_subprocess("--podnet", "--podnet-quick", "-n", "0", ".")

    result.assert_outcomes(passed=1, deselected=6)
    result.stdout.fnmatch_lines(
        [
            "G1 * yes * 1 * 0 * 0 * 0  PASS",
            "G2 * yes * 0 * 0 * 0 * 0  NOT VERIFIED",
            "G3 * yes * 0 * 0 * 0 * 0  NOT VERIFIED",
            "G2 not verified: no check of G2 ran in this session*",
        ]
    )
    assert result.ret == 6


def test_privileged_checks_run_when_asked(suites: pytest.Pytester) -> None:
    result = suites.runpytest_subprocess("--podnet", "--podnet-privileged", "test_g1.py")

    result.assert_outcomes(passed=2, failed=1)


DIAGNOSED_SUITE = """
import pytest

from pytest_podnet import diagnostics
from pytest_podnet.stash import NAMESPACES_KEY

pytestmark = pytest.mark.podnet_guarantee("G3")


@pytest.fixture
def namespace(request, monkeypatch):
    request.node.stash[NAMESPACES_KEY] = ["podnet-gw0-202608011200-abcd"]
    monkeypatch.setattr(diagnostics, "collect", lambda cluster, namespaces: [
        ("events " + namespaces[0], "Warning  Unhealthy  pod/echo-1  Readiness probe failed"),
        ("pods " + namespaces[0], "echo-1  Running  10.244.0.7  node-a  restarts=0"),
    ])
    return request.node.stash[NAMESPACES_KEY][0]


def test_fails_with_diagnostics(podnet, namespace):
    assert "10.244.0.7" in "", "svc/echo lists 10.244.0.7 although pod/echo-1 is not Ready"


def test_passes_without_diagnostics(podnet, namespace):
    pass


def test_fails_and_diagnostics_break(podnet, namespace, monkeypatch):
    def broken(cluster, namespaces):
        raise ConnectionResetError("apiserver went away")

    monkeypatch.setattr(diagnostics, "collect", broken)
    assert False, "the original failure"
"""


def test_diagnostics_sections_follow_a_failure_and_never_hide_it(suites: pytest.Pytester) -> None:
    suites.makepyfile(test_diagnosed=DIAGNOSED_SUITE)

    result = suites.runpytest_subprocess("--podnet", "--alluredir=allure", "test_diagnosed.py")

    result.assert_outcomes(passed=1, failed=2)
    attachments = [p.read_text() for p in (suites.path / "allure").glob("*-attachment*")]
    assert "Warning  Unhealthy  pod/echo-1  Readiness probe failed" in attachments
    assert "ConnectionResetError: apiserver went away" in attachments
    output = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: G3 (*) broken: svc/echo lists 10.244.0.7 although pod/echo-1 is not*",
            "*- podnet diagnostics: events podnet-gw0-202608011200-abcd -*",
            "Warning  Unhealthy  pod/echo-1  Readiness probe failed",
            "*- podnet diagnostics: pods podnet-gw0-202608011200-abcd -*",
            "echo-1  Running  10.244.0.7  node-a  restarts=0",
        ]
    )
    result.stdout.fnmatch_lines(
        [
            "*AssertionError: G3 (*) broken: the original failure",
            "*- podnet diagnostics: diagnostics failed -*",
            "ConnectionResetError: apiserver went away",
        ]
    )
    assert output.count("podnet diagnostics: events") == 1
