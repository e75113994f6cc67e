"""The HTML report of a real run: `podnet report` builds it, headless Chromium renders it.

The quick profile runs on the cluster with Allure on; `podnet report` turns its Allure results and
JSON verdict into one HTML file; Chromium, in a network namespace of its own (it can load nothing
but the file), shows the three guarantees with their checks and the cluster's server version.
"""

from __future__ import annotations

from pathlib import Path

import reportrun
from browser import Browser

from pytest_podnet import report


def test_html_report_shows_every_guarantee_with_its_checks_and_the_server_version(
    podnet_args: list[str], tmp_path: Path
) -> None:
    run = reportrun.quick_run_and_report(tmp_path, podnet_args)
    assert run.returncode == 0, run.output[-4000:]
    checks = [c["nodeid"].rsplit("::", 1)[-1] for c in run.verdict["checks"]]
    version = run.verdict["run"]["server_version"]

    # Tall enough for the screenshot to hold the three guarantees with their checks.
    with Browser(tmp_path / "chromium", height=1450) as browser:
        browser.open(run.index.as_uri())
        reportrun.expand_tree(browser, leaves=len(checks))
        text = browser.text()
        shot = browser.screenshot(tmp_path / "report.png")

    for gid, title in report.GUARANTEES.items():
        assert f"{gid} {title}" in text, f"guarantee {gid} missing from the page:\n{text}"
    missing = [name for name in checks if name not in text]
    assert not missing, f"checks missing from the page: {missing}\n{text}"
    assert f"kubernetes.server_version\n{version}" in text, text
    assert len(checks) == 3, checks
    reportrun.keep_screenshot(shot, "report-quick.png")
