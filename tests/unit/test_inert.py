"""Installed but not asked: the plugin connects to nothing and changes no other project's run."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import MakeKubeconfig, SilentListener

PLAIN_PROJECT = """
import pytest

@pytest.fixture
def podnet_like_name():
    return 1

def test_passes(podnet_like_name, record_property):
    record_property("answer", 42)

def test_fails():
    assert 1 == 2

@pytest.mark.skip(reason="not today")
def test_skipped():
    pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n
"""


def _body(lines: list[str]) -> list[str]:
    """Output lines without the header and the run time, which differ between two runs."""
    start = next(i for i, line in enumerate(lines) if line.startswith("collected"))
    return [re.sub(r" in [0-9.]+s", "", line) for line in lines[start:]]


def test_plain_project_runs_unchanged(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(PLAIN_PROJECT)

    with_plugin = pytester.runpytest_subprocess("-rA")
    without_plugin = pytester.runpytest_subprocess("-rA", "-p", "no:podnet")

    assert with_plugin.ret == without_plugin.ret == pytest.ExitCode.TESTS_FAILED
    assert _body(with_plugin.outlines) == _body(without_plugin.outlines)
    assert "podnet" not in "\n".join(_body(with_plugin.outlines)).replace("podnet_like_name", "")
    assert "plugins:" in with_plugin.stdout.str()
    assert "podnet" in with_plugin.stdout.str()


def test_nothing_connects_or_imports_the_client_without_podnet(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    silent_listener: SilentListener,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(make_kubeconfig(silent_listener.url)))
    pytester.makepyfile(
        """
        import sys

        def test_uses_the_podnet_fixture(podnet):
            raise AssertionError("must be skipped without --podnet")

        def test_client_library_is_not_loaded():
            loaded = {
                "kubernetes",
                "pytest_podnet.kube",
                "pytest_podnet.preflight",
                "pytest_podnet.fixtures",
            }
            assert not loaded & set(sys.modules)
        """
    )

    result = pytester.runpytest_subprocess("-rs")

    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * pass --podnet to run pytest-podnet checks against*"])
    assert not silent_listener.contacted()
    assert "podnet verdict" not in result.stdout.str()


def test_ini_podnet_false_keeps_it_inert(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\npodnet = false\n")
    pytester.makepyfile("def test_uses_the_podnet_fixture(podnet):\n    pass\n")

    result = pytester.runpytest("-rs")

    result.assert_outcomes(skipped=1)


def test_fixtures_are_listed_with_podnet_without_connecting(
    pytester: pytest.Pytester,
    make_kubeconfig: MakeKubeconfig,
    silent_listener: SilentListener,
) -> None:
    kubeconfig = make_kubeconfig(silent_listener.url)

    result = pytester.runpytest_subprocess(
        "--fixtures", "--podnet", f"--podnet-kubeconfig={kubeconfig}"
    )

    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["podnet_cluster [[]session scope[]] -- *pytest_podnet/fixtures.py:*"]
    )
    result.stdout.fnmatch_lines(
        [
            "podnet -- *pytest_podnet/fixtures.py:*",
            "    The pytest-podnet façade, bound to a fresh namespace for this test.",
        ]
    )
    assert not silent_listener.contacted()


def test_session_cluster_fixture_is_skipped_too_without_podnet(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_cluster(podnet_cluster):\n    pass\n")

    result = pytester.runpytest_subprocess("-rs")

    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED * pass --podnet to run pytest-podnet checks*"])
