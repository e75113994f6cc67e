"""Integration tests of the runtime layer on the embedded cluster (real Pods, real IPs).

Run them with the cluster up::

    pytest tests/integration --podnet \
        --podnet-kubeconfig=/var/lib/pytest-podnet/cluster/admin.kubeconfig

Without ``--podnet`` the tests that use the façade are skipped (the plugin is inert).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_podnet import cleanup, fixtures, kube

# The façade and the session cluster, for these tests whether or not the plugin registers them.
from pytest_podnet.fixtures import podnet, podnet_cluster  # noqa: F401
from pytest_podnet.probepool import ProbePool
from pytest_podnet.stash import SETTINGS_KEY


@pytest.fixture(scope="module")
def podnet_probe_pool(
    pytestconfig: pytest.Config,
    podnet_cluster: kube.Cluster,  # noqa: F811 (the fixture above)
) -> Iterator[ProbePool]:
    """The plugin's shared probe Pods, per test module here rather than per session: the tests
    after these in the same session (tests/localcluster, tests/sensitivity) drain nodes, and
    `kubectl drain` refuses Pods without a controller."""
    with fixtures.probe_pool(pytestconfig, podnet_cluster) as pool:
        yield pool


@pytest.fixture
def swept(podnet_cluster: kube.Cluster) -> Iterator[list[str]]:  # noqa: F811 (the fixture above)
    """Run ids whose leftovers are swept after the test, whatever it asserted."""
    run_ids: list[str] = []
    yield run_ids
    for run_id in run_ids:
        cleanup.sweep(podnet_cluster, run_id)


@pytest.fixture
def podnet_args(pytestconfig: pytest.Config) -> list[str]:
    """Command-line options that point an inner pytest run at this session's cluster."""
    settings = pytestconfig.stash[SETTINGS_KEY]
    args = ["--podnet", "-p", "no:cacheprovider"]
    if settings.kubeconfig:
        args.append(f"--podnet-kubeconfig={settings.kubeconfig}")
    if settings.context:
        args.append(f"--podnet-context={settings.context}")
    return args
