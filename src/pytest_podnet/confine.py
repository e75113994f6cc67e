"""Least privilege RBAC cannot give: confine an identity's writes to pytest-podnet's namespaces.

RBAC grants verbs cluster-wide (the suites make a namespace per test, so the role cannot name
them), which lets the CI identity delete any Pod and exec into kube-system. This builds a
ValidatingAdmissionPolicy (admissionregistration.k8s.io/v1) and its binding that refuse, for the
given subjects only (matched on ``request.userInfo``):

- any CREATE, UPDATE (PATCH is an UPDATE to admission), DELETE or CONNECT of a namespaced object,
  subresources included (``pods/eviction`` CREATE, ``pods/exec`` CONNECT, ``deployments/scale``
  UPDATE), unless its namespace carries ``app.kubernetes.io/managed-by=pytest-podnet``;
- creating a namespace without that label, deleting one without it, and an update that adds or
  removes it.

Requests of every other identity are not evaluated at all (the policy's matchConditions). The
label test is CEL on ``namespaceObject`` / ``object`` / ``oldObject`` rather than a
namespaceSelector in the binding: a selector only sees one side of an update, so it would let an
update that adds the label through. CEL strings are double-quoted so the YAML stays readable.
``manifests/confine.yaml`` is ``podnet rbac --confine`` for the CI ServiceAccount of
``manifests/rbac.yaml`` (tests/unit/test_rbac_manifest.py keeps them equal).
"""

from __future__ import annotations

from typing import Final

from pytest_podnet.kube.values import MANAGED_BY as MANAGED_BY_VALUE
from pytest_podnet.kube.values import MANAGED_BY_LABEL

_ADMISSION: Final = "admissionregistration.k8s.io/v1"


def _label_of(expression: str) -> str:
    """CEL: the managed-by label of ``expression`` (an object or null), '' when it has none."""
    labels = f"{expression}.metadata.?labels"
    return f'{expression} == null ? "" : {labels}[?"{MANAGED_BY_LABEL}"].orValue("")'


def subject_condition(subjects: list[dict[str, str]]) -> str:
    """CEL true for a request made by one of ``subjects`` (RBAC subject dicts)."""
    terms: list[str] = []
    for subject in subjects:
        if subject["kind"] == "ServiceAccount":
            username = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
            terms.append(f'request.userInfo.username == "{username}"')
        elif subject["kind"] == "User":
            terms.append(f'request.userInfo.username == "{subject["name"]}"')
        else:
            terms.append(f'"{subject["name"]}" in request.userInfo.groups')
    return " || ".join(terms)


def confine_manifest(name: str, subjects: list[dict[str, str]]) -> list[dict[str, object]]:
    """The ValidatingAdmissionPolicy ``<name>-confine`` and its binding, for ``subjects``."""
    if not subjects:
        raise ValueError("a confinement needs the subjects it confines")
    policy_name = f"{name}-confine"
    labels = {"app.kubernetes.io/name": "pytest-podnet"}
    managed = f'"{MANAGED_BY_VALUE}"'
    # Absent request fields (no subresource, no name yet) are read as optionals: a field that is
    # not there is an evaluation error in CEL, and the denial would lose its message.
    refusal = (
        f'"{policy_name}: " + request.userInfo.username + " may " + request.operation + '
        f'" only in namespaces labelled {MANAGED_BY_LABEL}={MANAGED_BY_VALUE}; refused: " + '
        "request.resource.resource + "
        '(request.?subResource.orValue("") == "" ? "" : "/" + request.subResource) + " " + '
        '(variables.isNamespace || request.?namespace.orValue("") == "" ? "" : '
        'request.namespace + "/") + request.?name.orValue("")'
    )
    policy: dict[str, object] = {
        "apiVersion": _ADMISSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        # Every namespaced object and subresource: exec/attach/portforward are
                        # CONNECT, eviction is a CREATE of pods/eviction, PATCH is an UPDATE.
                        "apiGroups": ["*"],
                        "apiVersions": ["*"],
                        "resources": ["*/*"],
                        "operations": ["CREATE", "UPDATE", "DELETE", "CONNECT"],
                        "scope": "Namespaced",
                    },
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "resources": ["namespaces"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                    },
                ]
            },
            "matchConditions": [
                {"name": "confined-identity", "expression": subject_condition(subjects)}
            ],
            "variables": [
                {
                    "name": "isNamespace",
                    "expression": 'request.resource.group == "" && '
                    'request.resource.resource == "namespaces"',
                },
                {"name": "namespaceLabel", "expression": _label_of("namespaceObject")},
                {"name": "oldLabel", "expression": _label_of("oldObject")},
                {"name": "newLabel", "expression": _label_of("object")},
                {"name": "refusal", "expression": refusal},
            ],
            "validations": [
                {
                    "expression": f"variables.isNamespace || variables.namespaceLabel == {managed}",
                    "messageExpression": "variables.refusal",
                    "reason": "Forbidden",
                },
                {
                    # A namespace: created with the label, deleted or updated only if it had it,
                    # and an update cannot take it off (nor put it on).
                    "expression": "!variables.isNamespace || "
                    f'((request.operation == "CREATE" || variables.oldLabel == {managed}) && '
                    f'(request.operation == "DELETE" || variables.newLabel == {managed}))',
                    "messageExpression": "variables.refusal",
                    "reason": "Forbidden",
                },
            ],
        },
    }
    binding: dict[str, object] = {
        "apiVersion": _ADMISSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy_name, "labels": labels},
        "spec": {"policyName": policy_name, "validationActions": ["Deny"]},
    }
    return [policy, binding]
