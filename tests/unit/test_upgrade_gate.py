"""The upgrade gate's own logic: its options, the command runner, the combined exit code and the
verdict it prints (no cluster: the phases' JSON documents are made up here)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest

from pytest_podnet import report, upgradegate
from pytest_podnet.settings import UPGRADE_GUARANTEE, UPGRADE_PHASE_ENV, Settings
from pytest_podnet.stash import SETTINGS_KEY
from pytest_podnet.upgradegate import PhaseResult


def settings_of(pytester: pytest.Pytester, *args: str) -> Settings:
    return pytester.parseconfigure(*args).stash[SETTINGS_KEY]


def test_the_gate_options_and_their_defaults(pytester: pytest.Pytester) -> None:
    settings = settings_of(pytester, "--podnet", "--podnet-upgrade-command", "make upgrade")
    assert settings.upgrade_command == "make upgrade"
    assert settings.outage_budget == 5.0
    assert settings.upgrade_timeout == 3600.0
    assert settings.upgrade_phase is None

    pytester.makeini("[pytest]\npodnet_outage_budget = 2.5\npodnet_upgrade_timeout = 900\n")
    settings = settings_of(pytester, "--podnet")
    assert (settings.outage_budget, settings.upgrade_timeout) == (2.5, 900.0)


def test_a_bad_budget_and_a_local_cluster_are_refused_with_the_fix(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest("--podnet", "--podnet-outage-budget", "soon")
    result.stderr.fnmatch_lines(
        ["*--podnet-outage-budget='soon' is not valid: give a number greater than 0, e.g. 5*"]
    )
    result = pytester.runpytest(
        "--podnet", "--podnet-cluster=local", "--podnet-upgrade-command", "true"
    )
    result.stderr.fnmatch_lines(["*outlives the gate's three sessions*podnet cluster up*"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_the_middle_phase_requires_only_the_upgrade_guarantee(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(UPGRADE_PHASE_ENV, "during")
    settings = settings_of(pytester, "--podnet", "--podnet-upgrade-command", "true")
    assert settings.upgrade_phase == "during"
    assert settings.require == (UPGRADE_GUARANTEE,)


def test_run_command_keeps_the_exit_code_and_the_tail_of_the_output(
    capsys: pytest.CaptureFixture[str],
) -> None:
    ran = upgradegate.run_command("for i in $(seq 1 50); do echo line $i; done; exit 3", timeout=30)

    assert (ran.exit_code, ran.timed_out) == (3, False)
    assert ran.tail.splitlines() == [f"line {i}" for i in range(11, 51)]
    assert "line 1\n" in capsys.readouterr().out  # passed through as it came


def test_run_command_stops_the_whole_process_group_at_its_deadline(tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    started = time.monotonic()
    # A child of the shell that would outlive it: stopping the group must reach it too.
    ran = upgradegate.run_command(f"(sleep 30; touch {marker}) & sleep 30", timeout=1)

    assert ran.timed_out
    assert time.monotonic() - started < upgradegate.STOP_GRACE
    time.sleep(0.5)
    assert not marker.exists()


def phase(name: Any, code: int, document: dict[str, Any] | None = None) -> PhaseResult:
    return PhaseResult(name, code, 12.0, document)


def test_the_gate_fails_if_any_phase_fails_and_never_passes_a_phase_not_run() -> None:
    passing = [phase("before", 0), phase("during", 0), phase("after", 0)]
    assert upgradegate.combined_exit(passing) == report.EXIT_PASS
    assert (
        upgradegate.combined_exit([phase("before", 0), phase("during", 6), phase("after", 1)]) == 1
    )
    assert (
        upgradegate.combined_exit([phase("before", 0), phase("during", 6), phase("after", 0)]) == 6
    )
    # The checks failed before: the command never ran; the gate is that failure.
    assert upgradegate.combined_exit([phase("before", 1)]) == 1
    assert upgradegate.combined_exit([phase("before", 0), phase("during", 2)]) == 2


def during_document(values: dict[str, Any], outcome: str = "PASS") -> dict[str, Any]:
    check = {"guarantee": UPGRADE_GUARANTEE, "outcome": outcome, "values": values, "message": ""}
    return {"run": {}, "guarantees": [], "checks": [check]}


def checks_document(version: str) -> dict[str, Any]:
    return {
        "run": {
            "server_version": version,
            "nodes": [{"name": "node-1", "kubelet_version": version}],
        },
        "guarantees": [{"guarantee": "G1", "verdict": "PASS", "required": True}],
        "checks": [],
    }


WINDOWS = {
    "pod -> ClusterIP (new TCP connections) from node-2": {
        "calls": 900,
        "longest_outage_s": 7.5,
        "windows": [
            {
                "start_s": 100.0,
                "end_s": 107.5,
                "seconds": 7.5,
                "unanswered": 6,
                "outcomes": {"timed-out": 6},
            }
        ],
        "cuts": [],
        "nat": [],
    },
    "pod -> ClusterIP (established TCP connection) from node-2": {
        "calls": 880,
        "longest_outage_s": 0.4,
        "windows": [],
        "cuts": ["established connection #1 cut at 101.0s: closed or reset"],
        "nat": [{"at_s": 103.0, "source": "172.30.0.12"}],
    },
}


def test_the_verdict_names_versions_paths_windows_cuts_and_nat(pytester: pytest.Pytester) -> None:
    settings = settings_of(
        pytester, "--podnet", "--podnet-upgrade-command", "upgrade.sh", "--podnet-outage-budget=5"
    )
    values = {
        "upgrade_command_exit": 0,
        "upgrade_command_seconds": 300.2,
        "disruption_windows": WINDOWS,
    }
    results = [
        phase("before", 0, checks_document("v1.36.3")),
        phase("during", 1, during_document(values, "FAIL")),
        phase("after", 0, checks_document("v1.37.2")),
    ]
    text = "\n".join(upgradegate.summary_lines(results, settings, 1))

    assert "before  exit 0 in 12s: G1 PASS; server v1.36.3; kubelets node-1 v1.36.3" in text
    assert "after   exit 0 in 12s: G1 PASS; server v1.37.2; kubelets node-1 v1.37.2" in text
    assert "FAIL; `upgrade.sh` exit 0 after 300.2s" in text
    # path, longest outage, outages, cuts, NAT answers; flagged over the budget
    assert re.search(r"\(new TCP connections\) from node-2 +7\.5s +1 +0 +0 > budget\n", text)
    assert re.search(r"\(established TCP connection\) from node-2 +0\.4s +0 +1 +1\n", text)
    assert "out 100.0s-107.5s (7.5s; 6 calls: 6 timed-out)" in text
    assert "established connection #1 cut at 101.0s: closed or reset" in text
    assert "NAT at 103.0s, the receiver saw 172.30.0.12" in text
    assert text.endswith(
        "podnet upgrade gate: exit 1: a guarantee FAILED before, during or after the command"
    )


def test_a_gate_stopped_before_the_command_says_what_did_not_run(pytester: pytest.Pytester) -> None:
    settings = settings_of(pytester, "--podnet", "--podnet-upgrade-command", "upgrade.sh")
    text = "\n".join(upgradegate.summary_lines([phase("before", 1)], settings, 1))
    assert "during  not run (an earlier phase did not pass)" in text
    assert "after   not run (an earlier phase did not pass)" in text


def test_the_gate_document_names_each_phase_report(
    pytester: pytest.Pytester, tmp_path: Path
) -> None:
    settings = settings_of(pytester, "--podnet", "--podnet-upgrade-command", "upgrade.sh")
    results = [
        phase("before", 0, checks_document("v1.36.3")),
        phase(
            "during", 0, during_document({"disruption_windows": WINDOWS, "upgrade_command_exit": 0})
        ),
        phase("after", 0, checks_document("v1.37.2")),
    ]
    document = upgradegate.gate_document(results, settings, 0, str(tmp_path / "gate.json"))
    gate = document["upgrade_gate"]
    assert gate["phases"]["before"]["report"].endswith("gate.before.json")
    assert gate["phases"]["after"]["server_version"] == "v1.37.2"
    assert gate["phases"]["during"]["disruption"] == WINDOWS
    assert gate["phases"]["during"]["command_exit"] == 0
