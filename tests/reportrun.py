"""A run of the quick profile with Allure on, its HTML report, and what Chromium shows of it.

Shared by tests/integration/test_html_report.py (healthy cluster) and
tests/sensitivity/test_html_report_fault.py (a fault applied), so both read the report alike.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import verdicts
from browser import Browser

from pytest_podnet import htmlreport

ROOT = Path(__file__).resolve().parents[1]
#: Seconds the quick profile may take with Allure on (about 25 s here, 23 s without).
QUICK_RUN = 600
#: Seconds `podnet report` may take: npm install on first use (8 s warm), then 7 s to build.
REPORT_BUILD = 900
#: Where a run copies its screenshots when asked (PODNET_SCREENSHOTS=docs: the docs' pictures).
SCREENSHOTS = os.environ.get("PODNET_SCREENSHOTS")


@dataclass(frozen=True)
class Run:
    returncode: int
    output: str
    verdict: dict[str, Any]
    index: Path


def quick_run_and_report(workdir: Path, podnet_args: list[str]) -> Run:
    """The quick profile with --alluredir and --podnet-report, then `podnet report`."""
    results, verdict = workdir / "allure-results", workdir / "verdict.json"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            *podnet_args,
            "--podnet-quick",
            f"--alluredir={results}",
            f"--podnet-report={verdict}",
            "-p",
            "no:cacheprovider",
            "-q",
            str(ROOT / "suites"),
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=QUICK_RUN,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert verdict.exists(), f"the run wrote no verdict:\n{output[-4000:]}"
    podnet = Path(sys.executable).with_name("podnet")
    built = subprocess.run(
        [
            str(podnet),
            "report",
            f"--results={results}",
            f"--verdict={verdict}",
            f"--output={workdir / 'html'}",
        ],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=REPORT_BUILD,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    index = workdir / "html" / "index.html"
    assert htmlreport.external_loads(index.read_text(encoding="utf-8")) == []
    return Run(completed.returncode, output + built.stdout, verdicts.load(verdict), index)


def expand_tree(browser: Browser, leaves: int) -> None:
    """Open the report's tree (epic > feature > story) until ``leaves`` checks show; Allure
    opens only groups with a failure by default, and each subtree toggle cycles its depth."""
    count = "document.querySelectorAll('[data-testid=tree-leaf]').length"
    browser.wait_for("document.querySelectorAll('[data-testid=tree-section]').length", "the tree")
    for _ in range(6):  # the toggle cycles first level / all / none: a few clicks at most
        if browser.evaluate(count) >= leaves:
            return
        browser.evaluate(
            "document.querySelectorAll('[data-testid=tree-subtree-toggle]').forEach(t => t.click())"
        )
        browser.next_frames()
    browser.wait_for(f"{count} >= {leaves}", f"{leaves} checks in the tree")


def open_check(browser: Browser, name: str) -> str:
    """Open the check whose tree leaf shows ``name``; the text of its page."""
    browser.evaluate(
        "[...document.querySelectorAll('[data-testid=tree-leaf]')]"
        f".find(e => e.innerText.includes({name!r})).click()"
    )
    browser.wait_for("!!document.querySelector('[data-testid=test-result-info-title]')", name)
    return browser.text()


def open_attachments(browser: Browser, *names: str) -> None:
    """Expand the steps, then open every attachment whose header contains one of ``names``."""
    headers = "[...document.querySelectorAll('[data-testid=test-result-attachment-header]')]"
    every = " && ".join(f"{headers}.some(e => e.innerText.includes({n!r}))" for n in names)
    if not browser.evaluate(every):
        # An attachment made inside a step (the matrix pictures) shows once its step is open.
        browser.evaluate(
            "document.querySelectorAll('[data-testid=test-result-step-header]')"
            ".forEach(e => e.click())"
        )
    browser.wait_for(every, f"attachments {names}")
    wanted = " || ".join(f"e.innerText.includes({n!r})" for n in names)
    browser.evaluate(
        f"{headers}.filter(e => {wanted}).forEach(e => e.querySelector('button').click())"
    )


def loaded_images(browser: Browser) -> list[int]:
    """Natural widths of the attachment pictures that decoded (0: a broken picture)."""
    return list(
        browser.evaluate(
            "[...document.querySelectorAll('[data-testid=test-result-attachment] img')]"
            ".filter(i => i.complete).map(i => i.naturalWidth)"
        )
    )


def keep_screenshot(shot: Path, name: str) -> None:
    """Copy ``shot`` to $PODNET_SCREENSHOTS/name when asked (how docs/ gets its pictures)."""
    if SCREENSHOTS:
        target = Path(SCREENSHOTS) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
