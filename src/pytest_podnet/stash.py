"""Stash keys shared by the hooks and the fixtures (never module-level state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_podnet.settings import Settings

SETTINGS_KEY: pytest.StashKey[Settings] = pytest.StashKey()
#: The connected ``kube.Cluster`` (typed loosely so this module imports nothing heavy).
CLUSTER_KEY: pytest.StashKey[Any] = pytest.StashKey()
#: Namespaces a test created; diagnostics are read from them when its call phase fails.
NAMESPACES_KEY: pytest.StashKey[list[str]] = pytest.StashKey()
#: The setup/call/teardown reports of an item, for keep-on-failure decisions in teardown.
PHASE_REPORTS_KEY: pytest.StashKey[dict[str, pytest.TestReport]] = pytest.StashKey()
#: ``owner.Owner`` annotation of this run's namespaces: the controller's process.
OWNER_KEY: pytest.StashKey[str] = pytest.StashKey()
#: Whether a process of this run handed out the run's shared probe Pods (``probepool``): the
#: process that runs the session deletes them at its end only then.
PROBE_POOL_USED_KEY: pytest.StashKey[bool] = pytest.StashKey()
