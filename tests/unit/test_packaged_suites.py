"""The conformance suites ship in the package: ``pytest --podnet`` runs them when given no path.

Collect-only runs: they prove what a run would execute without contacting any cluster.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import pytest_podnet.suites
from pytest_podnet.packaged import SUITES_PACKAGE, suites_dir

#: The suite modules, one per guarantee (docs/suites.md).
SUITE_MODULES = {
    "test_pod_ip_on_replacement.py",
    "test_source_ip_preserved.py",
    "test_service_ip_stable.py",
    "test_endpoints_track_ready_pods.py",
}

OWN_CHECK = """
def test_own_check(podnet):
    pass
"""


def collected_modules(result: pytest.RunResult) -> set[str]:
    """Base names of the modules of the collected test ids (``-q --collect-only`` output)."""
    return {line.split("::", 1)[0].rsplit("/", 1)[-1] for line in result.outlines if "::" in line}


def test_suites_dir_is_the_package_of_the_suites() -> None:
    assert suites_dir() == Path(pytest_podnet.suites.__file__).parent
    assert {p.name for p in suites_dir().glob("test_*.py")} >= SUITE_MODULES
    assert (suites_dir() / "conftest.py").is_file()


def test_podnet_without_a_path_collects_the_packaged_suites(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--podnet", "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert collected_modules(result) == SUITE_MODULES


def test_quick_profile_of_the_packaged_suites_is_one_check_per_guarantee(
    pytester: pytest.Pytester,
) -> None:
    result = pytester.runpytest_subprocess("--podnet", "--podnet-quick", "--collect-only", "-q")

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert len([line for line in result.outlines if "::" in line]) == 3, result.stdout.str()


def test_pyargs_names_the_packaged_suites(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(
        "--podnet", "--collect-only", "-q", "--pyargs", SUITES_PACKAGE
    )

    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    assert collected_modules(result) == SUITE_MODULES


def test_a_path_given_runs_only_that_path(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own=OWN_CHECK)

    result = pytester.runpytest_subprocess("--podnet", "--collect-only", "-q", "test_own.py")

    assert collected_modules(result) == {"test_own.py"}


def test_own_checks_run_beside_the_packaged_suites(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_own=OWN_CHECK)

    result = pytester.runpytest_subprocess(
        "--podnet", "--collect-only", "-q", "test_own.py", "--pyargs", SUITES_PACKAGE
    )

    assert collected_modules(result) == {*SUITE_MODULES, "test_own.py"}


def test_testpaths_ini_wins_over_the_packaged_suites(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\ntestpaths = checks\n")
    pytester.mkdir("checks")
    pytester.makepyfile(**{"checks/test_own": OWN_CHECK})

    result = pytester.runpytest_subprocess("--podnet", "--collect-only", "-q")

    assert collected_modules(result) == {"test_own.py"}


def test_without_podnet_the_packaged_suites_are_not_collected(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--collect-only", "-q")

    assert result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
