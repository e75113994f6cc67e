"""The worked example of a user's repository: run and extend the packaged pytest-podnet suites.

A platform team's repository needs only ``pip install pytest-podnet`` and three files:

- ``pytest.ini``: ``testpaths`` naming the packaged suites ``pytest_podnet.suites`` next to the
  team's own checks, and settings (``podnet = true`` and the ``podnet_*`` ini twins of the
  ``--podnet-*`` options; this repository passes them as options instead, see pytest.ini);
- this ``conftest.py``: fixtures that override or add to the plugin's (a conftest fixture of the
  same name wins over a plugin's, for the packaged suites too, since this file sits in the rootdir);
- ``examples/test_*.py``: the team's own checks, written against the same ``podnet`` façade.

``./run.sh suites`` runs exactly this. See docs/using.md for selecting, extending and overriding.
"""

from __future__ import annotations

import os

import pytest

#: Which cluster the results belong to, set by the CI job (``PODNET_SITE=prod-eu ./run.sh suites``);
#: lands in every check's values in the JSON verdict, so results from several clusters stay apart.
SITE = os.environ.get("PODNET_SITE")


@pytest.fixture
def podnet(podnet):
    """The plugin's ``podnet`` façade (requested by the same name), tagged with ``PODNET_SITE``."""
    if SITE:
        podnet.record("site", SITE)
    return podnet
