"""The worked example of a user's repository: run and extend the packaged pytest-podnet suites.

A platform team's repository needs only ``pip install pytest-podnet`` and three files:

- ``pytest.ini``: settings (``podnet_*`` ini twins of the ``--podnet-*`` options) and ``testpaths``
  naming the packaged suites ``pytest_podnet.suites`` next to the team's own checks;
- this ``conftest.py``: fixtures that override or add to the plugin's (a conftest fixture of the
  same name wins over a plugin's, for the packaged suites too, since this file sits in the rootdir);
- ``examples/test_*.py``: the team's own checks, written against the same ``podnet`` façade.

``./run.sh suites`` runs exactly this. See docs/using.md for selecting, extending and overriding.
"""

from __future__ import annotations

import os

import pytest

#: Which cluster the results belong to, e.g. set by the CI job; lands in every check's values in
#: the JSON verdict (reports/podnet.json), so results from several clusters stay apart.
SITE = os.environ.get("PODNET_SITE", "local")


@pytest.fixture
def podnet(podnet):
    """The plugin's ``podnet`` façade (requested by the same name), tagged with this site."""
    podnet.record("site", SITE)
    return podnet
