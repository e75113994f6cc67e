"""Fixtures for the embedded cluster's own tests: a session-scoped real cluster, kubectl."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_podnet.localcluster import cluster, paths


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Lifecycle tests take the cluster down: run them after everything that uses it."""
    items.sort(key=lambda item: item.get_closest_marker("cluster_lifecycle") is not None)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster_lifecycle: takes the local cluster down and up; runs last"
    )


@pytest.fixture(scope="session")
def local_cluster() -> Iterator[Path]:
    """The embedded 2-node cluster (started if needed, stopped at the end only if started here)."""
    if os.geteuid() != 0:
        pytest.skip("the local cluster needs root")
    kubeconfig, started = cluster.ensure_up(2)
    yield kubeconfig
    if started and cluster.is_running():
        cluster.down()


class Kubectl:
    """kubectl against the local cluster as admin; JSON in, JSON out."""

    def __init__(self, kubeconfig: Path) -> None:
        self.kubeconfig = kubeconfig

    def __call__(self, *args: str, input: str | None = None) -> str:
        result = subprocess.run(
            [str(paths.bin_dir() / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))

    def apply(self, manifest: dict[str, Any]) -> None:
        self("apply", "-f", "-", input=json.dumps(manifest))


@pytest.fixture(scope="session")
def kubectl(local_cluster: Path) -> Kubectl:
    return Kubectl(local_cluster)
