"""A failed check's message starts with the guarantee it broke (pure logic, no cluster)."""

from __future__ import annotations

import pytest


def test_failure_raised_below_the_check_is_prefixed_with_its_guarantee(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.podnet_guarantee("G3")

        def test_wait_inside_an_action():
            raise AssertionError("timed out after 30s [endpoints-propagation] waiting for x")

        def test_own_assertion():
            assert 1 == 2, "G3: svc/echo changed ClusterIP"
        """
    )

    result = pytester.runpytest("-q")

    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        [
            "E * G3 (Services are the stable address) broken: timed out after 30s*",
            "E * G3: svc/echo changed ClusterIP",
        ]
    )
    assert "broken: G3:" not in result.stdout.str()
