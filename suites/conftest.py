"""Fixtures the conformance suites share (framework code lives in the plugin: ``pytest_podnet``)."""

from __future__ import annotations

import pytest

from pytest_podnet.facade import Podnet
from pytest_podnet.workloads import Placement


@pytest.fixture
def placement(podnet: Podnet) -> Placement:
    """Where a check's echo replicas go: one per node (``spread``) on a cluster with two
    schedulable nodes or more, all on the one node (``same-node``) otherwise, so the G1 and G3
    checks also run on a one-node cluster."""
    return "spread" if len(podnet.nodes()) > 1 else "same-node"
