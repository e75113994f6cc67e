"""manifests/rbac.yaml stays exactly the role the preflight checks (pure logic, no cluster)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "rbac.yaml"


def test_rbac_manifest_matches_what_preflight_checks() -> None:
    generated = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pytest_podnet.cli import main; raise SystemExit(main())",
            "rbac",
            "--serviceaccount",
            "pytest-podnet:pytest-podnet",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    shipped = [d for d in yaml.safe_load_all(MANIFEST.read_text()) if d]
    expected = [d for d in yaml.safe_load_all(generated) if d]
    roles = [d for d in shipped if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert roles == expected, "regenerate manifests/rbac.yaml with `podnet rbac` (see its header)"
