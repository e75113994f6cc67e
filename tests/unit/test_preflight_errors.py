"""Bad input stops the run before the first test with one message that names the fix.

Real runs (a pytest subprocess each) against real files and real loopback endpoints: a closed port
and a listener that never answers. No traffic leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import MakeKubeconfig, SilentListener

#: The documented preflight connect bound is 10 s; 5 s more covers starting two interpreters.
RUN_BOUND = 15.0

NEVER_RUNS = """
from pathlib import Path

def test_never_runs():
    Path("ran").write_text("a test ran after a failed preflight")
"""


def run_podnet(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, float]:
    pytester.makepyfile(NEVER_RUNS)
    started = time.monotonic()
    result = pytester.runpytest_subprocess("--podnet", *args)
    return result, time.monotonic() - started


def assert_one_usage_error(pytester: pytest.Pytester, result: pytest.RunResult, line: str) -> str:
    """Exit 4, exactly one ERROR line on stderr matching ``line``, no traceback, no test run."""
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stderr.str()
    errors = [text for text in result.errlines if text.strip()]
    assert len(errors) == 1, errors
    result.stderr.fnmatch_lines([line])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert "test session starts" not in result.stdout.str()
    assert not (pytester.path / "ran").exists()
    return errors[0]


def test_nonexistent_kubeconfig_names_the_option(pytester: pytest.Pytester) -> None:
    missing = pytester.path / "no-such-kubeconfig"

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={missing}")

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {missing} does not exist; fix: point "
        "--podnet-kubeconfig (or ini podnet_kubeconfig) at a kubeconfig file*",
    )
    assert seconds < RUN_BOUND


def test_nonexistent_kubeconfig_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = pytester.path / "gone.yaml"
    monkeypatch.setenv("KUBECONFIG", str(missing))

    result, seconds = run_podnet(pytester)

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {missing} does not exist: pass "
        "--podnet-kubeconfig=PATH or set KUBECONFIG*",
    )
    assert seconds < RUN_BOUND


def test_malformed_kubeconfig_says_which_file(pytester: pytest.Pytester) -> None:
    broken = pytester.path / "broken.kubeconfig"
    broken.write_text("apiVersion: v1\nclusters: [ {name: x\ncontexts: ::\n")

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={broken}")

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: kubeconfig {broken} is malformed: *; fix: repair "
        f"kubeconfig {broken} (`kubectl config view` shows what is wrong)*",
    )
    assert seconds < RUN_BOUND


def test_kubeconfig_that_is_not_a_kubeconfig(pytester: pytest.Pytester) -> None:
    other = pytester.path / "notes.txt"
    other.write_text("just some notes\n")

    result, _ = run_podnet(pytester, f"--podnet-kubeconfig={other}")

    assert_one_usage_error(pytester, result, "ERROR: pytest-podnet preflight: *kubeconfig*")


def test_unknown_context_lists_the_known_ones(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url, context="podnet-unit")

    result, seconds = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "--podnet-context=prod-eu"
    )

    assert_one_usage_error(
        pytester,
        result,
        f"ERROR: pytest-podnet preflight: context 'prod-eu' is not in kubeconfig {kubeconfig}: "
        "use one of podnet-unit",
    )
    assert seconds < RUN_BOUND


def test_refused_connection_is_unreachable_at_once(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    assert_one_usage_error(
        pytester,
        result,
        "ERROR: pytest-podnet preflight: cannot reach the API server of kubeconfig * within 10s (*"
        "Connection refused*); fix: check that the cluster is up and reachable from here*",
    )
    assert seconds < RUN_BOUND


def test_server_that_never_answers_gives_up_within_the_connect_bound(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, silent_listener: SilentListener
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result, seconds = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}")

    assert_one_usage_error(
        pytester,
        result,
        "ERROR: pytest-podnet preflight: cannot reach the API server of kubeconfig * "
        "within 10s (*); fix: *",
    )
    assert silent_listener.contacted()
    assert seconds < RUN_BOUND


def test_timeout_scale_scales_the_connect_bound(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, silent_listener: SilentListener
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result, seconds = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "--podnet-timeout-scale=0.2"
    )

    assert_one_usage_error(
        pytester,
        result,
        "ERROR: pytest-podnet preflight: cannot reach the API server of kubeconfig * within 2s*",
    )
    assert seconds < RUN_BOUND / 2


def test_preflight_runs_once_on_the_controller_under_xdist(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result, seconds = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "-p", "xdist", "-n", "2"
    )

    assert_one_usage_error(
        pytester, result, "ERROR: pytest-podnet preflight: cannot reach the API server*"
    )
    assert "created: 2/2 workers" not in result.stdout.str()
    assert seconds < RUN_BOUND


def test_collect_only_does_not_connect(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, silent_listener: SilentListener
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result, _ = run_podnet(pytester, f"--podnet-kubeconfig={kubeconfig}", "--collect-only")

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(["podnet: cluster not contacted*", "*test_never_runs*"])
    assert not silent_listener.contacted()
    assert not Path(pytester.path / "ran").exists()


def test_report_file_records_the_preflight_error(
    pytester: pytest.Pytester, make_kubeconfig: MakeKubeconfig, closed_port_url: str
) -> None:
    kubeconfig = make_kubeconfig(closed_port_url)

    result, _ = run_podnet(
        pytester, f"--podnet-kubeconfig={kubeconfig}", "--podnet-report=out/verdict.json"
    )

    message = assert_one_usage_error(
        pytester, result, "ERROR: pytest-podnet preflight: cannot reach*"
    )
    document = json.loads((pytester.path / "out" / "verdict.json").read_text())
    assert document["run"]["exit_status"] == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {document['run']['preflight_error']}" == message
    assert document["checks"] == []
    assert [g["verdict"] for g in document["guarantees"]] == ["NOT VERIFIED"] * 3
