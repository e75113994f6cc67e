"""The HTML report of a run with a fault: the failed check shows its matrix picture and diagnostics.

`snat-pod-traffic` on one node makes the quick G2 check (``CHECK``) fail within seconds with a
NATed pair; the fault is removed before the report is read. Here, not in tests/integration,
because it changes the cluster (run under `flock -x`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import reportrun
from browser import Browser

from pytest_podnet.localcluster import cluster, faults

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="faults need root on the local cluster")

FAULT = "snat-pod-traffic"
CHECK = "test_pod_to_pod_traffic_keeps_the_sender_pod_ip[cross-node]"


@pytest.fixture
def snat_run(tmp_path: Path) -> Iterator[reportrun.Run]:
    kubeconfig, _ = cluster.ensure_up(2)
    faults.add(FAULT)
    try:
        yield reportrun.quick_run_and_report(
            tmp_path, ["--podnet", f"--podnet-kubeconfig={kubeconfig}"]
        )
    finally:
        faults.remove(FAULT)


def test_html_report_of_a_faulted_run_shows_the_failed_matrix_and_diagnostics(
    snat_run: reportrun.Run, tmp_path: Path
) -> None:
    outcomes = {c["nodeid"].rsplit("::", 1)[-1]: c["outcome"] for c in snat_run.verdict["checks"]}
    assert outcomes[CHECK] == "FAIL", snat_run.output[-4000:]
    failed = next(c for c in snat_run.verdict["checks"] if c["nodeid"].endswith(CHECK))
    assert any("N" in row for m in failed["matrices"] for row in m["marks"]), failed["matrices"]

    with Browser(tmp_path / "chromium") as browser:
        browser.open(snat_run.index.as_uri())
        reportrun.expand_tree(browser, leaves=1)
        page = reportrun.open_check(browser, CHECK)
        reportrun.open_attachments(browser, "image/png", "podnet events")
        browser.wait_for(
            "[...document.querySelectorAll('[data-testid=test-result-attachment] img')]"
            ".filter(i => i.complete && i.naturalWidth > 0).length >= 2",
            "the matrix pictures to decode",
        )
        images = reportrun.loaded_images(browser)
        attachments = browser.evaluate(
            "[...document.querySelectorAll('[data-testid=test-result-attachment]')]"
            ".map(e => e.innerText)"
        )
        browser.evaluate(
            "[...document.querySelectorAll('[data-testid=test-result-attachment]')]"
            ".find(e => e.querySelector('img')).scrollIntoView()"
        )
        shot = browser.screenshot(tmp_path / "failed-check.png")

    assert "Failed" in page, page
    assert "G2 flat network, no NAT" in page, page
    assert "rewrote the source IP" in page, page
    pictures = [a for a in attachments if "\nmatrix " in a and "image/png" in a]
    assert len(pictures) == len(failed["matrices"]), attachments
    assert len(images) >= len(failed["matrices"]), images
    assert all(width > 0 for width in images), images
    events = [a for a in attachments if "podnet events" in a]
    assert events, attachments
    # The check's own Pods: its receivers; its senders are the session's probe Pods, whose
    # namespace the diagnostics show too.
    assert "pod/receiver-" in events[0], events
    assert any("podnet pods" in a and "-probes" in a for a in attachments), attachments
    reportrun.keep_screenshot(shot, "report-failed-check.png")
