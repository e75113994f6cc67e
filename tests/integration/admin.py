"""kubectl as the embedded cluster's admin, for tests that set the stage outside the plugin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from pytest_podnet.localcluster import paths

ADMIN_KUBECONFIG = paths.admin_kubeconfig()
KUBECTL = paths.bin_dir() / "kubectl"
#: Seconds any kubectl call of a test's set-up may take on a busy two-core machine.
KUBECTL_CALL = 60

#: Skips a module that needs the embedded cluster's admin when there is none.
needs_local_cluster = pytest.mark.skipif(
    not (ADMIN_KUBECONFIG.is_file() and KUBECTL.is_file()),
    reason=f"needs the embedded cluster ({ADMIN_KUBECONFIG}): run `podnet cluster up`",
)


def kubectl(*args: str, stdin: str | None = None, check: bool = True) -> str:
    """Run kubectl as admin; its output (stdout, then stderr when ``check`` is off)."""
    result = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={ADMIN_KUBECONFIG}", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=KUBECTL_CALL,
        check=False,
    )
    if check:
        assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
        return result.stdout
    return result.stdout + result.stderr


def write_token_kubeconfig(path: Path, token: str, user: str = "checker") -> Path:
    """A kubeconfig at ``path`` for the embedded cluster that authenticates with ``token``
    (e.g. a ServiceAccount's, from ``kubectl create token``) as ``user``; returns ``path``."""
    cluster = yaml.safe_load(ADMIN_KUBECONFIG.read_text())["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [{"name": user, "context": {"cluster": "local", "user": user}}],
        "current-context": user,
    }
    path.write_text(yaml.safe_dump(config))
    return path
