"""Where the installed conformance suites are: ``pytest_podnet.suites``.

In the repository they live in the top-level ``suites/``, linked into the package by the symlink
``src/pytest_podnet/suites``; a wheel holds them as files, an editable install follows the link.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Final

import pytest

SUITES_PACKAGE: Final = "pytest_podnet.suites"
#: The upgrade gate's middle phase (``upgradegate``): one check, run only by the gate.
UPGRADE_PACKAGE: Final = "pytest_podnet.upgrade"


def suites_dir() -> Path:
    """The directory of the packaged suites (found without importing any test module)."""
    return _package_dir(SUITES_PACKAGE)


def upgrade_dir() -> Path:
    """The directory of the upgrade gate's packaged check."""
    return _package_dir(UPGRADE_PACKAGE)


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise pytest.UsageError(
            f"{package} is not installed with pytest-podnet: reinstall the package "
            "(pip install --force-reinstall pytest-podnet)"
        )
    return Path(next(iter(spec.submodule_search_locations)))
