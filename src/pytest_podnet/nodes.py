"""Which nodes a run tests, and why the others are left out.

The checks pin Pods to nodes by name, so a node they pick must take a Pod now: Ready, not
cordoned, without a NoSchedule/NoExecute taint, and matched by ``--podnet-node-selector``
(default ``kubernetes.io/os=linux``: agnhost is a Linux image). The preflight and the façade use
the same rule, so the header's node count is the one every check works with.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_podnet.kube import NodeInfo


@dataclass(frozen=True)
class LeftOut:
    """A node the run does not test, and why."""

    name: str
    why: str

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "why": self.why}


def testable(nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
    """The nodes of ``nodes`` (already matched by the selector) that take a check's Pods."""
    return [n for n in nodes if n.ready and n.schedulable]


def left_out(
    every: Sequence[NodeInfo], selected: Sequence[NodeInfo], selector: str
) -> list[LeftOut]:
    """Every node of the cluster the run does not test, with the reason."""
    chosen = {n.name for n in selected}
    reasons = []
    for node in every:
        if node.name not in chosen:
            reasons.append(LeftOut(node.name, f"not matched by node selector {selector}"))
        elif not node.ready:
            reasons.append(LeftOut(node.name, "not Ready"))
        elif node.cordoned:
            reasons.append(LeftOut(node.name, "cordoned (spec.unschedulable)"))
        elif node.taints:
            reasons.append(LeftOut(node.name, f"tainted {', '.join(node.taints)}"))
    return reasons
