"""Copy the fault x check table of the last sensitivity run into docs/faults.md.

    python bench/fault_table.py [REPORT]   (default: reports/sensitivity.md)

The sensitivity module (tests/sensitivity) writes the table at its end; this puts it, with the
date and the commit it ran on, between the markers of docs/faults.md, so the docs show a real
run and never a table typed by hand.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "faults.md"
BEGIN, END = "<!-- bench/fault_table.py begin -->", "<!-- bench/fault_table.py end -->"


def main() -> int:
    report = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "reports" / "sensitivity.md"
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    written = datetime.fromtimestamp(report.stat().st_mtime, UTC)
    table = (
        f"Run of {written:%Y-%m-%d %H:%M} UTC (report {report.name}, copied at commit {commit}):"
        f"\n\n{report.read_text().strip()}"
    )
    text = DOCS.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOCS.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    print(f"docs/faults.md: table of {report} written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
