"""A failed check's message starts with its guarantee and what the failure means (no cluster)."""

from __future__ import annotations

import pytest
from fake_preflight import FAKE_PREFLIGHT


def test_failure_raised_below_the_check_is_prefixed_with_its_guarantee(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_PREFLIGHT)
    pytester.makepyfile(
        """
        import pytest

        from pytest_podnet import waits

        pytestmark = pytest.mark.podnet_guarantee("G3")

        def test_wait_inside_an_action(podnet):
            raise waits.WaitTimeout("ENDPOINTS_PROPAGATION", 30, "slices of svc/echo", "[]")

        def test_own_assertion(podnet):
            assert 1 == 2, "G3: svc/echo changed ClusterIP"

        def test_bare_assert(podnet):
            assert 1 == 2
        """
    )

    result = pytester.runpytest("-q", "--podnet", ".")

    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(
        [
            "E * G3 (Services are the stable address) broken: timed out after 30s "
            "*endpoints-propagation*",
            "E * G3 (Services are the stable address) broken: svc/echo changed ClusterIP",
            "E * G3 (Services are the stable address) broken: assert 1 == 2",
        ],
        consecutive=False,
    )
    assert "broken: G3:" not in result.stdout.str()
