"""A faked preflight for pytester runs of the plugin's hooks: pure reporting logic, no cluster.

Written as the inner run's conftest: ``preflight.run`` and ``preflight.connect`` return a fake
cluster and fixed facts, and a ``podnet`` fixture stands in for the façade.
"""

from __future__ import annotations

FAKE_PREFLIGHT = """
import pytest

from pytest_podnet import preflight


class FakeCluster:
    context_name = "fake-context"
    server_url = "https://127.0.0.1:1"

    def namespaces(self, label_selector):
        return []


FACTS = {
    "context": "fake-context",
    "server_url": "https://127.0.0.1:1",
    "server_version": "v1.36.3",
    "nodes": [{"name": "node-a", "internal_ip": "172.30.0.11", "pod_cidrs": ["10.244.0.0/24"]}],
    "ip_families": ["IPv4"],
}


def pytest_configure(config):
    patch = pytest.MonkeyPatch()
    patch.setattr(preflight, "run", lambda settings, kubeconfig: (FakeCluster(), FACTS))
    patch.setattr(preflight, "connect", lambda settings, kubeconfig=None: FakeCluster())
    config.add_cleanup(patch.undo)


@pytest.fixture
def podnet(request):
    return request.config
"""
