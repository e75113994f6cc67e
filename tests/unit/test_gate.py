"""The gate: FAIL only for an observation, NOT VERIFIED for what stopped one, and the exit codes.

Runs the plugin's hooks on a faked preflight (pure plugin logic): the checks raise what the
façade raises on a real cluster (a domain assertion, a wait running out, an API error).
"""

from __future__ import annotations

import pytest
import verdicts
from fake_preflight import FAKE_PREFLIGHT

RAISING_SUITE = """
import pytest

from pytest_podnet import kube, waits

pytestmark = pytest.mark.podnet_guarantee("{gid}")


def test_check(podnet):
    {body}
"""

BODIES = {
    "passes": "pass",
    "assertion": "assert 1 == 2, 'svc/ns/echo changed ClusterIP 10.96.0.7 -> 10.96.0.9'",
    "observation-timeout": (
        "raise waits.WaitTimeout('ENDPOINTS_PROPAGATION', 30, "
        "'EndpointSlices of svc/ns/echo to list exactly {10.244.1.7}', 'ready: []')"
    ),
    "admission": (
        'raise kube.Invalid(\'create deployment/ns/echo: 422 deployments.apps "echo" is '
        "forbidden: ValidatingAdmissionPolicy \\'deny-podnet\\' with binding \\'b\\' denied "
        "request: no Deployments here', status=422)"
    ),
    "rbac": (
        'raise kube.Forbidden(\'create pods/exec: 403 pods "client" is forbidden: User '
        '"ci" cannot create resource "pods/exec"\', status=403)'
    ),
    "quota": (
        'raise kube.Forbidden(\'create pod/ns/client: 403 pods "client" is forbidden: '
        "exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0', status=403)"
    ),
    "image-pull": (
        "raise waits.Unrecoverable('POD_STARTUP', 'pod/ns/echo-1 to be Ready', "
        "'pod/ns/echo-1 container netexec is ImagePullBackOff', 'status: {}')"
    ),
    "startup-timeout": (
        "raise waits.WaitTimeout('POD_STARTUP', 120, 'pod/ns/echo-1 to be Ready', 'phase: Pending')"
    ),
    "api-down": "raise kube.Unreachable('list pods: ConnectionRefusedError: refused')",
    "bug": "raise TypeError('unsupported operand')",
}


def run_suite(
    pytester: pytest.Pytester, *bodies: tuple[str, str], args: tuple[str, ...] = ()
) -> tuple[pytest.RunResult, dict[str, object]]:
    pytester.makeconftest(FAKE_PREFLIGHT)
    for i, (gid, body) in enumerate(bodies):
        source = RAISING_SUITE.replace("{gid}", gid).replace("{body}", BODIES[body])
        pytester.makepyfile(**{f"test_{i}_{body.replace('-', '_')}": source})
    result = pytester.runpytest_subprocess("--podnet", "--podnet-report=verdict.json", *args, ".")
    return result, verdicts.load(pytester.path / "verdict.json")


def outcome(document: dict[str, object]) -> str:
    checks = document["checks"]
    assert isinstance(checks, list)
    [check] = checks
    return str(check["outcome"])


@pytest.mark.parametrize("body", ["assertion", "observation-timeout"])
def test_an_observation_that_contradicts_the_guarantee_fails_it(
    pytester: pytest.Pytester, body: str
) -> None:
    result, document = run_suite(pytester, ("G1", "passes"), ("G2", "passes"), ("G3", body))

    assert result.ret == 1
    assert [c["outcome"] for c in document["checks"]] == ["PASS", "PASS", "FAIL"]  # type: ignore[union-attr,index]
    result.stdout.fnmatch_lines(["*G3 (Services are the stable address) broken: *"])
    assert " not verified:" not in result.stdout.str()


@pytest.mark.parametrize(
    ("body", "fix"),
    [
        ("admission", "*an admission policy of the cluster rejected the object*"),
        ("rbac", "*grant this identity the least-privilege role*"),
        ("quota", "*a ResourceQuota or LimitRange refused the object*"),
        ("image-pull", "*the image cannot be pulled*--podnet-image*"),
        ("startup-timeout", "*the cluster did not get the check's objects ready in time*"),
        ("api-down", "*the API server was unavailable*"),
        ("bug", "*an error in pytest-podnet or in the check, not an observation*"),
    ],
)
def test_what_stopped_the_observation_is_not_verified(
    pytester: pytest.Pytester, body: str, fix: str
) -> None:
    result, document = run_suite(pytester, ("G1", "passes"), ("G2", "passes"), ("G3", body))

    assert result.ret == 6
    assert document["run"]["exit_status"] == 6  # type: ignore[index]
    assert [g["verdict"] for g in document["guarantees"]] == ["PASS", "PASS", "NOT VERIFIED"]  # type: ignore[union-attr,index]
    output = result.stdout.str()
    assert "broken" not in output
    result.stdout.fnmatch_lines(["*G3 (Services are the stable address) not verified: *", fix])
    result.stdout.fnmatch_lines(["test_2_*.py N *", "*1 failed, 2 passed*"])
    result.stdout.fnmatch_lines(["podnet gate: exit 6: a required guarantee could not be *"])
    # One short block: no frames of the client library or of the plugin underneath.
    assert "site-packages" not in output
    assert "Traceback" not in output


def test_a_broken_guarantee_wins_over_a_not_verified_one(pytester: pytest.Pytester) -> None:
    result, document = run_suite(
        pytester, ("G1", "assertion"), ("G2", "passes"), ("G3", "admission")
    )

    assert result.ret == 1
    assert [g["verdict"] for g in document["guarantees"]] == ["FAIL", "PASS", "NOT VERIFIED"]  # type: ignore[union-attr,index]


def test_only_required_guarantees_decide_the_exit_code(pytester: pytest.Pytester) -> None:
    result, document = run_suite(
        pytester, ("G1", "admission"), ("G2", "passes"), args=("--podnet-require=G2",)
    )

    assert result.ret == 0
    verdicts = {g["guarantee"]: (g["required"], g["verdict"]) for g in document["guarantees"]}  # type: ignore[union-attr,index]
    assert verdicts == {
        "G1": (False, "NOT VERIFIED"),
        "G2": (True, "PASS"),
        "G3": (False, "NOT VERIFIED"),
    }
    result.stdout.fnmatch_lines(["podnet gate: exit 0: every required guarantee PASSED*"])


def test_a_required_cross_node_check_skipped_on_one_node_is_not_verified_unless_allowed(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_PREFLIGHT)
    pytester.makepyfile(
        test_g2="""
        import pytest

        pytestmark = pytest.mark.podnet_guarantee("G2")

        def test_same_node(podnet):
            pass

        @pytest.mark.podnet_cross_node
        def test_cross_node(podnet):
            pass
        """
    )
    args = ("--podnet", "--podnet-require=G2", "--podnet-report=verdict.json", ".")

    strict = pytester.runpytest_subprocess(*args)
    allowed = pytester.runpytest_subprocess(*args, "--podnet-allow-skip=cross-node")

    assert strict.ret == 6
    strict.stdout.fnmatch_lines(["G2 not verified: test_cross_node: skipped: needs 2 *"])
    assert allowed.ret == 0
    allowed.stdout.fnmatch_lines(
        ["podnet: required G2; allowed skips cross-node; *", "G2 * yes * 1 * 0 * 0 * 1  PASS"]
    )
    document = verdicts.load(pytester.path / "verdict.json")
    assert document["run"]["allow_skip"] == ["cross-node"]


def test_a_run_without_guarantee_checks_keeps_pytests_exit_code(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(FAKE_PREFLIGHT)
    pytester.makepyfile("def test_plain():\n    pass\n")

    result = pytester.runpytest_subprocess("--podnet", ".")

    assert result.ret == 0


def test_an_unwritable_report_never_hides_the_verdict(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        FAKE_PREFLIGHT
        + """

def pytest_sessionstart(session):
    import os
    os.makedirs("gone", exist_ok=True)


def pytest_collection_finish(session):
    import shutil
    shutil.rmtree("gone")
    open("gone", "w").write("a file now")
"""
    )
    pytester.makepyfile(test_g1=RAISING_SUITE.replace("{gid}", "G1").replace("{body}", "pass"))

    result = pytester.runpytest_subprocess(
        "--podnet", "--podnet-require=G1", "--podnet-report=gone/verdict.json", "."
    )

    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "G1 * yes * 1 * 0 * 0 * 0  PASS",
            "podnet gate: exit 0*",
            "podnet: could not write the JSON verdict to gone/verdict.json: *; the verdict above "
            "stands",
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert not list(pytester.path.glob(".verdict.json*"))
