"""What a check's exception means for its guarantee: FAIL, or NOT VERIFIED with cause and fix.

A FAIL is an observation that contradicts the guarantee: a check's own assertion, or a wait on
what the guarantee promises (EndpointSlices following readiness, the dataplane following the
slices, an old IP letting go) running out its deadline. Everything that stopped the check from
observing (the API refused a request, an admission policy or quota rejected an object, an image
could not be pulled, Pods did not start, the API server was unavailable) is NOT VERIFIED: the
cluster may well keep the guarantee, we could not tell. Blaming a CNI for a policy is as wrong as
passing a broken cluster, so anything not known to be an observation is NOT VERIFIED, never PASS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import pytest

from pytest_podnet import kube, waits
from pytest_podnet.report import FAIL, NOT_VERIFIED, Outcome

#: Deadlines whose running out IS the observation: the guarantee says this must happen in time.
OBSERVATION_DEADLINES: Final = frozenset(
    {
        "endpoints-propagation",
        "dataplane-propagation",
        "pod-reachable",
        "dns-propagation",
        "old-ip-release",
    }
)
#: Namespaces the suites create carry this label; policies can exempt them by it.
_EXEMPT_HINT: Final = (
    f"exempt namespaces labelled {kube.MANAGED_BY_LABEL}={kube.MANAGED_BY} from the policy, "
    "or give them the labels it demands with --podnet-namespace-labels"
)


class NotVerified(Exception):
    """Raised by a check or the façade when it cannot observe; ``cause`` and ``fix`` say why."""

    def __init__(self, cause: str, fix: str) -> None:
        super().__init__(f"{cause}; fix: {fix}")
        self.cause = cause
        self.fix = fix


@dataclass(frozen=True)
class Classified:
    """The outcome an exception stands for, and for NOT VERIFIED the text to show instead."""

    outcome: Outcome
    text: str


def classify(error: BaseException) -> Classified:
    """FAIL for an observation, NOT VERIFIED (with ``cause; fix: ...``) for anything else."""
    if isinstance(error, NotVerified):
        return Classified(NOT_VERIFIED, str(error))
    if isinstance(error, waits.WaitTimeout):
        if error.name in OBSERVATION_DEADLINES:
            return Classified(FAIL, str(error))
        return Classified(
            NOT_VERIFIED,
            f"{error}\nfix: the cluster did not get the check's objects ready in time, so the "
            "check could not observe; the diagnostics below show why (events, Pod status); on a "
            "slow cluster raise --podnet-timeout-scale",
        )
    if isinstance(error, waits.Unrecoverable):
        return Classified(NOT_VERIFIED, f"{error}\nfix: {_unrecoverable_fix(error.problem)}")
    if isinstance(error, kube.KubeError):
        return Classified(NOT_VERIFIED, f"{error}; fix: {api_fix(error)}")
    if isinstance(error, pytest.UsageError):
        return Classified(NOT_VERIFIED, str(error))
    if isinstance(error, AssertionError | pytest.fail.Exception):
        return Classified(FAIL, str(error))
    return Classified(
        NOT_VERIFIED,
        f"{type(error).__name__}: {error}; fix: this is an error in pytest-podnet or in the "
        "check, not an observation of the cluster: rerun with --tb=long and report it",
    )


def api_fix(error: kube.KubeError) -> str:
    """The fix for an API error, from what the server said."""
    text = str(error)
    if re.search(r"exceeded quota|forbidden: (maximum|minimum)|LimitRange", text):
        return f"a ResourceQuota or LimitRange refused the object: {_EXEMPT_HINT}, or raise it"
    if re.search(r"admission webhook|ValidatingAdmissionPolicy|denied (the )?request", text):
        return f"an admission policy of the cluster rejected the object: {_EXEMPT_HINT}"
    if "violates PodSecurity" in text:
        return (
            "Pod Security admission rejected the Pod: the checks' Pods pass the restricted "
            "profile; a policy that overrides the namespace's pod-security labels must exempt "
            "the podnet namespaces"
        )
    if error.status == 401:
        return "the API server rejected the credentials: refresh them in the kubeconfig"
    if error.status == 403:
        return (
            "grant this identity the least-privilege role (`podnet rbac --user NAME | kubectl "
            "apply -f -`, or manifests/rbac.yaml)"
        )
    if isinstance(error, kube.Unreachable) or (error.status or 0) >= 500:
        return "the API server was unavailable; check its health (`kubectl get --raw /readyz`)"
    return "see the API server's message above; the diagnostics below show the namespace"


def _unrecoverable_fix(problem: str) -> str:
    if re.search(r"ImagePull|ErrImage|InvalidImageName", problem):
        return (
            "the image cannot be pulled: mirror the images of `pytest --podnet "
            "--podnet-list-images` and pass --podnet-image"
        )
    if "CrashLoopBackOff" in problem:
        return "the container keeps crashing: see its log tail in the diagnostics below"
    if "Unschedulable" in problem:
        return (
            "no node fits the Pod: check taints, resources and --podnet-node-selector "
            "(`kubectl describe node`)"
        )
    return "the Pod cannot become Ready: see its status and events in the diagnostics below"


def short_excinfo(message: str) -> pytest.ExceptionInfo[BaseException]:
    """An exception info that pytest shows as ``message`` alone, without a traceback.

    A NOT VERIFIED check is reported as what was attempted, the status, the cause and the fix;
    the frames of the client library underneath say nothing a platform engineer can act on.
    """
    try:
        raise pytest.fail.Exception(message, pytrace=False) from None
    except pytest.fail.Exception:
        return pytest.ExceptionInfo.from_current()
